"""Benchmark: sync two Twinfield offices (3,000 debtors, 15,000 invoices each, a tenth of
them still open) from the fake Twinfield over real HTTP on 127.0.0.1 into a fresh SQLite
store, with the fake's credit limit ON.

The fake enforces the fair-use budget of the chosen tier (25 credits a minute uncertified,
500 certified) and answers 429 past it, exactly as Twinfield does. To keep the run bounded,
the minute is scaled: the fake's window and the adapter's budget window are both
`60 / scale` seconds, so the sync runs budget-bound, as it would for real, only `scale`
times faster. Budget-bound, the run lasts a number of windows, each of them a minute
at the real budget: the projection is `wall x scale` (printed only when the run was
budget-bound, i.e. a good share of it was spent waiting; otherwise `credits / budget`).

Prints, for the first sync and for an unchanged re-sync an hour later: API calls by kind,
credits, debtors read of those in Twinfield, 429s, the busiest window, the wall time
measured, and the wall time projected at the real budget.

    python bench/sync_twinfield.py [--tier uncertified|certified] [--scale N]
                                   [--debtors 3000] [--items 15000] [--open-share 0.1]
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
from adapters.twinfield.budget import CERTIFIED_PER_MINUTE  # noqa: E402
from adapters.twinfield.budget import UNCERTIFIED_PER_MINUTE  # noqa: E402
from adapters.twinfield.budget import Budgets  # noqa: E402
from adapters.twinfield.budget import CreditGate  # noqa: E402
from adapters.twinfield.ledger import TwinfieldLedger  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store import records  # noqa: E402
from connector.sync import SyncSummary  # noqa: E402
from connector.sync import sync_administration  # noqa: E402
from tests.fakes.twinfield import FakeDebtor  # noqa: E402
from tests.fakes.twinfield import FakeTwinfield  # noqa: E402
from tests.fakes.twinfield import StaticTokens  # noqa: E402

OFFICES = (("NLA000101", "Groothandel Noord"), ("NLA000102", "Installatiebedrijf Zuid"))
TIERS = {"uncertified": UNCERTIFIED_PER_MINUTE, "certified": CERTIFIED_PER_MINUTE}
MAX_RUN_SECONDS = 900.0  # a guard: the bench stops rather than run on


def populate(fake: FakeTwinfield, debtors: int, items: int, open_share: float) -> int:
    """The offices; returns how many debtors have an open line (what dunning needs)."""
    rng = random.Random(11)
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    owing: set[tuple[str, str]] = set()
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
            debtor = f"{rng.randrange(1, debtors + 1):05d}"
            still_open = rng.random() < open_share
            office.add_invoice(
                debtor,
                f"{day.year}{n:06d}",
                amount,
                day,
                day + timedelta(days=30),
                open_amount=None if still_open else "0",
                modified=stamp,
            )
            if still_open:
                owing.add((code, debtor))
    return len(owing)


def run(
    label: str,
    store: Store,
    ledger: TwinfieldLedger,
    fake: FakeTwinfield,
    gate: CreditGate,
    scale: float,
    debtors_in_twinfield: int,
) -> None:
    stats = ledger.client.stats
    before_log = len(fake.log)
    before_credits = stats.credits
    before_actions = Counter(stats.by_action)
    before_waited = gate.waited
    before_limited, before_limit_wait = stats.rate_limited, stats.rate_wait_seconds
    gate.peak_window = 0
    started = time.perf_counter()
    with store.begin() as conn:
        admins = records.list_administrations(conn)
    summaries: list[SyncSummary] = [sync_administration(store, ledger, a) for a in admins]
    wall = time.perf_counter() - started
    for s in summaries:
        if not s.ok:
            raise SystemExit(f"{label}: {s.administration}: {s.error}")
    calls = len(fake.log) - before_log
    throttled = sum(1 for c in fake.log[before_log:] if c.status == 429)
    credits = stats.credits - before_credits
    actions = Counter(stats.by_action)
    actions.subtract(before_actions)
    waited = (gate.waited - before_waited) + (stats.rate_wait_seconds - before_limit_wait)
    budget = gate.budget
    read = sum(s.debtors_fetched for s in summaries)
    # Budget-bound, the run takes (wall / window) windows; at the real budget each is a minute.
    projected = wall * scale
    floor = credits / budget
    print(f"{label}:")
    print(
        f"  items fetched {sum(s.fetched for s in summaries):,}, new "
        f"{sum(s.new for s in summaries):,}; debtors read {read:,} of "
        f"{debtors_in_twinfield:,} in Twinfield"
    )
    print(
        f"  API calls {calls:,} ({throttled} answered 429, "
        f"{stats.rate_limited - before_limited} waited out); "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(actions.items()) if v)
    )
    print(
        f"  credits {credits:,}; busiest window {gate.peak_window:,} of {budget:,} "
        f"(window {gate.window:g} s = 1 min / {scale:g})"
    )
    bound = waited >= 0.3 * wall
    print(
        f"  wall time {wall:.1f} s measured against the fake, {waited:.1f} s of it waiting "
        f"for the budget ({'budget-bound' if bound else 'NOT budget-bound: lower --scale'})"
    )
    if bound:
        print(
            f"  wall time at the real budget ({budget}/min): {projected / 60:.1f} min "
            f"(credits/budget alone: {floor:.1f} min)"
        )
    else:
        print(
            f"  wall time at the real budget ({budget}/min): about {floor:.1f} min "
            f"(credits/budget; this run was bound by the fake's speed, not the budget)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", choices=sorted(TIERS), default="uncertified")
    parser.add_argument("--scale", type=float, default=0.0, help="minute / window (0: auto)")
    parser.add_argument("--debtors", type=int, default=3000)
    parser.add_argument("--items", type=int, default=15000)
    parser.add_argument("--open-share", type=float, default=0.1)
    args = parser.parse_args()
    budget = TIERS[args.tier]
    # auto: a window a few times longer than the calls the budget allows take here
    # (about 12 ms each), so that the run is bound by the budget as the real one is
    scale = args.scale or 60.0 / max(1.0, budget * 0.04)
    window = 60.0 / scale
    with (
        FakeTwinfield(credits_per_minute=budget, window_seconds=window) as fake,
        tempfile.TemporaryDirectory() as tmp,
    ):
        owing = populate(fake, args.debtors, args.items, args.open_share)
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        gate = CreditGate(budget, window=window)
        config = {
            "validation_url": fake.validation_url,
            "certified": args.tier == "certified",
            "max_wait_seconds": MAX_RUN_SECONDS,
        }
        ledger = create_ledger(config, tokens=StaticTokens(fake), budgets=Budgets(lambda _n: gate))
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="bench", ledger="twinfield", config={}, now=datetime.now(UTC)
            )
            records.save_administrations(conn, connection.id, ledger.administrations())
        total = len(OFFICES) * args.debtors
        print(
            f"{len(OFFICES)} offices x {args.debtors:,} debtors and {args.items:,} invoices "
            f"({args.open_share:.0%} open; {owing:,} debtors owe something); "
            f"tier {args.tier}, {budget} credits/min, the fake's limit on"
        )
        run("first sync", store, ledger, fake, gate, scale, total)
        later = datetime.now(UTC) + timedelta(hours=1)
        ledger.clock = lambda: later  # the re-sync an hour later, as the scheduler runs it
        run("unchanged re-sync (an hour later)", store, ledger, fake, gate, scale, total)
        print(f"token validations in all: {fake.validations}")
        store.dispose()


if __name__ == "__main__":
    main()
