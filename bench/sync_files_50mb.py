"""Benchmark: the first sync of a 50 MB items export (files ledger) into a fresh SQLite store.

Issue 12 point 6: a 50 MB export must stay under 300 MB peak memory. Generates an items.csv
of about `--megabytes` MB (and a debtors file), syncs it once through the real sync engine
with a (silent) progress bar attached, and prints the file size, the time, the items per
second, the peak resident set of the whole process (`ru_maxrss`) and whether the aim is met.
Exits 1 when the peak is 300 MB or more.

    python bench/sync_files_50mb.py [--megabytes 50] [--debtors 20000]
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
from typing import Any

from connector import registry
from connector.store import Store
from connector.store import records
from connector.sync import sync_all

AIM_MB = 300
MAX_ITEMS = 2_000_000  # a bound on the generator, whatever --megabytes says


def generate(folder: Path, megabytes: float, debtors: int, seed: int = 7) -> int:
    """An items file of about `megabytes` MB; returns how many items it holds."""
    rng = random.Random(seed)
    admin = folder / "bench"
    admin.mkdir(parents=True)
    with (admin / "debtors.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["debtor_code", "name", "kind", "email", "city"])
        for n in range(debtors):
            w.writerow([f"D{n:06d}", f"Klant {n} B.V.", "business", f"f{n}@klant.nl", "Utrecht"])
    start = date(2025, 1, 1)
    target = int(megabytes * 1_000_000)
    count = 0
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
                "Omschrijving",
            ]
        )
        while f.tell() < target and count < MAX_ITEMS:
            invoiced = start + timedelta(days=rng.randrange(600))
            cents = rng.randrange(1000, 500_000)
            amount = f"{cents // 100},{cents % 100:02d}"
            w.writerow(
                [
                    f"2025-{count:07d}",
                    f"D{rng.randrange(debtors):06d}",
                    invoiced.strftime("%d-%m-%Y"),
                    (invoiced + timedelta(days=14)).isoformat(),
                    amount,
                    amount,
                    "Levering volgens order",
                ]
            )
            count += 1
    return count


class _Counting:
    """A progress bar that counts (the CLI's is tqdm on a terminal; here none is drawn)."""

    shown = 0

    def update(self, n: int) -> None:
        _Counting.shown += n

    def close(self) -> None:
        pass


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--debtors", type=int, default=20_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-files-50mb-") as tmp:
        folder = Path(tmp) / "exports"
        items = generate(folder, args.megabytes, args.debtors)
        size = (folder / "bench" / "items.csv").stat().st_size / 1e6
        print(f"generated items.csv: {size:.1f} MB, {items:,} items over {args.debtors:,} debtors")
        before = peak_mb()
        store = Store(f"sqlite:///{Path(tmp) / 'connector.db'}")
        store.migrate()
        config = {"path": str(folder)}
        factory = registry.ledger_factory("files")
        with store.begin() as conn:
            connection = records.save_connection(
                conn, name="bench", ledger="files", config=config, now=datetime.now(UTC)
            )
            records.save_administrations(conn, connection.id, factory(config).administrations())
        ledger = factory(config)

        def progress(_label: str, _total: int | None) -> Any:
            return _Counting()

        started = time.perf_counter()
        [summary] = sync_all(store, lambda _c: ledger, progress=progress)
        elapsed = time.perf_counter() - started
        store.dispose()
        if not summary.ok:
            print(f"sync FAILED: {summary.error}", file=sys.stderr)
            return 1
    peak = peak_mb()
    print(
        f"first sync: {summary.fetched:,} items in {elapsed:.1f} s "
        f"({summary.fetched / elapsed:,.0f} items/s); progress reported {_Counting.shown:,} rows"
    )
    print(f"peak memory (max RSS) {peak:,.0f} MB (before the sync {before:,.0f} MB)")
    met = peak < AIM_MB
    print(f"  {'met ' if met else 'MISSED'}  peak memory < {AIM_MB} MB for a {size:.0f} MB export")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
