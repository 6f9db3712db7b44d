"""Benchmark: Exact Online syncs against the fake Exact, counted in API calls.

Three divisions with 5,000 accounts and 25,000 open receivables each, synced through the
core's sync engine into a fresh SQLite store. Per run it prints the API calls (per stream),
the wall time, and the minimum number of calls the API allows for that run; then the same
figures for the plain approach a typical client takes (standard endpoints, 60 rows a page,
everything read again every time), so the ratio shows. Runs: first sync, unchanged re-sync
(at most 2 calls per stream), re-sync after 200 changes per division. No run may provoke a
429 or Exact's error block; the store must equal Exact's receivables to the cent; the first
sync may cost at most `FIRST_SYNC_LIMIT` (1.1) times the minimum: the script prints the
ratio and exits non-zero past it.

The fake's time windows are scaled (`--scale`, default 0.01: a minute lasts 0.6 s), so the
rate limiter's waits are real waits, just shorter.

    python bench/sync_exact.py [--accounts 5000] [--receivables 25000] [--scale 0.01]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.exact.auth import settings_from  # noqa: E402
from adapters.exact.client import ExactClient  # noqa: E402
from adapters.exact.ledger import ACCOUNTS_PER_CALL  # noqa: E402
from adapters.exact.ledger import ExactLedger  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store import records  # noqa: E402
from connector.store.schema import open_items  # noqa: E402
from connector.sync import sync_all  # noqa: E402
from tests.fakes.exact import FakeExact  # noqa: E402
from tests.fakes.exact import StaticTokens  # noqa: E402

DIVISIONS = (101, 102, 103)
PAGE = 1000
STANDARD = 60
FIRST_SYNC_LIMIT = 1.1  # issue 14.7: the first sync within 1.1x the minimum calls
STREAMS = {
    "debtors": ("sync/CRM/Accounts",),
    "items": (
        "sync/Cashflow/PaymentTerms",
        "sync/Deleted",
        "read/financial/ReceivablesList",
        "read/sync/Sync/SyncTimestamp",
    ),
    "discovery": ("current/Me", "system/Divisions"),
}


@dataclass
class Run:
    name: str
    calls: int
    by_stream: dict[str, int]
    minimum: int
    seconds: float
    waited: float
    floor_minutes: int  # what 60 calls a minute per division impose at full scale
    too_many: int
    blocks: int
    matches: bool


def _pages(rows: int, size: int) -> int:
    return max(1, math.ceil(rows / size))


def _snapshot(fake: FakeExact) -> dict[str, int]:
    return dict(fake.calls_by_endpoint)


def _streams(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {name: sum(delta.get(e, 0) for e in endpoints) for name, endpoints in STREAMS.items()}


def _stored(store: Store, division: int) -> dict[str, tuple[Decimal, str]]:
    with store.begin() as conn:
        admin = records.find_administration(conn, str(division))
        rows = conn.execute(
            select(open_items.c.external_id, open_items.c.open_amount, open_items.c.currency)
            .where(open_items.c.administration_id == admin.id)
            .where(open_items.c.status == "open")
        )
        return {ext: (Decimal(amount), cur) for ext, amount, cur in rows}


def _measure(
    name: str,
    fake: FakeExact,
    minimum: int,
    action: Callable[[], float],
    check: Callable[[], bool],
) -> Run:
    before, calls, too_many, blocks = _snapshot(fake), fake.calls, fake.too_many, fake.blocks
    per_division = dict(fake.calls_by)
    started = time.perf_counter()
    waited = action()
    seconds = time.perf_counter() - started
    return Run(
        name=name,
        calls=fake.calls - calls,
        by_stream=_streams(before, _snapshot(fake)),
        minimum=minimum,
        seconds=seconds,
        waited=waited,
        floor_minutes=sum(
            max(0, math.ceil((n - per_division.get(d, 0)) / 60) - 1)
            for d, n in fake.calls_by.items()
        ),
        too_many=fake.too_many - too_many,
        blocks=fake.blocks - blocks,
        matches=check(),
    )


def _change(fake: FakeExact, division: int, accounts: list[str], n: int) -> tuple[int, int, int]:
    """`n` changes: a quarter each full payments, partial payments, new invoices and changed
    accounts. Returns (changed payment-term rows, changed account rows, accounts whose open
    items changed)."""
    per = n // 4
    terms = fake.divisions[division].terms.values()
    entries = sorted({t["EntryNumber"] for t in terms})
    owner = {t["EntryNumber"]: t["Account"] for t in terms}
    open_now = fake.open_by_key(division)
    by_entry = {int(k.split(":")[0]): amount for k, (amount, _c) in open_now.items()}
    touched: set[str] = set()
    for entry in entries[:per]:
        fake.pay_in_exact(division, entry, by_entry[entry])
        touched.add(owner[entry])
    for entry in entries[per : 2 * per]:
        fake.pay_in_exact(division, entry, "1.00")
        touched.add(owner[entry])
    for k in range(per):
        account = accounts[k * 7 % len(accounts)]
        fake.add_invoice(division, account, Decimal("199.95"))
        touched.add(account)
    for k in range(n - 3 * per):
        fake.change_account(division, accounts[k * 13 % len(accounts)], Email=f"new{k}@x.example")
    return 3 * per, n - 3 * per, len(touched)


def _plain_minimum(fake: FakeExact) -> int:
    total = 0
    for division in DIVISIONS:
        div = fake.divisions[division]
        customers = sum(1 for a in div.accounts.values() if a["Status"] == "C")
        unpaid = sum(1 for t in div.terms.values() if not t["IsFullyPaid"])
        total += _pages(customers, STANDARD) + _pages(unpaid, STANDARD)
    return total


def _plain_sync(fake: FakeExact, client: ExactClient) -> float:
    """A typical client: standard endpoints, 60 rows a page, everything every time."""
    waited = client.limiter.waited_seconds
    for division in DIVISIONS:
        d = str(division)
        client.rows(d, "crm/Accounts", {"$filter": "Status eq 'C'", "$select": "ID,Code,Name"})
        client.rows(
            d,
            "cashflow/Receivables",
            {"$filter": "IsFullyPaid eq false", "$select": "ID,Account,AmountDC,DueDate"},
        )
    return client.limiter.waited_seconds - waited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--receivables", type=int, default=25000)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args(argv)

    fake = FakeExact(time_scale=args.scale).start()
    try:
        return _bench(fake, args)
    finally:
        fake.stop()


def _bench(fake: FakeExact, args: argparse.Namespace) -> int:
    print(
        f"Exact Online sync benchmark: {len(DIVISIONS)} divisions x {args.accounts:,} accounts "
        f"and {args.receivables:,} open receivables; Exact's windows scaled x{args.scale} "
        f"(a minute lasts {60 * args.scale:.2f} s)"
    )
    t0 = time.perf_counter()
    accounts = {}
    for division in DIVISIONS:
        fake.add_division(division, f"Division {division}")
        accounts[division] = fake.seed(
            division, accounts=args.accounts, receivables=args.receivables
        )
    fake.age()  # the seeded history predates the connector, as a real one does
    print(f"seeded the fake in {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        ledger = ExactLedger(settings_from(fake.settings()), StaticTokens(fake))
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="exact", ledger="exact", config={}, now=datetime.now(UTC)
            )
            records.save_administrations(conn, connection.id, ledger.administrations())

        def sync() -> float:
            before = ledger.client.limiter.waited_seconds
            summaries = sync_all(store, lambda _c: ledger)
            failed = [s.error for s in summaries if not s.ok]
            if failed:
                raise SystemExit(f"sync failed: {failed}")
            return ledger.client.limiter.waited_seconds - before

        def matches() -> bool:
            return all(_stored(store, d) == fake.open_by_key(d) for d in DIVISIONS)

        plain_client = ExactClient(settings_from(fake.settings()), StaticTokens(fake))
        plain: list[Run] = []

        def plain_run(name: str) -> None:
            plain.append(
                _measure(
                    name,
                    fake,
                    _plain_minimum(fake),
                    lambda: _plain_sync(fake, plain_client),
                    lambda: True,
                )
            )

        n_div = len(DIVISIONS)
        discovery = 2
        first_min = discovery + n_div * (
            _pages(args.accounts, PAGE) + _pages(args.receivables, PAGE)
        )
        runs = [_measure("first sync", fake, first_min, sync, matches)]
        plain_run("first sync")
        unchanged_min = discovery + n_div * 3  # accounts, payment terms, deleted: 1 each
        runs.append(_measure("unchanged re-sync", fake, unchanged_min, sync, matches))
        plain_run("unchanged re-sync")
        changed_min = discovery
        for division in DIVISIONS:
            term_rows, account_rows, touched = _change(
                fake, division, accounts[division], args.changes
            )
            changed_min += (
                _pages(account_rows, PAGE)
                + _pages(term_rows, PAGE)
                + 1  # sync/Deleted
                + _pages(touched, ACCOUNTS_PER_CALL)  # the changed accounts' open items
            )
        name = f"re-sync after {args.changes} changes"
        runs.append(_measure(name, fake, changed_min, sync, matches))
        plain_run(name)
        store.dispose()

    print()
    print(
        "calls: API calls made; minimum: the fewest calls the API allows for the run (1,000 "
        "rows a page for\n  sync/bulk/read endpoints, 60 for standard ones); wall s: "
        "elapsed, including the fake's own work\n  and the limiter's waits (waited s) in "
        "scaled minutes; min. minutes: the least real time the\n  60-calls-a-minute limit "
        "imposes on those calls, divisions one after another"
    )
    print()
    print("connector (sync/bulk endpoints, 1,000 rows a page, incremental cursors):")
    _table(runs, streams=True)
    print()
    print("plain approach (standard endpoints, 60 rows a page, everything every time):")
    _table(plain, streams=False)
    print()
    for ours, theirs in zip(runs, plain, strict=True):
        ratio = theirs.calls / ours.calls if ours.calls else float("inf")
        print(f"{ours.name:<28} plain/connector calls: {ratio:6.1f}x")
    first = runs[0]
    first_ratio = first.calls / first.minimum
    first_ok = first_ratio <= FIRST_SYNC_LIMIT
    print()
    print(
        f"first sync: {first.calls} calls, minimum {first.minimum}: ratio {first_ratio:.3f} "
        f"(limit {FIRST_SYNC_LIMIT}): {'ok' if first_ok else 'TOO MANY'}"
    )
    bad = [r for r in runs + plain if r.too_many or r.blocks]
    wrong = [r for r in runs if not r.matches]
    per_stream_ok = all(v <= 2 * n_div for v in runs[1].by_stream.values() if v)
    print()
    print(f"429s or error blocks provoked: {'none' if not bad else ', '.join(r.name for r in bad)}")
    print(f"store equals Exact's receivables to the cent after every run: {not wrong}")
    print(f"unchanged re-sync at most 2 calls per stream and division: {per_stream_ok}")
    return 1 if bad or wrong or not per_stream_ok or not first_ok else 0


def _table(runs: list[Run], *, streams: bool) -> None:
    header = f"  {'run':<28}{'calls':>7}{'minimum':>9}{'wall s':>9}{'waited s':>10}"
    header += f"{'min. minutes':>14}{'429s':>6}{'blocks':>8}"
    if streams:
        header += "   calls per stream (all divisions)"
    print(header)
    for r in runs:
        line = (
            f"  {r.name:<28}{r.calls:>7}{r.minimum:>9}{r.seconds:>9.2f}{r.waited:>10.2f}"
            f"{r.floor_minutes:>14}{r.too_many:>6}{r.blocks:>8}"
        )
        if streams:
            line += "   " + ", ".join(f"{k} {v}" for k, v in r.by_stream.items())
        print(line)


if __name__ == "__main__":
    raise SystemExit(main())
