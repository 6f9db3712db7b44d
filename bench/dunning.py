"""Benchmark: dunning 1,000,000 open items over 100,000 debtors in 100 administrations.

A child process fills a fresh store (SQLite by default, or --database URL) with the items and
debtors; this process then runs what `connector dunning run` runs per administration, and
times each part:

- load: the columnar read of one administration's snapshot (items, debtors, history);
- plan: the pure plan (policy x snapshot x date -> letters);
- store: inserting the planned actions and the items they cover under their unique keys.

It does so twice: on the fresh store (every item's first step) and again 16 days later with
every stored letter marked sent (second steps, with a history per item to read). Prints
items/s for load and plan, seconds for storing, and the peak resident memory of this process.
Between the two runs the database's statistics are refreshed (ANALYZE), as autovacuum
would. Aims: plan >= 200,000 items/s, storing the actions of the 1,000,000-item plan < 60 s, peak
memory < 1 GB.

    python bench/dunning.py [--items 1000000] [--debtors 100000] [--administrations 100]
                            [--database URL]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from sqlalchemy import update

from connector.domain import Administration
from connector.dunning import store as dstore
from connector.dunning.plan import plan
from connector.dunning.policy import AdministrationSettings
from connector.dunning.policy import default_config
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import dunning_actions
from connector.store import Store
from connector.store import records

TODAY = date(2025, 6, 2)
NOW = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)
STAMP = "2025-06-01 00:00:00.000000"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- filling the store (in a child process, so that its memory is not counted) --------------


def _rows(items: int, debtors: int, admins: int, seed: int = 11):
    rng = random.Random(seed)
    per_admin = debtors // admins
    debtor_rows = []
    for a in range(admins):
        for n in range(per_admin):
            code = f"D{n:05d}"
            consumer = rng.random() < 0.3
            debtor_rows.append(
                (
                    a + 1,
                    code,
                    f"Klant {a}-{n}",
                    "consumer" if consumer else "business",
                    f"{code.lower()}@klant{a}.nl" if rng.random() < 0.9 else "",
                )
            )
    item_rows = []
    for n in range(items):
        admin = rng.randrange(admins) + 1
        code = f"D{rng.randrange(per_admin):05d}"
        due = TODAY - timedelta(days=rng.randrange(-20, 100))
        cents = rng.randrange(1_000, 500_000)
        if rng.random() < 0.03:
            cents = -cents // 4
        item_rows.append(
            (admin, f"X{n}", f"2025-{n:07d}", code, due - timedelta(days=30), due, cents)
        )
    # A sync writes one administration at a time, so a store holds each administration's
    # items together; insert them that way.
    item_rows.sort(key=lambda r: r[0])
    return debtor_rows, item_rows


def fill(url: str, items: int, debtors: int, admins: int) -> None:
    store = Store(url)
    store.migrate()
    with store.begin() as conn:
        connection = records.save_connection(conn, name="bench", ledger="files", config={}, now=NOW)
        records.save_administrations(
            conn,
            connection.id,
            [Administration(f"admin-{a:03d}", f"Administratie {a}") for a in range(admins)],
        )
    debtor_rows, item_rows = _rows(items, debtors, admins)
    raw = store.engine.raw_connection()
    try:
        if store.dialect == "sqlite":
            cur = raw.cursor()
            cur.execute("BEGIN")
            cur.executemany(
                "INSERT INTO debtors (administration_id, code, name, kind, email, phone, street,"
                " postal_code, city, country, iban, vat_number, kvk_number, language, tags,"
                " fingerprint, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', '', '', '',"
                " 'NL', '', '', '', 'nl', '[]', 'x', ?, ?)",
                [(*r, STAMP, STAMP) for r in debtor_rows],
            )
            cur.executemany(
                "INSERT INTO open_items (administration_id, external_id, invoice_number,"
                " debtor_code, invoice_date, due_date, currency, amount, open_amount,"
                " description, status, fingerprint, first_seen_at, updated_at) VALUES"
                " (?, ?, ?, ?, ?, ?, 'EUR', ?, ?, '', 'open', 'x', ?, ?)",
                [
                    (
                        a,
                        ext,
                        num,
                        code,
                        inv.isoformat(),
                        due.isoformat(),
                        c * 100,
                        c * 100,
                        STAMP,
                        STAMP,
                    )
                    for a, ext, num, code, inv, due, c in item_rows
                ],
            )
            cur.execute("COMMIT")
        else:
            driver = raw.driver_connection
            assert driver is not None
            with driver.cursor() as cur:
                with cur.copy(
                    "COPY debtors (administration_id, code, name, kind, email, phone, street,"
                    " postal_code, city, country, iban, vat_number, kvk_number, language, tags,"
                    " fingerprint, created_at, updated_at) FROM STDIN"
                ) as copy:
                    for a, code, name, kind, email in debtor_rows:
                        copy.write_row(
                            (
                                a,
                                code,
                                name,
                                kind,
                                email,
                                "",
                                "",
                                "",
                                "",
                                "NL",
                                "",
                                "",
                                "",
                                "nl",
                                "[]",
                                "x",
                                NOW,
                                NOW,
                            )
                        )
                with cur.copy(
                    "COPY open_items (administration_id, external_id, invoice_number,"
                    " debtor_code, invoice_date, due_date, currency, amount, open_amount,"
                    " description, status, fingerprint, first_seen_at, updated_at) FROM STDIN"
                ) as copy:
                    for a, ext, num, code, inv, due, c in item_rows:
                        value = f"{c // 100 if c >= 0 else -((-c) // 100)}.{abs(c) % 100:02d}"
                        copy.write_row(
                            (
                                a,
                                ext,
                                num,
                                code,
                                inv,
                                due,
                                "EUR",
                                value,
                                value,
                                "",
                                "open",
                                "x",
                                NOW,
                                NOW,
                            )
                        )
            driver.commit()
            with driver.cursor() as cur:
                cur.execute("ANALYZE")
            driver.commit()
    finally:
        raw.close()
    store.dispose()


# --- the measured part ------------------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.load = self.plan = self.store = 0.0
        self.load_cpu = self.plan_cpu = 0.0
        self.items = self.letters = self.stored = self.links = 0


#: A complete sender, so that the letters are sendable (an incomplete one holds them all).
SENDER = MappingProxyType(
    {
        "street": "Molenstraat 12",
        "postal_code": "3512 AB",
        "city": "Utrecht",
        "email": "debiteuren@bench.example",
        "iban": "NL91ABNA0417164300",
        "kvk_number": "12345678",
    }
)


def dun(store: Store, day: date) -> Timer:
    timer = Timer()
    with store.begin() as conn:
        admins = records.list_administrations(conn)
    config = replace(
        default_config(),
        administrations=MappingProxyType(
            {str(a.id): AdministrationSettings(sender=SENDER) for a in admins}
        ),
    )
    for admin in admins:
        started, started_cpu = time.perf_counter(), time.process_time()
        with store.begin() as conn:
            snapshot = dstore.load_snapshot(conn, config, [admin])
        loaded, loaded_cpu = time.perf_counter(), time.process_time()
        result = plan(config.policies, config.segments, snapshot, {admin.id: day})
        planned, planned_cpu = time.perf_counter(), time.process_time()
        with store.begin() as conn:
            stored = dstore.store_actions(conn, result.actions, NOW)
        done = time.perf_counter()
        timer.load += loaded - started
        timer.plan += planned - loaded
        timer.load_cpu += loaded_cpu - started_cpu
        timer.plan_cpu += planned_cpu - loaded_cpu
        timer.store += done - planned
        timer.items += len(snapshot.items)
        timer.letters += len(result.actions)
        timer.stored += len(stored)
        timer.links += sum(len(a.letter.items) for a in result.actions)
        del snapshot, result
    return timer


def mark_sent(store: Store, day: date) -> None:
    """Every stored letter sent; then refresh the planner statistics, as PostgreSQL's
    autovacuum (and a periodic ANALYZE on SQLite) would after a day's work."""
    with store.begin() as conn:
        conn.execute(
            update(dunning_actions).values(
                status=ActionStatus.SENT.value, sent_on=day, delivered_on=day, sent_at=NOW
            )
        )
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def report(label: str, t: Timer) -> None:
    print(f"{label}:")
    print(f"  items {t.items:,}, letters {t.letters:,} covering {t.links:,} items")
    print(
        f"  load   {t.load:7.2f} s  {t.items / t.load:>10,.0f} items/s"
        f"   (cpu of this process {t.load_cpu:6.2f} s, {t.items / t.load_cpu:>10,.0f} items/s)"
    )
    print(
        f"  plan   {t.plan:7.2f} s  {t.items / t.plan:>10,.0f} items/s"
        f"   (cpu {t.plan_cpu:6.2f} s, {t.items / t.plan_cpu:>10,.0f} items/s)"
    )
    print(f"  load+plan        {t.items / (t.load + t.plan):>10,.0f} items/s")
    print(f"  store  {t.store:7.2f} s  ({t.stored:,} actions, {t.links:,} item links)")
    print(f"  peak memory so far {peak_mb():,.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--administrations", type=int, default=100)
    parser.add_argument("--database", help="a store URL (default: a new SQLite file)")
    parser.add_argument("--fill-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill_only:
        fill(args.database, args.items, args.debtors, args.administrations)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--fill-only",
                "--database",
                url,
                "--items",
                str(args.items),
                "--debtors",
                str(args.debtors),
                "--administrations",
                str(args.administrations),
            ],
            check=True,
        )
        store = Store(url)
        print(
            f"store {store.describe()}: {args.items:,} items, {args.debtors:,} debtors, "
            f"{args.administrations} administrations (filled in "
            f"{time.perf_counter() - started:.1f} s by a child process)"
        )
        report(f"first run on {TODAY}", dun(store, TODAY))
        mark_sent(store, TODAY)
        later = TODAY + timedelta(days=16)
        report(f"second run on {later} (every letter of the first run sent)", dun(store, later))
        store.dispose()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
