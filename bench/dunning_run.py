"""Benchmark: `connector dunning run` end to end, sending to a real SMTP server on loopback.

Unlike bench/dunning.py (planning alone), this runs the command a scheduler runs: it takes
the run lock, recovers, re-reads the ledger (the files ledger: CSV exports of every
administration), cancels stale actions, plans, stores and sends every e-mail over SMTP to
an aiosmtpd server on 127.0.0.1 (one connection per letter, as the e-mail channel does).

    python bench/dunning_run.py [--items 50000] [--debtors 5000] [--administrations 20]
                                [--database URL]

The issue's full size is --items 1000000 --debtors 100000 --administrations 100; on a
shared 2-core machine that takes long, so the default is smaller and the script prints what
it ran. Prints the sync and the run in seconds, letters sent and letters per second end to
end, and the peak resident memory of every process: the sync, the run, the SMTP server and
this driver. Every letter the run reports as sent must have reached the SMTP server.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 3, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the SMTP server: aiosmtpd in its own process, counting what it is given -------------


def _smtp_server(port: int, ready: Any, stop: Any, results: Any) -> None:
    from aiosmtpd.controller import Controller

    class Counter:
        def __init__(self) -> None:
            self.messages = 0
            self.recipients = 0
            self.bytes = 0

        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages += 1
            self.recipients += len(envelope.rcpt_tos)
            self.bytes += len(envelope.content or b"")
            return "250 OK"

    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put((handler.messages, handler.recipients, handler.bytes, peak))


# --- the administrations as files-ledger exports -----------------------------------------


def write_exports(root: Path, items: int, debtors: int, admins: int, seed: int = 7) -> int:
    """CSV exports in root/<admin>/; returns how many items are overdue enough to dun."""
    rng = random.Random(seed)
    per_admin_debtors = max(debtors // admins, 1)
    per_admin_items = items // admins
    due_for_reminder = 0
    for a in range(admins):
        folder = root / f"admin-{a:03d}"
        folder.mkdir(parents=True)
        (folder / "administration.toml").write_text(
            f'name = "Administratie {a:03d}"\ncurrency = "EUR"\n'
            'timezone = "Europe/Amsterdam"\ncountry = "NL"\n'
        )
        with (folder / "debtors.csv").open("w", newline="") as f:
            f.write("debtor_code,name,kind,email,language,payment_term_days\n")
            for d in range(per_admin_debtors):
                kind = "consumer" if rng.random() < 0.3 else "business"
                f.write(f"D{d:05d},Klant {a}-{d},{kind},d{d}@klant{a}.example,nl,14\n")
        with (folder / "items.csv").open("w", newline="") as f:
            f.write(
                "invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency\n"
            )
            for n in range(per_admin_items):
                # Mostly 3..15 days overdue (the first reminder is due), some not yet due.
                overdue = rng.randrange(-10, 16)
                due = TODAY - timedelta(days=overdue)
                if overdue >= 2:
                    due_for_reminder += 1
                cents = rng.randrange(1_000, 300_000)
                amount = f"{cents // 100}.{cents % 100:02d}"
                debtor = f"D{rng.randrange(per_admin_debtors):05d}"
                f.write(
                    f"{a:03d}-{n:07d},{debtor},{(due - timedelta(days=14)).isoformat()},"
                    f"{due.isoformat()},{amount},{amount},EUR\n"
                )
    return due_for_reminder


def write_config(path: Path, smtp_port: int, admins: int) -> None:
    lines = [
        "[channels.email]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'security = "plain"',
        'from_address = "debiteuren@bench.example"',
        'from_name = "Debiteurenbeheer"',
        "",
    ]
    for a in range(admins):
        lines += [
            f'[administrations."Administratie {a:03d}".sender]',
            'iban = "NL91ABNA0417164300"',
            f'email = "debiteuren@admin{a}.example"',
            "",
        ]
    path.write_text("\n".join(lines))


# --- running the CLI and measuring each process ------------------------------------------


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, profile: str | None = None
) -> tuple[float, float, str]:
    """Seconds, peak resident MB (of that process) and output of `connector ARGS`."""
    command = [str(Path(sys.executable).parent / "connector"), *args]
    if profile:  # the same command under cProfile, its statistics written to `profile`
        code = (
            f"import cProfile, sys; sys.argv = {['connector', *args]!r}; "
            f"cProfile.run('from connector.cli import main; main()', {profile!r})"
        )
        command = [sys.executable, "-c", code]
    log = cwd / f"cli-{args[0]}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)  # noqa: S603
        _pid, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        print(text[-3000:])
        raise SystemExit(f"connector {' '.join(args)} failed with exit code {proc.returncode}")
    return took, usage.ru_maxrss / 1024, text


def fresh_database(url: str | None, tmp: Path) -> tuple[str, Any]:
    if not url:
        return f"sqlite:///{tmp / 'connector.db'}", lambda: None
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, lambda: None
    name = f"bench_run_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return parsed.set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--debtors", type=int, default=5_000)
    parser.add_argument("--administrations", type=int, default=20)
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the run into FILE")
    args = parser.parse_args()

    spawn = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-dunning-run-") as tmp_name:
        tmp = Path(tmp_name)
        url, drop = fresh_database(args.database, tmp)
        smtp_port = free_port()
        ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
        smtp = spawn.Process(target=_smtp_server, args=(smtp_port, ready, stop, results))
        smtp.start()
        try:
            if not ready.wait(30):
                raise SystemExit("the SMTP server did not start")
            exports = tmp / "exports"
            started = time.perf_counter()
            due = write_exports(exports, args.items, args.debtors, args.administrations)
            print(
                f"ran: {args.items:,} items, {args.debtors:,} debtors in "
                f"{args.administrations} administrations (files ledger), store "
                f"{url.split('://')[0]}, SMTP aiosmtpd on 127.0.0.1:{smtp_port}; "
                f"{due:,} items overdue for a reminder; exports written in "
                f"{time.perf_counter() - started:.1f} s; load average "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores, shared)"
            )
            write_config(tmp / "connector.toml", smtp_port, args.administrations)
            env = {**os.environ, "CONNECTOR_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
            env.pop("CONNECTOR_SECRET_KEY", None)
            run_cli(["init"], env, tmp)
            run_cli(["connect", "files", "--name", "bench", "--path", str(exports)], env, tmp)
            sync_s, sync_mb, _ = run_cli(["sync"], env, tmp)
            print(f"sync (first read of the exports): {sync_s:.1f} s, peak {sync_mb:.0f} MB")
            on = TODAY.isoformat()
            run_s, run_mb, output = run_cli(
                ["dunning", "run", "--date", on], env, tmp, profile=args.profile
            )
        finally:
            stop.set()
            messages, recipients, size, smtp_mb = results.get(timeout=60)
            smtp.join(30)
            drop()
    lines = output.strip().splitlines()
    sent_lines = sum(1 for line in lines if line.strip().startswith("sent "))
    for line in [line for line in lines if not line.strip().startswith("sent ")][:12]:
        print(f"  | {line}")
    print(f"  | ... and {sent_lines:,} lines 'sent ...' (the run's own count of letters sent)")
    if sent_lines != messages:
        print(f"MISMATCH: the run reports {sent_lines:,} sent, the SMTP server got {messages:,}")
    rate = messages / run_s if run_s else 0.0
    print(
        f"dunning run: {run_s:.1f} s end to end (lock, recover, re-read, cancel stale, plan, "
        f"store, send); {messages:,} letters to {recipients:,} recipients "
        f"({size / 1e6:.1f} MB) reached the SMTP server: {rate:,.1f} letters/s"
    )
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak resident memory: dunning run {run_mb:.0f} MB, sync {sync_mb:.0f} MB, "
        f"SMTP server {smtp_mb:.0f} MB, this driver {driver_mb:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
