"""Benchmark: the hostile-input attacks of issue 16 against the regexes, old and new.

For each known attack of tests/hostile/test_regexes.py it prints how long today's function
takes on 100 KB (best of three, in the same spawned worker the tests use), and for the four
regexes issue 16 named, how long the old regex takes on 1, 2 and 4 KB of the same attack,
each in its own process with a time limit so the run stays short (a dash: over the limit).

    python bench/hostile_regexes.py [--old-limit 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

import test_regexes as suite  # noqa: E402

# The regexes as they were before issue 16, each with its attack (prefix, unit, suffix).
OLD = {
    "16.1 Exact envelope": (
        rb'^\s*\{\s*"Content"\s*:\s*(.*)\s*,\s*"HashCode"\s*:\s*"([^"]*)"\s*\}\s*$',
        "re.S",
        "match",
        ('{"Content":', " ", ""),
    ),
    "16.2 files amount": (
        suite.OLD_AMOUNT.pattern,
        "0",
        "fullmatch",
        ("-", " ", "-"),
    ),
    "16.3 e-mail address": (suite.OLD_EMAIL.pattern, "0", "match", ("a@", ".", "@")),
    "16.4 between tags": (suite.OLD_BETWEEN_TAGS.pattern, "0", "search", (">", "\n", "")),
    "new: page count": (
        suite.OLD_PAGE_TREE.pattern,
        "0",
        "search",
        ("", "/Type /Pages /Kids [", ""),
    ),
}

PROGRAM = """
import re, sys, time
pattern, flags, method, prefix, unit, suffix, size = {args!r}
compiled = re.compile(pattern, eval(flags, {{"re": re}}))
count = max(1, (size - len(prefix) - len(suffix)) // len(unit))
text = prefix + unit * count + suffix
if isinstance(pattern, bytes):
    text = text.encode()
started = time.perf_counter()
getattr(compiled, method)(text)
print(time.perf_counter() - started)
"""


def old_seconds(name: str, size: int, limit: float) -> float | None:
    pattern, flags, method, (prefix, unit, suffix) = OLD[name]
    args = (pattern, flags, method, prefix, unit, suffix, size)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM.format(args=args)],
            capture_output=True,
            text=True,
            timeout=limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-limit", type=float, default=10.0, help="seconds per old run")
    options = parser.parse_args()

    print("old regexes (seconds; '-' = over the limit):")
    print(f"  {'':24} {'1 KB':>8} {'2 KB':>8} {'4 KB':>8}")
    for name in OLD:
        cells = []
        for size in (1_000, 2_000, 4_000):
            seconds = old_seconds(name, size, options.old_limit)
            cells.append("-" if seconds is None else f"{seconds:.3f}")
        print(f"  {name:24} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8}", flush=True)

    print(f"\ntoday's functions on {suite.SIZE // 1000} KB (ms, best of 3):")
    timer = suite.Timer()
    try:
        for case in suite.CASES:
            for prefix, unit, suffix in case.attacks:
                seconds, outcome = timer.time(case.name, prefix, unit, suffix)
                shown = f"{prefix!r} + {unit!r}*n + {suffix!r}"
                print(f"  {case.name:22} {seconds * 1000:8.2f}  {shown[:60]:60} {outcome[:30]}")
    finally:
        timer.close()


if __name__ == "__main__":
    main()
