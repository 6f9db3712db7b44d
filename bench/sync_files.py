"""Benchmark: sync 100,000 open items over 10,000 debtors from CSV into a fresh SQLite store.

Prints items/second for the first sync and for an unchanged re-sync, and the peak memory
(resident set) of the process. Aims: first >= 20,000 items/s, re-sync >= 50,000 items/s,
peak < 300 MB.

    python bench/sync_files.py [--items 100000] [--debtors 10000] [--database URL]
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from connector import registry
from connector.store import Store
from connector.store import records
from connector.sync import sync_all


def generate(folder: Path, items: int, debtors: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    admin = folder / "bench"
    admin.mkdir(parents=True)
    with (admin / "debtors.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["debtor_code", "name", "kind", "email", "city"])
        for n in range(debtors):
            w.writerow(
                [
                    f"D{n:06d}",
                    f"Klant {n} B.V.",
                    rng.choice(["business", "consumer"]),
                    f"factuur{n}@klant{n}.nl",
                    "Utrecht",
                ]
            )
    start = date(2025, 1, 1)
    with (admin / "items.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(
            [
                "Factuurnummer",
                "Debiteurnummer",
                "Factuurdatum",
                "Vervaldatum",
                "Bedrag",
                "Openstaand",
            ]
        )
        for n in range(items):
            invoiced = start + timedelta(days=rng.randrange(600))
            cents = rng.randrange(1000, 500_000)
            amount = f"{cents // 100},{cents % 100:02d}"
            w.writerow(
                [
                    f"2025-{n:07d}",
                    f"D{rng.randrange(debtors):06d}",
                    invoiced.strftime("%d-%m-%Y"),
                    (invoiced + timedelta(days=14)).isoformat(),
                    amount,
                    amount,
                ]
            )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--debtors", type=int, default=10_000)
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sync-files-") as tmp:
        folder = Path(tmp) / "exports"
        generate(folder, args.items, args.debtors)
        size = sum(p.stat().st_size for p in folder.rglob("*.csv")) / 1e6
        print(f"generated {args.items:,} items over {args.debtors:,} debtors ({size:.1f} MB CSV)")
        store = Store(args.database or f"sqlite:///{Path(tmp) / 'connector.db'}")
        store.migrate()
        config = {"path": str(folder)}
        ledger_factory = registry.ledger_factory("files")
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="bench", ledger="files", config=config, now=datetime.now(UTC)
            )
            records.save_administrations(
                conn, connection.id, ledger_factory(config).administrations()
            )
        figures = []
        for label in ("first sync", "unchanged re-sync"):
            # A fresh ledger each run: the re-sync parses the files again, as a new process would.
            ledger = ledger_factory(config)
            started = time.perf_counter()
            [summary] = sync_all(store, lambda _c, ledger=ledger: ledger)
            elapsed = time.perf_counter() - started
            if not summary.ok:
                print(f"{label}: FAILED: {summary.error}", file=sys.stderr)
                return 1
            rate = summary.fetched / elapsed
            figures.append(rate)
            print(
                f"{label:18} {summary.fetched:>8,} items  new {summary.new:>7,}  "
                f"changed {summary.changed:>7,}  {elapsed:6.2f} s  {rate:>9,.0f} items/s"
            )
        store.dispose()
    peak = peak_mb()
    print(f"peak memory (max RSS) {peak:,.0f} MB")
    aims = [
        ("first sync >= 20,000 items/s", figures[0] >= 20_000),
        ("re-sync >= 50,000 items/s", figures[1] >= 50_000),
        ("peak memory < 300 MB", peak < 300),
    ]
    for aim, met in aims:
        print(f"  {'met ' if met else 'MISSED'}  {aim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
