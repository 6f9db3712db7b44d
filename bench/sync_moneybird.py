"""Benchmark: sync a large Moneybird administration from the fake Moneybird server.

5,000 contacts and 20,000 open invoices (3,000 of them dated before this year, 500 of them
external sales invoices) plus 5,000 paid ones, into a fresh SQLite store, through the real
sync engine. Moneybird's rate limit (150 requests per 300 s) is kept, its window scaled down
(`--window`, default 10 s = 1/30: short enough to run in seconds, long enough that the limit
binds, as it does against Moneybird); the client gets the same limit.

Printed per run: API calls beside the least the API allows, wall time, 429s. The least: one
call for the administrations, one synchronization listing per resource (contacts, sales
invoices, external sales invoices), and one call per 100 records that must be read (no
Moneybird endpoint returns more than 100 records per request). Checks: no 429, all 20,000
open invoices arrive with the fake's amounts to the cent, an unchanged re-sync uses at most
2 calls per stream.

    python bench/sync_moneybird.py [--window 3] [--database URL]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from adapters.moneybird import create_ledger
from connector.domain import ItemStatus
from connector.store import Store
from connector.store import records
from connector.sync import sync_all

# The fake Moneybird server lives with the tests; run from anywhere: python bench/...
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.moneybird import FakeMoneybird  # noqa: E402
from tests.fakes.moneybird import StubTokens  # noqa: E402

CONTACTS = 5_000
OPEN = 20_000
OLDER = 3_000
EXTERNAL = 500
PAID = 5_000
CHANGED = 100
LIMIT = 150
REAL_WINDOW = 300.0


def least(records_to_read: dict[str, int]) -> int:
    """1 administrations call + 1 listing per resource + one call per 100 records read."""
    return 1 + len(records_to_read) + sum(math.ceil(n / 100) for n in records_to_read.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=10.0, help="rate-limit window, seconds")
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    scale = REAL_WINDOW / args.window

    with (
        tempfile.TemporaryDirectory(prefix="bench-sync-moneybird-") as tmp,
        FakeMoneybird(limit=LIMIT, window=args.window) as fake,
    ):
        started = time.perf_counter()
        adm = fake.add_administration("Groothandel Bench B.V.")
        fake.seed(
            adm,
            contacts=CONTACTS,
            open_invoices=OPEN,
            older=OLDER,
            paid=PAID,
            external=EXTERNAL,
        )
        print(
            f"fake Moneybird: {CONTACTS:,} contacts, {OPEN:,} open invoices ({OLDER:,} before "
            f"this year, {EXTERNAL:,} external) and {PAID:,} paid; rate limit {LIMIT} per "
            f"{args.window:g} s (Moneybird: {LIMIT} per {REAL_WINDOW:g} s); "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        store = Store(args.database or f"sqlite:///{Path(tmp) / 'connector.db'}")
        store.migrate()
        ledger = create_ledger(fake.settings(), tokens=StubTokens("test-token"))
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="bench", ledger="moneybird", config={}, now=datetime.now(UTC)
            )
            records.save_administrations(conn, connection.id, ledger.administrations())

        sales_open = OPEN - EXTERNAL
        runs = [
            (
                "first sync",
                {"contacts": CONTACTS, "sales invoices": sales_open, "external": EXTERNAL},
            ),
            ("unchanged re-sync", {"contacts": 0, "sales invoices": 0, "external": 0}),
            ("100 changed", {"contacts": 0, "sales invoices": CHANGED, "external": 0}),
        ]
        failures: list[str] = []
        print(
            f"{'run':18} {'calls':>6} {'least':>6} {'429s':>5} {'wall':>8} {'waited':>8}   "
            f"{'at the real limit':>17}   items: fetched new changed closed"
        )
        for label, to_read in runs:
            if label == "100 changed":
                fake.change_invoices(adm, CHANGED)
            fake.reset_counters()
            waited_before = ledger.client.limiter.waited
            began = time.perf_counter()
            [summary] = sync_all(store, lambda _c: ledger)
            wall = time.perf_counter() - began
            if not summary.ok:
                print(f"{label}: FAILED: {summary.error}", file=sys.stderr)
                return 1
            calls = fake.requests
            waited = ledger.client.limiter.waited - waited_before
            floor = least(to_read)
            # At Moneybird's own limit only the waits between windows scale up.
            real_minutes = math.floor((calls - 1) / LIMIT) * REAL_WINDOW / 60
            print(
                f"{label:18} {calls:>6} {floor:>6} {fake.throttled:>5} {wall:>7.2f}s "
                f"{waited:>7.2f}s   "
                f"{'>= ' + format(real_minutes, '.0f') + ' min':>17}   "
                f"{summary.fetched:>7,} {summary.new:>6,} {summary.changed:>7,} "
                f"{summary.closed:>6,}"
            )
            if fake.throttled:
                failures.append(f"{label}: {fake.throttled} answers were 429")
            if label == "unchanged re-sync":
                streams = {"debtors": 2, "items": 2}  # plus 1 for the administrations
                if calls > 1 + sum(streams.values()):
                    failures.append(f"{label}: {calls} calls, more than 2 per stream")
        with store.begin() as conn:
            stored = {
                r.external_id: (r.invoice_number, Decimal(r.open_amount))
                for r in records.list_items(conn, status=ItemStatus.OPEN.value)
            }
        expected = fake.open_invoices(adm)
        print(
            f"open items stored: {len(stored):,}; the fake's open invoices: {len(expected):,}; "
            f"identical to the cent: {stored == expected}; scale 1:{scale:g}; "
            f"peak requests in a window: {fake.peak_in_window} of {LIMIT}"
        )
        if len(expected) != OPEN - (CHANGED + 2) // 3:
            failures.append(f"the fake has {len(expected)} open invoices, not the expected")
        if stored != expected:
            failures.append("the stored open items differ from the fake's open invoices")
        store.dispose()
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
