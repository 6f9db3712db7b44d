"""Benchmark: the webhook receiver under gunicorn on loopback, against a bare Flask endpoint.

1. Throughput: signed Stripe events from a separate load process for --seconds, against the
   connector (verify + store) and against a bare Flask endpoint under the same server
   settings; verified-and-stored events/s, p50/p99 latency, and the ratio.
2. Latency at a fixed 200 events/s: p50/p99.
3. Durability: kill -9 the server in the middle of a load, restart it, and check that every
   event that got a 2xx is in the store.

    python bench/webhooks.py [--seconds 30] [--workers 2] [--threads 4] [--database URL]

Aims: >= 1,000 events/s on a 2-core machine, >= 50% of the bare endpoint, p99 < 50 ms at
200 events/s, zero acknowledged events lost.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import itertools
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet

SECRET = "whsec_bench_secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed(event_id: str) -> tuple[bytes, str]:
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"pi_{event_id}",
                    "object": "payment_intent",
                    "amount": 12500,
                    "amount_received": 12500,
                    "currency": "eur",
                    "status": "succeeded",
                    "description": "Factuur 2026-0001",
                    "metadata": {},
                }
            },
        }
    ).encode()
    t = int(time.time())
    sig = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={t},v1={sig}"


def _client(
    port: int,
    path: str,
    prefix: str,
    out: list[tuple[str, int, float]],
    stop_at: float,
    rate: float | None,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    interval = 1 / rate if rate else 0.0
    next_at = time.perf_counter()
    for n in itertools.count():
        if time.perf_counter() >= stop_at:
            break
        event_id = f"{prefix}-{n}"
        if interval:
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        body, sig = signed(event_id)
        started = time.perf_counter()
        try:
            conn.request(
                "POST",
                path,
                body=body,
                headers={"Stripe-Signature": sig, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        out.append((event_id, status, time.perf_counter() - started))
    conn.close()


def load(
    port: int,
    path: str,
    seconds: float,
    connections: int,
    prefix: str,
    rate: float | None,
    results: mp.Queue,
) -> None:  # type: ignore[type-arg]
    """Runs in its own process: `connections` keep-alive clients, each its own thread."""
    stop_at = time.perf_counter() + seconds
    per_client = rate / connections if rate else None
    outs: list[list[tuple[str, int, float]]] = [[] for _ in range(connections)]
    threads = [
        threading.Thread(
            target=_client, args=(port, path, f"{prefix}-{c}", outs[c], stop_at, per_client)
        )
        for c in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put([row for out in outs for row in out])


def run_load(port, path, seconds, connections, prefix, rate=None, kill=None):
    spawn = mp.get_context("spawn")
    queue = spawn.Queue()
    proc = spawn.Process(target=load, args=(port, path, seconds, connections, prefix, rate, queue))
    proc.start()
    if kill is not None:
        time.sleep(seconds / 2)
        kill()
    rows = queue.get(timeout=seconds + 120)
    proc.join()
    return rows


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def wait_for(port: int, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def start(cmd: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(timeout=30)


def report(label: str, rows, seconds: float) -> float:
    ok = [r for r in rows if 200 <= r[1] < 300]
    rate = len(ok) / seconds
    lat = [r[2] for r in ok]
    errors = len(rows) - len(ok)
    print(
        f"{label:28} {rate:9,.0f} events/s  p50 {percentile(lat, 0.5):6.1f} ms  "
        f"p99 {percentile(lat, 0.99):6.1f} ms  ({len(ok):,} ok, {errors:,} not 2xx)"
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "connector")

    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        env = dict(os.environ)
        env.update(
            {
                "CONNECTOR_DATABASE_URL": args.database or f"sqlite:///{tmp}/connector.db",
                "CONNECTOR_SECRET_KEY": Fernet.generate_key().decode(),
                "BENCH_STRIPE_SECRET": SECRET,
            }
        )
        folder = Path(tmp) / "exports" / "acme"
        folder.mkdir(parents=True)
        (folder / "items.csv").write_text(
            "invoice_number,debtor_code,due_date,open_amount\n2026-0001,D1,2026-03-01,125.00\n"
        )
        for cmd in (
            ["init"],
            ["connect", "files", "--name", "acme", "--path", str(folder)],
            ["sync"],
        ):
            subprocess.run([exe, *cmd], env=env, cwd=tmp, check=True, capture_output=True)
        out = subprocess.run(
            [exe, "webhooks", "create-endpoint", "acme", "--administration", "acme"],
            env=env,
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        token = out.split("/webhooks/")[1].split("/")[0]
        subprocess.run(
            [exe, "webhooks", "set-secret", "acme", "stripe", "--from-env", "BENCH_STRIPE_SECRET"],
            env=env,
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        path = f"/webhooks/{token}/stripe"
        server_args = ["--workers", str(args.workers), "--threads", str(args.threads)]
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads; load: "
            f"{args.connections} keep-alive connections from a separate process; "
            f"store: {env['CONNECTOR_DATABASE_URL'].split('://')[0]}"
        )

        port = free_port()
        bare = start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--worker-class",
                "gthread" if args.threads > 1 else "sync",
                "bench.bare_app:create()",
            ],
            {**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            tmp,
        )
        wait_for(port)
        bare_rate = report(
            "bare Flask endpoint",
            run_load(port, path, args.seconds, args.connections, "bare"),
            args.seconds,
        )
        stop(bare)

        port = free_port()
        server = start([exe, "serve", "--bind", f"127.0.0.1:{port}", *server_args], env, tmp)
        wait_for(port)
        rows = run_load(port, path, args.seconds, args.connections, "full")
        rate = report("connector (verify + store)", rows, args.seconds)
        paced = run_load(port, path, 10, 4, "paced", rate=200)
        p99 = percentile([r[2] for r in paced if r[1] == 200], 0.99)
        report("connector at 200 events/s", paced, 10)

        # Durability: kill -9 in the middle of a load, restart, count.
        killed = run_load(
            port, path, 10, args.connections, "kill", kill=lambda: stop(server, signal.SIGKILL)
        )
        acked = {r[0] for r in killed if 200 <= r[1] < 300}
        server = start([exe, "serve", "--bind", f"127.0.0.1:{port}", *server_args], env, tmp)
        wait_for(port)
        stop(server)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from sqlalchemy import select

        from connector.payments.tables import webhook_events
        from connector.store import Store

        store = Store(env["CONNECTOR_DATABASE_URL"])
        with store.begin() as conn:
            kept = set(
                conn.execute(
                    select(webhook_events.c.event_id).where(
                        webhook_events.c.event_id.like("pi_kill-%")
                    )
                ).scalars()
            )
        store.dispose()
        # Stripe event ids here are state-based on the PaymentIntent: "pi_<id>:paid".
        stored_ids = {k.split(":")[0].removeprefix("pi_") for k in kept}
        lost = acked - stored_ids
        print(
            f"kill -9 mid-load: {len(acked):,} acknowledged, {len(lost)} of them lost "
            f"after restart ({len(stored_ids):,} stored)"
        )

    ratio = rate / bare_rate if bare_rate else 0.0
    print(f"ratio connector / bare: {ratio:.0%}")
    for aim, met in (
        ("verified-and-stored >= 1,000 events/s", rate >= 1000),
        (">= 50% of the bare endpoint", ratio >= 0.5),
        ("p99 < 50 ms at 200 events/s", p99 < 50),
        ("zero acknowledged events lost", not lost),
    ):
        print(f"  {'met ' if met else 'MISSED'}  {aim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
