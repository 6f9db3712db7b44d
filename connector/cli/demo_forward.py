"""`connector demo --days N`: run the demo's dunning forward, day by day, so that a new user
sees every kind of letter (reminders, the 14-day letter, the sommatie, the hand-over) in the
outbox without waiting weeks (issue 13.13).

Each day is an ordinary run on that date (`Dunning.run(on_date=...)`), Monday to Friday as the
scheduler runs; nothing is paid in between, so every debtor walks the whole policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from datetime import timedelta

import click

from connector.dunning import store as dstore
from connector.dunning.run import Dunning
from connector.store.records import AdministrationRecord

_SUNDAY, _SATURDAY = 6, 5


def run_forward(
    runner: Dunning, admins: Sequence[AdministrationRecord], start: date, days: int
) -> Counter[str]:
    """Runs on each weekday after `start` up to `start + days`; returns letters per template."""
    problems: list[str] = []
    for offset in range(1, days + 1):
        day = start + timedelta(days=offset)
        if day.weekday() in (_SATURDAY, _SUNDAY):
            continue
        report = runner.run(admins, on_date=day)
        # the demo runs in review mode: a letter written for reading counts as one made
        sent = sum(len(run.sent) + len(run.reviewed) for run in report.administrations)
        held = sum(
            len(run.retry) + len(run.uncertain) + len(run.blocked) for run in report.administrations
        )
        problems.extend(f"{day}: {run.error}" for run in report.administrations if run.error)
        click.echo(f"  {day}: {sent} written" + (f", {held} held" if held else ""))
    with runner.store.begin() as conn:
        actions = dstore.list_actions(conn, administration_ids=[a.id for a in admins])
    counts = Counter(a.template for a in actions if a.status in ("sent", "review"))
    for problem in problems:
        click.echo(f"connector: {problem}", err=True)
    return counts


def print_kinds(counts: Counter[str]) -> None:
    click.echo("\nLetters per kind (template), written for review or sent:")
    for template, count in sorted(counts.items()):
        click.echo(f"  {template:<28} {count:>5}")
