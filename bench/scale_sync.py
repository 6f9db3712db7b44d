"""Benchmark: `connector sync` of many Exact Online divisions, before and after the work queue.

A fake Exact Online (tests/fakes/exact.py, its documented limits enforced: 60 calls a
minute and 5,000 a day per division) answers every API call after 0.15 s, as the real one
does from here. `--divisions` divisions with `--items` open receivables each are synced
into a fresh SQLite store twice:

- before: `sync_all`, today's sequential code path (one division after another);
- after: `sync_via_queue` on the in-process queue (`[tasks] concurrency`, default 16),
  the path `connector sync` takes now.

Printed per run: wall time, API calls, 429s, the most calls in flight at once (overall and
per division), and the floor = calls x latency / calls in flight (the fastest any client
could be with that many calls in flight). The store is checked against the fake to the cent.

    python bench/scale_sync.py [--divisions 100] [--items 60] [--latency 0.15] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
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
    args = parser.parse_args(argv)

    fake = SlowExact(args.latency).start()
    try:
        divisions = [FIRST_DIVISION + n for n in range(args.divisions)]
        for d in divisions:
            fake.add_division(d, f"Client {d}")
            fake.seed(d, accounts=max(1, args.items // 3), receivables=args.items)
        print(
            f"Exact Online sync: {args.divisions} divisions x {args.items} open items, "
            f"{args.latency:.2f} s per API call; fresh SQLite store per run"
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


class _Services:
    def __init__(self, store: Store, ledgers: LedgerCache) -> None:
        self.store = store
        self.batch_size = 1000
        self.ledger_for = ledgers


if __name__ == "__main__":
    raise SystemExit(main())
