"""Benchmark: sync two Twinfield offices (3,000 debtors, 15,000 open items each) from the
fake Twinfield over real HTTP on 127.0.0.1 into a fresh SQLite store.

Prints, for the first sync and for an unchanged re-sync: API calls (by kind), credits
(read 1, write 3), wall time, and the credits against the per-minute budget: the busiest
60 seconds, and how long the adapter's credit gate would have held the calls back at the
budget (simulated on a virtual clock, so the benchmark itself does not wait).

    python bench/sync_twinfield.py [--debtors 3000] [--items 15000] [--budget 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.twinfield import create_ledger  # noqa: E402
from adapters.twinfield.ledger import TwinfieldLedger  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store import records  # noqa: E402
from connector.sync import SyncSummary  # noqa: E402
from connector.sync import sync_administration  # noqa: E402
from tests.fakes.twinfield import FakeDebtor  # noqa: E402
from tests.fakes.twinfield import FakeTwinfield  # noqa: E402
from tests.fakes.twinfield import StaticTokens  # noqa: E402

OFFICES = (("NLA000101", "Groothandel Noord"), ("NLA000102", "Installatiebedrijf Zuid"))


def populate(fake: FakeTwinfield, debtors: int, items: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    for code, name in OFFICES:
        office = fake.add_office(code, name)
        for n in range(1, debtors + 1):
            office.add_debtor(
                FakeDebtor(
                    f"{n:05d}",
                    f"Klant {n} B.V.",
                    email=f"factuur{n}@klant{n}.nl",
                    vat=f"NL{n:09d}B01" if n % 3 else "",
                    city="Utrecht",
                    send_reminder=rng.choice(["true", "false", "false", "email"]),
                    modified=stamp,
                )
            )
        start = date(2024, 1, 1)
        for n in range(1, items + 1):
            day = start + timedelta(days=rng.randrange(0, 800))
            amount = Decimal(rng.randrange(1_000, 500_000)) / 100
            office.add_invoice(
                f"{rng.randrange(1, debtors + 1):05d}",
                f"{day.year}{n:06d}",
                amount,
                day,
                day + timedelta(days=30),
                modified=stamp,
            )


class VirtualClock:
    """The credit gate's clock: real time plus whatever it would have waited."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += seconds


def run(label: str, store: Store, ledger: TwinfieldLedger, fake: FakeTwinfield) -> None:
    before_log = len(fake.log)
    before_credits = ledger.client.stats.credits
    before_actions = Counter(ledger.client.stats.by_action)
    before_waited = ledger.client.gate.waited
    ledger.client.gate.peak_window = 0
    started = time.perf_counter()
    with store.begin() as conn:
        admins = records.list_administrations(conn)
    summaries: list[SyncSummary] = [sync_administration(store, ledger, a) for a in admins]
    wall = time.perf_counter() - started
    for s in summaries:
        if not s.ok:
            raise SystemExit(f"{label}: {s.administration}: {s.error}")
    calls = len(fake.log) - before_log
    credits = ledger.client.stats.credits - before_credits
    actions = Counter(ledger.client.stats.by_action)
    actions.subtract(before_actions)
    waited = ledger.client.gate.waited - before_waited
    budget = ledger.client.gate.budget
    fetched = sum(s.fetched for s in summaries)
    debtors = sum(s.debtors_fetched for s in summaries)
    print(f"{label}:")
    print(
        f"  items fetched {fetched:,}, new {sum(s.new for s in summaries):,}, "
        f"debtors fetched {debtors:,}"
    )
    print(
        f"  API calls {calls:,}; "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(actions.items()) if v)
    )
    print(f"  wall time {wall:.1f} s against the fake")
    print(
        f"  credits {credits:,}; busiest 60 s {ledger.client.gate.peak_window:,} of a "
        f"{budget:,}/min budget; the gate held calls back {waited:.0f} s "
        f"(at least {credits / budget:.1f} min of budget)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=3000)
    parser.add_argument("--items", type=int, default=15000)
    parser.add_argument("--budget", type=int, default=500, help="credits per minute")
    args = parser.parse_args()
    with FakeTwinfield(credits_per_minute=10**9) as fake, tempfile.TemporaryDirectory() as tmp:
        populate(fake, args.debtors, args.items)
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        clock = VirtualClock()
        ledger = create_ledger(
            {"validation_url": fake.validation_url, "credits_per_minute": args.budget},
            tokens=StaticTokens(fake),
        )
        ledger.client.gate.clock = clock.now
        ledger.client.gate.sleep = clock.sleep
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="bench", ledger="twinfield", config={}, now=datetime.now(UTC)
            )
            records.save_administrations(conn, connection.id, ledger.administrations())
        print(f"{len(OFFICES)} offices x {args.debtors:,} debtors and {args.items:,} open items")
        run("first sync", store, ledger, fake)
        clock.sleep(3600)  # the re-sync an hour later, as the scheduler would run it
        run("unchanged re-sync (an hour later)", store, ledger, fake)
        print(f"token validations in all: {fake.validations}")
        store.dispose()


if __name__ == "__main__":
    main()
