"""Benchmark and reading aid: the demo run forward over 90 days, every letter kind to a folder.

Runs `connector demo --days N` (default 90) in a fresh temporary folder with its own SQLite
store, then copies, per template (reminder_1, reminder_2, final_notice, final_notice_consumer,
collection_notice, ...), the first letter sent with it into `--out` as `<template>.pdf` and
`<template>.eml` (or the collection dossier `.json`), so a person can read one of each kind
(issue 13.13). Prints the number of letters per template, the wall time of the demo and the
number of letters per second. Bounded: N is at most 366 days.

    python bench/demo_letters.py [--days 90] [--out letters-by-kind]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy import text

_MAIN = "from connector.cli import main; main()"
_PER_TEMPLATE = "SELECT template, count(*) FROM dunning_actions WHERE status = 'sent' GROUP BY 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path("letters-by-kind"))
    args = parser.parse_args()
    days = max(0, min(args.days, 366))
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="demo-letters-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'store.db'}"
        env = {**os.environ, "CONNECTOR_DATABASE_URL": url}
        env.pop("CONNECTOR_CONFIG", None)
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from connector.cli import main; main()",
                "demo",
                "--days",
                str(days),
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
            sys.exit(f"connector demo --days {days} failed with exit {done.returncode}")
        engine = create_engine(url)
        counts: Counter[str] = Counter()
        copied: dict[str, list[str]] = {}
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.id, a.template, d.reference, d.detail FROM dunning_actions a "
                    "JOIN dunning_deliveries d ON d.action_id = a.id "
                    "WHERE a.status = 'sent' ORDER BY a.sent_on, a.id"
                )
            ).all()
            seen_actions = conn.execute(
                text(
                    "SELECT template, count(*) FROM dunning_actions WHERE status='sent' GROUP BY 1"
                )
            ).all()
        engine.dispose()
        counts.update({template: n for template, n in seen_actions})
        first: dict[str, int] = {}  # template -> the action whose files are copied
        for action_id, template, reference, detail in rows:
            if first.setdefault(template, action_id) != action_id:
                continue
            files = copied.get(template, [])
            for name in (reference, detail):
                path = folder / name if name and not os.path.isabs(name) else Path(name or "")
                if name and path.is_file():
                    target = out / f"{template}{path.suffix}"
                    if target.name not in files:
                        shutil.copyfile(path, target)
                        files.append(target.name)
            if files:
                copied[template] = files
    total = sum(counts.values())
    print(f"demo forward {days} days: {elapsed:.1f} s, {total} letters ({total / elapsed:.1f}/s)")
    for template in sorted(counts):
        print(
            f"  {template:<28} {counts[template]:>6}  -> {', '.join(copied.get(template, ['-']))}"
        )
    print(f"one of each kind in {out}")


if __name__ == "__main__":
    main()
