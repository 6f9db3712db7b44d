"""Benchmark: the webhook receiver under gunicorn on loopback, against a bare Flask endpoint.

1. Throughput, interleaved: the connector (verify + store) and a bare Flask endpoint under
   the same gunicorn settings run side by side; one load process drives them in
   alternating short windows (bare, connector, bare, connector, ...), so a noisy neighbour
   on a shared machine hits both alike. Per pair of windows the ratio connector / bare;
   the median of those ratios is the verdict.
2. Latency at a fixed 200 events/s, open loop: request i is due at start + i/200, and its
   latency is counted from when it was due, not from when it was sent, so a stall that
   delays the requests behind it is counted in every one of them (no coordinated omission).
3. Durability: kill -9 the server in the middle of a load, restart it, and check that every
   event that got a 2xx is in the store.
4. --sync-cost: what SQLite synchronous=FULL (every commit synced, 15.7) costs against
   NORMAL, committing events one per transaction and in groups as the edge's writer does.

    python bench/webhooks.py [--windows 6] [--window 4] [--workers 2] [--threads 4]
                             [--database URL] [--sync-cost]

--database takes a store URL; for PostgreSQL give the server's URL (e.g. postgresql+psycopg://
postgres@127.0.0.1:5432/postgres): a fresh database is made beside it and dropped after.

Aims: >= 60% of the bare endpoint (median of the window ratios), p99 < 50 ms at 200
events/s, zero acknowledged events lost.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
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


# --- the load generator: one process for the whole run, driven by commands -------------


def _post(conn: http.client.HTTPConnection, path: str, event_id: str) -> int:
    body, sig = signed(event_id)
    conn.request(
        "POST",
        path,
        body=body,
        headers={"Stripe-Signature": sig, "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    return response.status


def _closed(port: int, path: str, prefix: str, stop_at: float, out: list[Any]) -> None:
    """As fast as the server answers, one request at a time on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while time.perf_counter() < stop_at:
        event_id = f"{prefix}-{n}"
        n += 1
        started = time.perf_counter()
        try:
            status = _post(conn, path, event_id)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        out.append((event_id, status, time.perf_counter() - started))
    conn.close()


def _paced(
    port: int, path: str, prefix: str, start: float, rate: float, due: range, out: list[Any]
) -> None:
    """Requests due at start + i/rate for i in `due`; latency from when each was due."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in due:
        due_at = start + i / rate
        delay = due_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        event_id = f"{prefix}-{i}"
        try:
            status = _post(conn, path, event_id)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        out.append((event_id, status, time.perf_counter() - due_at))
    conn.close()


def _generator(commands: Any, results: Any) -> None:
    while True:
        command = commands.get()
        if command[0] == "stop":
            return
        kind, port, path, prefix, seconds, connections, rate = command
        outs: list[list[Any]] = [[] for _ in range(connections)]
        if kind == "closed":
            stop_at = time.perf_counter() + seconds
            targets = [
                (_closed, (port, path, f"{prefix}-{c}", stop_at, outs[c]))
                for c in range(connections)
            ]
        else:
            total = int(seconds * rate)
            start = time.perf_counter() + 0.05
            targets = [
                (_paced, (port, path, prefix, start, rate, range(c, total, connections), outs[c]))
                for c in range(connections)
            ]
        cpu = time.process_time()
        threads = [threading.Thread(target=f, args=a) for f, a in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.put(([row for out in outs for row in out], time.process_time() - cpu))


class Load:
    """One load process (spawned, so it shares nothing with us) for every window."""

    def __init__(self) -> None:
        spawn = mp.get_context("spawn")
        self._commands = spawn.Queue()
        self._results = spawn.Queue()
        self._proc = spawn.Process(target=_generator, args=(self._commands, self._results))
        self._proc.start()
        self.client_cpu = 0.0

    def run(
        self,
        kind: str,
        port: int,
        path: str,
        prefix: str,
        seconds: float,
        connections: int,
        rate: float = 0.0,
        during: Any = None,
    ) -> list[Any]:
        self._commands.put((kind, port, path, prefix, seconds, connections, rate))
        if during is not None:
            time.sleep(seconds / 2)
            during()
        rows, cpu = self._results.get(timeout=seconds + 120)
        self.client_cpu += cpu
        return list(rows)

    def close(self) -> None:
        self._commands.put(("stop",))
        self._proc.join(30)


# --- servers ---------------------------------------------------------------------------


def wait_for(port: int, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 404):
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def start(cmd: list[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and CLI
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


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a server process and its children (the
    gunicorn master and workers): a cost per event that the neighbours' load does not move."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:  # noqa: PTH123
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the name: state, ppid, ..., utime (field 14), stime (15)
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def ok_rate(rows: list[Any], seconds: float) -> float:
    return sum(1 for r in rows if 200 <= r[1] < 300) / seconds


def report(label: str, rows: list[Any], seconds: float) -> float:
    ok = [r for r in rows if 200 <= r[1] < 300]
    lat = [r[2] for r in ok]
    print(
        f"  {label:34} {len(ok) / seconds:7,.0f} events/s  p50 {percentile(lat, 0.5):6.1f} ms  "
        f"p99 {percentile(lat, 0.99):6.1f} ms  ({len(ok):,} ok, {len(rows) - len(ok):,} not 2xx)"
    )
    return len(ok) / seconds


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# --- the store -------------------------------------------------------------------------


def fresh_database(url: str | None, tmp: str) -> tuple[str, Any]:
    """The store URL to use and a function that removes it afterwards."""
    if not url:
        return f"sqlite:///{tmp}/connector.db", lambda: None
    from sqlalchemy import create_engine
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, lambda: None
    name = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return parsed.set(database=name).render_as_string(hide_password=False), drop


def setup_store(exe: str, env: dict[str, str], tmp: str) -> str:
    folder = Path(tmp) / "exports" / "acme"
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\n2026-0001,D1,2026-03-01,125.00\n"
    )
    for cmd in (["init"], ["connect", "files", "--name", "acme", "--path", str(folder)], ["sync"]):
        subprocess.run([exe, *cmd], env=env, cwd=tmp, check=True, capture_output=True)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [exe, "webhooks", "create-endpoint", "acme", "--administration", "acme"],
        env=env,
        cwd=tmp,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    subprocess.run(  # noqa: S603
        [exe, "webhooks", "set-secret", "acme", "stripe", "--from-env", "BENCH_STRIPE_SECRET"],
        env=env,
        cwd=tmp,
        check=True,
        capture_output=True,
    )
    return out.split("/webhooks/")[1].split("/")[0]


def stored_kill_ids(url: str) -> set[str]:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from connector.payments.tables import webhook_events
    from connector.store import Store

    store = Store(url)
    with store.begin() as conn:
        kept = set(
            conn.execute(
                select(webhook_events.c.event_id).where(webhook_events.c.event_id.like("pi_kill-%"))
            ).scalars()
        )
    store.dispose()
    # Stripe event ids here are state-based on the PaymentIntent: "pi_<id>:paid".
    return {k.split(":")[0].removeprefix("pi_") for k in kept}


# --- 15.7: the price of synchronous=FULL ------------------------------------------------


def sync_cost(tmp: str, events: int = 400) -> None:
    """Events committed per second with NORMAL and FULL, alone and in groups of 16."""
    sys.path.insert(0, str(ROOT))
    from datetime import UTC
    from datetime import datetime
    from decimal import Decimal

    from sqlalchemy import event as sa_event

    from connector.domain import Money
    from connector.payments import events as event_store
    from connector.payments.model import PaymentEvent
    from connector.payments.model import PaymentEventKind
    from connector.store import Store

    now = datetime.now(UTC)
    print(f"SQLite synchronous: events committed per second ({events} events, one thread)")
    for mode in ("NORMAL", "FULL"):
        for group in (1, 16):
            path = Path(tmp) / f"sync-{mode}-{group}.db"
            store = Store(f"sqlite:///{path}")

            def pragma(dbapi: Any, _record: Any, mode: str = mode) -> None:
                dbapi.execute(f"PRAGMA synchronous={mode}")

            sa_event.listen(store.engine, "connect", pragma)  # after the store's own
            store.migrate()
            with store.begin() as conn:
                endpoint, _ = event_store.create_endpoint(
                    conn, name="e", administration_ids=[], now=now
                )
            batch = [
                PaymentEvent(
                    "stripe", f"e{n}", PaymentEventKind.PAID, f"p{n}", Money(Decimal(1)), now
                )
                for n in range(events)
            ]
            started = time.perf_counter()
            for i in range(0, events, group):
                with store.begin(immediate=True) as conn:
                    event_store.store_events(conn, endpoint.id, batch[i : i + group], now)
            took = time.perf_counter() - started
            with store.begin() as conn:
                actual = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            store.dispose()
            print(
                f"  {mode:6} (pragma {actual}) {group:2} per commit: {events / took:8,.0f} "
                f"events/s  {took / (events / group) * 1000:6.2f} ms per commit"
            )


# --- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--windows", type=int, default=6, help="pairs of windows")
    parser.add_argument("--window", type=float, default=4.0, help="seconds per window")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--paced-seconds", type=float, default=15)
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--sync-cost", action="store_true", help="only measure 15.7's price")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 check")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "connector")

    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        if args.sync_cost:
            sync_cost(tmp)
            return 0
        url, drop = fresh_database(args.database, tmp)
        load = Load()
        servers: list[subprocess.Popen[bytes]] = []
        try:
            return run(args, exe, tmp, url, load, servers)
        finally:
            for proc in servers:
                stop(proc)
            load.close()
            drop()


def run(
    args: argparse.Namespace,
    exe: str,
    tmp: str,
    url: str,
    load: Load,
    servers: list[subprocess.Popen[bytes]],
) -> int:
    env = {
        **os.environ,
        "CONNECTOR_DATABASE_URL": url,
        "CONNECTOR_SECRET_KEY": Fernet.generate_key().decode(),
        "BENCH_STRIPE_SECRET": SECRET,
        "PYTHONPATH": str(ROOT),
    }
    token = setup_store(exe, env, tmp)
    path = f"/webhooks/{token}/stripe"
    gunicorn = ["--workers", str(args.workers), "--threads", str(args.threads)]
    worker_class = "gthread" if args.threads > 1 else "sync"
    bare_port, port = free_port(), free_port()
    bare_cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{bare_port}", *gunicorn]
    servers.append(
        start([*bare_cmd, "--worker-class", worker_class, "bench.bare_app:create()"], env, tmp)
    )
    serve_cmd = [exe, "serve", "--bind", f"127.0.0.1:{port}", *gunicorn]
    servers.append(start(serve_cmd, env, tmp))
    wait_for(bare_port)
    wait_for(port)
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads, both servers up side by "
        f"side; load: {args.connections} keep-alive connections from one separate process; "
        f"store: {url.split('://')[0]}; load average before: {load_average()} "
        f"({os.cpu_count()} cores, shared)"
    )

    # 1. Interleaved throughput windows. A short warm-up of each first (imports, caches).
    load.run("closed", bare_port, path, "warm-bare", 1.0, args.connections)
    load.run("closed", port, path, "warm-full", 1.0, args.connections)
    ratios, bare_rates, rates = [], [], []
    all_ours: list[Any] = []
    print(f"throughput, {args.windows} pairs of {args.window:g} s windows (bare, connector):")
    bare_cpu = our_cpu = 0.0
    bare_ok = 0
    for w in range(args.windows):
        before = server_cpu(servers[0].pid)
        bare_rows = load.run("closed", bare_port, path, f"bare{w}", args.window, args.connections)
        bare_cpu += server_cpu(servers[0].pid) - before
        before = server_cpu(servers[1].pid)
        our_rows = load.run("closed", port, path, f"full{w}", args.window, args.connections)
        our_cpu += server_cpu(servers[1].pid) - before
        b, o = ok_rate(bare_rows, args.window), ok_rate(our_rows, args.window)
        bare_ok += sum(1 for r in bare_rows if 200 <= r[1] < 300)
        not_ok = sum(1 for r in our_rows if not 200 <= r[1] < 300)
        bare_rates.append(b)
        rates.append(o)
        ratios.append(o / b if b else 0.0)
        all_ours.extend(our_rows)
        print(
            f"  window {w + 1}: bare {b:6,.0f}/s  connector {o:6,.0f}/s  ratio {o / b:5.0%}"
            f"  ({not_ok} not 2xx)  load {load_average()}"
        )
    ratio = statistics.median(ratios)
    print(
        f"  median: bare {statistics.median(bare_rates):,.0f}/s, connector "
        f"{statistics.median(rates):,.0f}/s; median of the window ratios {ratio:.0%} "
        f"(min {min(ratios):.0%}, max {max(ratios):.0%})"
    )
    report("connector, all windows", all_ours, args.window * args.windows)
    ours_ok = sum(1 for r in all_ours if 200 <= r[1] < 300)
    if bare_ok and ours_ok:
        per_bare, per_ours = bare_cpu / bare_ok * 1000, our_cpu / ours_ok * 1000
        print(
            f"  server CPU per event (gunicorn processes only; load-independent): bare "
            f"{per_bare:.2f} ms, connector {per_ours:.2f} ms -> CPU-bound ceiling of the "
            f"ratio {per_bare / per_ours:.0%}"
        )

    # 2. Open loop at 200 events/s, latency from when each request was due.
    paced = load.run("paced", port, path, "paced", args.paced_seconds, 8, rate=200)
    print(f"latency at 200 events/s for {args.paced_seconds:g} s, timed from when each was due:")
    report("connector at 200 events/s", paced, args.paced_seconds)
    paced_ok = [r[2] for r in paced if r[1] == 200]
    p99 = percentile(paced_ok, 0.99) if len(paced_ok) == len(paced) else float("inf")

    # 3. kill -9 mid-load, restart, count.
    lost: set[str] = set()
    if not args.no_kill:
        server = servers.pop()
        rows = load.run(
            "closed",
            port,
            path,
            "kill",
            6.0,
            args.connections,
            during=lambda: stop(server, signal.SIGKILL),
        )
        acked = {r[0] for r in rows if 200 <= r[1] < 300}
        restarted = start(serve_cmd, env, tmp)
        servers.append(restarted)
        wait_for(port)
        stored = stored_kill_ids(url)
        lost = acked - stored
        print(
            f"kill -9 mid-load: {len(acked):,} acknowledged, {len(lost)} of them lost after "
            f"restart ({len(stored):,} stored)"
        )
    print(f"load generator CPU: {load.client_cpu:.1f} s; load average after: {load_average()}")
    for aim, met in (
        (">= 60% of the bare endpoint (median window ratio)", ratio >= 0.6),
        ("p99 < 50 ms at 200 events/s (from due time, every request 2xx)", p99 < 50),
        ("zero acknowledged events lost", not lost),
    ):
        print(f"  {'met   ' if met else 'MISSED'}  {aim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
