"""Benchmark: `connector sync` of many Exact Online divisions, before and after the work queue.

A fake Exact Online (tests/fakes/exact.py, its documented limits enforced: 60 calls a
minute and 5,000 a day per division) answers every API call after 0.15 s, as the real one
does from here. `--divisions` divisions with `--items` open receivables each are synced
into a fresh SQLite store twice:

- before: `sync_all`, today's sequential code path (one division after another);
- after: `sync_via_queue` on the in-process queue (`[tasks] concurrency`, default 16),
  the path `connector sync` takes now;
- with `--postgres URL --workers 1,2,4`: the Procrastinate engine on a fresh PostgreSQL
  database per run, with that many `connector worker`-like *processes* (each running
  `--worker-concurrency` jobs at once) against the same fake; this process only plans,
  enqueues and waits, as `connector sync` does with `[tasks] engine = "procrastinate"`.

Printed per run: wall time, API calls, 429s, the most calls in flight at once (overall and
per division), and the floor = calls x latency / calls in flight (the fastest any client
could be with that many calls in flight). The store is checked against the fake to the cent.

    python bench/scale_sync.py [--divisions 100] [--items 60] [--latency 0.15] [--concurrency 16]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres --workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.exact.auth import settings_from  # noqa: E402
from adapters.exact.ledger import ExactLedger  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store import records  # noqa: E402
from connector.store.schema import open_items  # noqa: E402
from connector.sync import SyncSummary  # noqa: E402
from connector.sync import sync_all  # noqa: E402
from connector.tasks.bodies import LedgerCache  # noqa: E402
from connector.tasks.bodies import standard_registry  # noqa: E402
from connector.tasks.config import DEFAULT_CONCURRENCY  # noqa: E402
from connector.tasks.fanout import sync_via_queue  # noqa: E402
from connector.tasks.inprocess import InProcessQueue  # noqa: E402
from tests.fakes.exact import FakeExact  # noqa: E402
from tests.fakes.exact import StaticTokens  # noqa: E402

FIRST_DIVISION = 100_001


class SlowExact(FakeExact):
    """The fake with a fixed latency per API call, spent outside its lock (so calls overlap
    as they do on the real service), and in-flight counters."""

    def __init__(self, latency: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency
        self.guard = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.division_in_flight: dict[str, int] = {}
        self.most_per_division = 0

    def api(
        self, method: str, path: str, query: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], Any, bool]:
        division = path[len("/api/v1/") :].partition("/")[0]
        with self.guard:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            now = self.division_in_flight.get(division, 0) + 1
            self.division_in_flight[division] = now
            if division.isdigit():
                self.most_per_division = max(self.most_per_division, now)
        try:
            time.sleep(self.latency)
            return super().api(method, path, query, body, headers)
        finally:
            with self.guard:
                self.in_flight -= 1
                self.division_in_flight[division] -= 1

    def reset_counters(self) -> None:
        with self.guard:
            self.most_in_flight = self.most_per_division = 0


def _stored(store: Store) -> dict[str, dict[str, tuple[Decimal, str]]]:
    out: dict[str, dict[str, tuple[Decimal, str]]] = {}
    with store.begin() as conn:
        for admin in records.list_administrations(conn):
            rows = conn.execute(
                select(open_items.c.external_id, open_items.c.open_amount, open_items.c.currency)
                .where(open_items.c.administration_id == admin.id)
                .where(open_items.c.status == "open")
            )
            out[admin.external_id] = {ext: (Decimal(a), c) for ext, a, c in rows}
    return out


def _run(
    name: str,
    fake: SlowExact,
    divisions: list[int],
    sync: Callable[[Store, ExactLedger], list[SyncSummary]],
    in_flight: int,
    latency: float,
    store_url: Callable[[str], str] | None = None,
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(store_url(tmp) if store_url else f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        ledger = ExactLedger(settings_from(fake.settings()), StaticTokens(fake))
        with store.begin() as conn:
            records.save_connection(
                conn, name="exact", ledger="exact", config={}, now=datetime.now(UTC)
            )
        calls, too_many = fake.calls, fake.too_many
        fake.reset_counters()
        started = time.perf_counter()
        summaries = sync(store, ledger)
        seconds = time.perf_counter() - started
        calls, too_many = fake.calls - calls, fake.too_many - too_many
        failed = [s.error for s in summaries if not s.ok]
        stored = _stored(store)
        exact = all(stored.get(str(d)) == fake.open_by_key(d) for d in divisions)
        items = sum(len(v) for v in stored.values())
        store.dispose()
    floor = calls * latency / in_flight
    print(
        f"  {name:<34}{seconds:>8.1f}{calls:>7}{too_many:>6}{fake.most_in_flight:>8}"
        f"{fake.most_per_division:>8}{floor:>9.1f}{seconds / floor:>8.1f}x"
        f"{len(summaries):>6}{items:>7}  {'ok' if exact and not failed else 'MISMATCH'}"
    )
    if failed:
        print(f"    failed: {failed[:3]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--divisions", type=int, default=100)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--skip-before", action="store_true", help="Only the new path.")
    parser.add_argument("--postgres", default=None, help="A server for the Procrastinate runs.")
    parser.add_argument("--workers", default="1,2,4", help="Worker processes per run.")
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args(argv)
    if args.worker is not None:
        return _worker_process(json.loads(args.worker))

    fake = SlowExact(args.latency).start()
    try:
        divisions = [FIRST_DIVISION + n for n in range(args.divisions)]
        for d in divisions:
            fake.add_division(d, f"Client {d}")
            fake.seed(d, accounts=max(1, args.items // 3), receivables=args.items)
        print(
            f"Exact Online sync: {args.divisions} divisions x {args.items} open items, "
            f"{args.latency:.2f} s per API call; a fresh store per run "
            "(SQLite; PostgreSQL for Procrastinate)"
        )
        print(
            f"  {'run':<34}{'wall s':>8}{'calls':>7}{'429s':>6}{'flight':>8}{'per div':>8}"
            f"{'floor s':>9}{'/floor':>9}{'adms':>6}{'items':>7}"
        )

        def before(store: Store, ledger: ExactLedger) -> list[SyncSummary]:
            return sync_all(store, lambda _c: ledger)

        def after(store: Store, ledger: ExactLedger) -> list[SyncSummary]:
            cache = LedgerCache(lambda _c: ledger)
            services = _Services(store, cache)
            with InProcessQueue(
                standard_registry(), services, concurrency=args.concurrency
            ) as queue:
                return sync_via_queue(queue, store, cache, timeout=3600)

        t_before = None
        if not args.skip_before:
            t_before = _run(
                "before: sequential (sync_all)", fake, divisions, before, 1, args.latency
            )
        t_after = _run(
            f"after: in-process queue, {args.concurrency} threads",
            fake,
            divisions,
            after,
            args.concurrency,
            args.latency,
        )
        if args.postgres:
            token = StaticTokens(fake).token  # valid 600 s: enough for a bounded run
            for n in (int(w) for w in args.workers.split(",")):
                _procrastinate_run(fake, divisions, args, n, token)
        print(
            "  flight: most API calls in flight at once; per div: most at once for one "
            "division (Exact's budgets are per division); floor: calls x latency / calls "
            "in flight"
        )
        if t_before is not None:
            print(f"speed-up after/before: {t_before / t_after:.1f}x (aim: at least 8x)")
        return 0 if fake.too_many == 0 and fake.blocks == 0 else 1
    finally:
        fake.stop()


class _FixedToken:
    """The access token the parent got from the fake, for a worker process."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def rejected(self, access_token: str) -> str:
        raise SystemExit("the fake rejected the benchmark's token")


def _fresh_database(server: str) -> tuple[str, Callable[[], None]]:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def _procrastinate_run(
    fake: SlowExact, divisions: list[int], args: argparse.Namespace, workers: int, token: str
) -> None:
    from adapters.procrastinate import ProcrastinateQueue

    url, drop = _fresh_database(args.postgres)
    children: list[subprocess.Popen[bytes]] = []
    try:
        Store(url).migrate()
        ProcrastinateQueue(standard_registry(), Store(url).engine).install()
        spec = {
            "url": url,
            "settings": fake.settings(),
            "token": token,
            "concurrency": args.worker_concurrency,
        }
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        for _ in range(workers):
            children.append(
                subprocess.Popen(  # noqa: S603 - this script, as a worker
                    [sys.executable, __file__, "--worker", json.dumps(spec)], env=env
                )
            )
        time.sleep(2.0)  # let the workers connect and register

        def sync(store: Store, ledger: ExactLedger) -> list[SyncSummary]:
            queue = ProcrastinateQueue(standard_registry(), store.engine, poll_seconds=0.1)
            try:
                return sync_via_queue(queue, store, lambda _c: ledger, timeout=3600)
            finally:
                queue.close()

        in_flight = workers * args.worker_concurrency
        name = f"procrastinate: {workers} worker(s) x {args.worker_concurrency}"
        _run(name, fake, divisions, sync, in_flight, args.latency, store_url=lambda _t: url)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
        drop()


def _worker_process(spec: dict[str, Any]) -> int:
    from adapters.procrastinate import ProcrastinateQueue

    store = Store(spec["url"])
    ledger = ExactLedger(settings_from(spec["settings"]), _FixedToken(spec["token"]))
    services = _Services(store, LedgerCache(lambda _c: ledger))
    queue = ProcrastinateQueue(standard_registry(), store.engine, services=services)
    try:
        queue.run_worker(concurrency=int(spec["concurrency"]))
    finally:
        queue.close()
        store.dispose()
    return 0


class _Services:
    def __init__(self, store: Store, ledgers: LedgerCache) -> None:
        self.store = store
        self.batch_size = 1000
        self.ledger_for = ledgers


if __name__ == "__main__":
    raise SystemExit(main())
