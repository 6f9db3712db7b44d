"""`connector letters posted FILE... | --all [--date D]`: record when printed letters were posted.

The `letter` channel only writes a PDF into the print folder; the post takes it from there
some day later. Until the posting date is recorded the engine presumes the letter was posted
on the day it was written. Recording it moves the presumed delivery (and, for a consumer's
14-day letter, the end of its term and the first day costs or a hand-over are allowed) to
what that posting date gives, never to an earlier day (issue 13.3): the engine never hands
over or charges costs from a presumed date earlier than the recorded one.
"""

from __future__ import annotations

import sys
from datetime import date
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy import update

from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.policy import load_dunning_config
from connector.dunning.tables import dunning_actions
from connector.dunning.tables import dunning_deliveries

#: Written into the letter delivery's detail once the posting date is recorded.
POSTED_MARK = "posted on "


@click.group()
def letters() -> None:
    """Printed letters: record when they were posted."""


@letters.command("posted")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--all", "every", is_flag=True, help="Every printed letter not yet recorded.")
@click.option(
    "--date",
    "posted_on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day they went into the post (default: today).",
)
@pass_context
def posted(ctx: Context, files: tuple[str, ...], every: bool, posted_on: object) -> None:
    """Record the posting date of printed letters (PDF files of the letter folder)."""
    if bool(files) == every:
        click.echo("connector: name the letters' PDF files, or give --all (not both)", err=True)
        sys.exit(2)
    day: date = posted_on.date() if posted_on is not None else date.today()  # type: ignore[attr-defined]  # noqa: DTZ011
    config = load_dunning_config(ctx.settings)
    wanted = {str(Path(f).resolve()) for f in files}
    d, a = dunning_deliveries.c, dunning_actions.c
    changed = later = 0
    store = ctx.store()
    with store.begin() as conn:
        rows = conn.execute(
            select(d.id, d.action_id, d.reference, d.detail, a.delivered_on, a.term_end)
            .join(dunning_actions, a.id == d.action_id)
            .where(d.channel == ChannelKind.LETTER.value)
        ).all()
        found: set[str] = set()
        for row in rows:
            path = str(Path(row.reference).resolve())
            if files and path not in wanted:
                continue
            if every and POSTED_MARK in row.detail:
                continue
            found.add(path)
            delivered = law.delivery_date(day, postal_days=config.postal_delivery_days)
            values: dict[str, object] = {}
            if row.delivered_on is None or delivered > row.delivered_on:
                values["delivered_on"] = delivered
                if row.term_end is not None:
                    term = law.fourteen_day_term_from_delivery(
                        delivered, apply_atw=config.apply_atw
                    )
                    values["term_end"] = term.term_end
                    values["costs_from"] = term.term_end + timedelta(days=1)
                later += 1
            if values:
                conn.execute(update(dunning_actions).where(a.id == row.action_id).values(**values))
            detail = (row.detail + "; " if row.detail else "") + f"{POSTED_MARK}{day.isoformat()}"
            conn.execute(update(dunning_deliveries).where(d.id == row.id).values(detail=detail))
            changed += 1
        missing = sorted(wanted - found)
    for path in missing:
        click.echo(f"connector: {path}: not a printed dunning letter in the store", err=True)
    click.echo(
        f"{changed} letter(s) recorded as posted on {day}; "
        f"{later} now presumed delivered later than before"
    )
    if missing:
        sys.exit(1)


@letters.command("returned")
@click.argument("keys", nargs=-1, required=True)
@click.option("--reason", default="returned by the post", show_default=True)
@pass_context
def returned(ctx: Context, keys: tuple[str, ...], reason: str) -> None:
    """A letter came back or its e-mail bounced (KEY as in `dunning history`): no costs.

    A consumer owes collection costs only after a 14-day letter that reached them (art. 6:96
    lid 6 BW); a letter that came back proves the opposite. Its term is withdrawn, so no
    costs are ever charged on it; dun the debtor again by hand once the address is right."""
    a = dunning_actions.c
    missing: list[str] = []
    withdrawn = 0
    with ctx.store().begin() as conn:
        for key in keys:
            parts = key.split("/")
            row = None
            if len(parts) == 4 and parts[0].isdigit() and parts[3].isdigit():
                row = conn.execute(
                    select(a.id, a.status_reason)
                    .where(a.administration_id == int(parts[0]))
                    .where(a.debtor_code == parts[1])
                    .where(a.step_name == parts[2])
                    .where(a.cycle == int(parts[3]))
                ).first()
            if row is None:
                missing.append(key)
                continue
            note = (row.status_reason + "; " if row.status_reason else "") + f"returned: {reason}"
            conn.execute(
                update(dunning_actions)
                .where(a.id == row.id)
                .values(costs_from=None, term_end=None, status_reason=note)
            )
            withdrawn += 1
    for key in missing:
        click.echo(
            f"connector: {key}: no such dunning letter (see `connector dunning history`)", err=True
        )
    click.echo(f"{withdrawn} letter(s) marked returned; no costs will be charged on them")
    if missing:
        sys.exit(1)
