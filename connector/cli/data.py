"""Commands over the store: init, administrations, sync, listings, reports, demo, run."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import TextIO

import click

from connector import registry
from connector import reports
from connector.cli.context import Context
from connector.cli.context import admin_ids
from connector.cli.context import administration_option
from connector.cli.context import json_option
from connector.cli.context import pass_context
from connector.cli.context import print_administrations
from connector.cli.context import progress
from connector.cli.context import selected_admins
from connector.domain import ItemStatus
from connector.domain import format_amount
from connector.kinds import describe_kind
from connector.output import amount_text
from connector.output import write_json
from connector.output import write_table
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.sync import CloseGuard
from connector.sync import ProgressFactory
from connector.sync import SyncSummary
from connector.sync import close_guard_from
from connector.sync import discover
from connector.sync_metrics import sync_and_record

if TYPE_CHECKING:
    from connector.dunning.run import Dunning

logger = logging.getLogger("connector")
_ONE = Decimal(1)


@click.command()
@pass_context
def init(ctx: Context) -> None:
    """Create the store, or upgrade it to this version."""
    store = ctx.store(migrated=False)
    revision = store.migrate()
    click.echo(f"store ready at {store.describe()} (revision {revision})")


@click.command()
@json_option
@pass_context
def administrations(ctx: Context, as_json: bool) -> None:
    """List the administrations of every connection."""
    with ctx.store().begin() as conn:
        admins = records.list_administrations(conn)
    if as_json:
        write_json(
            [
                {
                    "id": a.id,
                    "name": a.name,
                    "connection": a.connection_name,
                    "ledger": a.ledger,
                    "external_id": a.external_id,
                    "currency": a.currency,
                    "timezone": a.timezone,
                    "last_sync_at": a.last_sync_at,
                    "last_sync_status": a.last_sync_status,
                    "last_sync_error": a.last_sync_error,
                }
                for a in admins
            ],
            sys.stdout,
        )
    else:
        print_administrations(admins, sys.stdout)


def _run_sync(
    ctx: Context,
    *,
    administration: str | None,
    full: bool,
    progress: ProgressFactory,
    allow_mass_close: bool = False,
) -> list[SyncSummary]:
    close_guard(ctx, allow=allow_mass_close)  # a bad [sync] max_close_share: one line, first
    store = ctx.store()
    with store.begin() as conn:
        ids = admin_ids(conn, administration)
    # Through the work-queue port: administrations in parallel on a bounded thread pool, each
    # under the mass-close guard, counted in the per-ledger figures of /metrics.
    from connector.cli.tasks import sync_in_parallel

    return sync_in_parallel(
        ctx,
        administration_ids=ids,
        full=full,
        progress=progress,
        allow_mass_close=allow_mass_close,
    )


def close_guard(ctx: Context, *, allow: bool = False) -> CloseGuard:
    """The mass-close guard of `[sync] max_close_share` (default 0.5)."""
    where = str(ctx.settings.config_path or "config")
    return close_guard_from(ctx.settings.section("sync"), allow=allow, where=where)


def _print_summaries(summaries: Sequence[SyncSummary]) -> None:
    write_table(
        ["ID", "ADMINISTRATION", "FETCHED", "NEW", "CHANGED", "CLOSED", "DEBTORS", "ERRORS"],
        [
            (
                s.administration_id,
                s.administration,
                s.fetched,
                s.new,
                s.changed,
                s.closed,
                s.debtors_fetched,
                s.error or "-",
            )
            for s in summaries
        ],
        sys.stdout,
        right=(0, 2, 3, 4, 5, 6),
    )
    for s in summaries:
        if s.debtors_without_kind:
            noun = "debtor has" if s.debtors_without_kind == 1 else "debtors have"
            click.echo(
                f"{s.administration}: {s.debtors_without_kind} {noun} no kind (business or "
                "consumer) in the ledger and are treated as business; tagged kind-unknown"
            )
        for problem in s.problems:
            click.echo(f"  {problem}", err=True)


def _ids(ctx: Context, administration: str | None) -> list[int] | None:
    with ctx.store().begin() as conn:
        return admin_ids(conn, administration)


@click.command()
@administration_option
@click.option("--full", is_flag=True, help="Ignore the stored cursors and read everything.")
@click.option(
    "--allow-mass-close",
    is_flag=True,
    help="Let this sync close more of an administration's open items than "
    "[sync] max_close_share allows (default half).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help='Only enqueue the syncs for the workers ([tasks] engine = "procrastinate").',
)
@pass_context
def sync(
    ctx: Context, administration: str | None, full: bool, allow_mass_close: bool, no_wait: bool
) -> None:
    """Bring the store in line with the ledgers."""
    if no_wait:
        from connector.cli.tasks import enqueue_only

        enqueue_only(ctx, administration_ids=_ids(ctx, administration), full=full)
        return
    summaries = _run_sync(
        ctx,
        administration=administration,
        full=full,
        progress=progress(),
        allow_mass_close=allow_mass_close,
    )
    if not summaries:
        click.echo("nothing to sync; connect a ledger first: connector connect files --path DIR")
        return
    _print_summaries(summaries)
    failed = [s for s in summaries if not s.ok]
    if failed:
        noun = "administration" if len(failed) == 1 else "administrations"
        click.echo(
            f"connector: {len(failed)} {noun} failed to sync; the others are up to date", err=True
        )
        sys.exit(1)


@click.command()
@administration_option
@click.option("--debtor", metavar="CODE", help="Only this debtor.")
@json_option
@pass_context
def debtors(ctx: Context, administration: str | None, debtor: str | None, as_json: bool) -> None:
    """List debtors."""
    with ctx.store().begin() as conn:
        rows = records.list_debtors(conn, administration_ids=admin_ids(conn, administration))
    if debtor:
        rows = [r for r in rows if r.code == debtor]
    if as_json:
        write_json(
            [
                {
                    "administration": r.administration_id,
                    "code": r.code,
                    "name": r.name,
                    "email": r.email,
                    "kind": r.kind,
                    "kind_rule": describe_kind(r.kind, r.vat_number, r.kvk_number),
                    "phone": r.phone,
                    "city": r.city,
                    "country": r.country,
                    "iban": r.iban,
                    "vat_number": r.vat_number,
                    "kvk_number": r.kvk_number,
                    "language": r.language,
                }
                for r in rows
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ADM", "CODE", "NAME", "KIND", "EMAIL", "CITY"],
        [
            (
                r.administration_id,
                r.code,
                r.name,
                describe_kind(r.kind, r.vat_number, r.kvk_number),
                r.email,
                r.city,
            )
            for r in rows
        ],
        sys.stdout,
        right=(0,),
    )


def _item_status(status: str, due: date, today: date, open_amount: Decimal = _ONE) -> str:
    """`overdue` for an open invoice past its due date; a credit note (a negative amount) is
    owed to the debtor, never overdue."""
    if status == ItemStatus.OPEN.value and due < today and open_amount > 0:
        return "overdue"
    return status


@click.command()
@administration_option
@click.option(
    "--status",
    type=click.Choice(["open", "overdue", "paid", "all"]),
    default="open",
    show_default=True,
    help="open includes overdue items.",
)
@click.option("--debtor", metavar="CODE", help="Only this debtor's items.")
@json_option
@pass_context
def items(
    ctx: Context, administration: str | None, status: str, debtor: str | None, as_json: bool
) -> None:
    """List open items (invoices and credit notes), with each debtor's name."""
    with ctx.store().begin() as conn:
        admins = {a.id: a for a in selected_admins(conn, administration)}
        stored = {"open": "open", "overdue": "open", "paid": "paid", "all": None}[status]
        rows = records.list_items(conn, administration_ids=list(admins), status=stored)
        names = {
            (d.administration_id, d.code): d.name
            for d in records.list_debtors(conn, administration_ids=list(admins))
        }
    if debtor:
        rows = [r for r in rows if r.debtor_code == debtor]
    today = {a.id: reports.local_today(a.timezone) for a in admins.values()}
    shown = [
        (r, _item_status(r.status, r.due_date, today[r.administration_id], r.open_amount))
        for r in rows
    ]
    if status == "overdue":
        shown = [(r, s) for r, s in shown if s == "overdue"]
    if as_json:
        write_json(
            [
                {
                    "administration": r.administration_id,
                    "id": r.id,
                    "external_id": r.external_id,
                    "invoice_number": r.invoice_number,
                    "debtor_code": r.debtor_code,
                    "debtor_name": names.get((r.administration_id, r.debtor_code), ""),
                    "invoice_date": r.invoice_date,
                    "due_date": r.due_date,
                    "currency": r.currency,
                    "open_amount": format_amount(r.open_amount, r.currency),
                    "status": s,
                }
                for r, s in shown
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ADM", "ID", "INVOICE", "DEBTOR", "NAME", "DUE", "CUR", "OPEN", "STATUS"],
        [
            (
                r.administration_id,
                r.id,
                r.invoice_number,
                r.debtor_code,
                names.get((r.administration_id, r.debtor_code), ""),
                r.due_date,
                r.currency,
                amount_text(r.open_amount),
                s,
            )
            for r, s in shown
        ],
        sys.stdout,
        right=(0, 1, 7),
    )


@click.group()
def report() -> None:
    """Reports over the open items."""


def _print_aging(rows: Sequence[reports.AgingRow], out: TextIO) -> None:
    write_table(
        [
            "ID",
            "ADMINISTRATION",
            "CUR",
            "NOT DUE",
            "1-30",
            "31-60",
            "61-90",
            ">90",
            "TOTAL",
            "ITEMS",
        ],
        [
            (
                r.administration_id,
                r.administration,
                r.currency,
                *(amount_text(r.buckets[b]) for b in reports.BUCKETS),
                amount_text(r.total),
                r.items,
            )
            for r in rows
        ],
        out,
        right=(0, 3, 4, 5, 6, 7, 8, 9),
    )


@report.command("aging")
@administration_option
@json_option
@pass_context
def report_aging(ctx: Context, administration: str | None, as_json: bool) -> None:
    """Open amounts by days overdue: not due, 1-30, 31-60, 61-90, over 90."""
    with ctx.store().begin() as conn:
        rows = reports.aging(conn, selected_admins(conn, administration))
    if as_json:
        write_json(
            [
                {
                    "administration": r.administration_id,
                    "name": r.administration,
                    "currency": r.currency,
                    **{b: format_amount(r.buckets[b], r.currency) for b in reports.BUCKETS},
                    "total": format_amount(r.total, r.currency),
                    "items": r.items,
                }
                for r in rows
            ],
            sys.stdout,
        )
    else:
        _print_aging(rows, sys.stdout)


@report.command("dso")
@administration_option
@json_option
@pass_context
def report_dso(ctx: Context, administration: str | None, as_json: bool) -> None:
    """Days sales outstanding (countback method) per administration."""
    with ctx.store().begin() as conn:
        rows = reports.dso(conn, selected_admins(conn, administration))
    if as_json:
        write_json(
            [
                {
                    "administration": r.administration_id,
                    "name": r.administration,
                    "currency": r.currency,
                    "receivables": format_amount(r.receivables, r.currency),
                    "dso_days": None if r.dso_days is None else f"{r.dso_days:f}",
                    "months_used": r.months_used,
                    "history_from": r.history_from,
                    "complete": r.complete,
                    "window_from": r.window_from,
                    "watched_since": r.watched_since,
                    "based_on": r.basis,
                }
                for r in rows
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADMINISTRATION", "CUR", "RECEIVABLES", "DSO (DAYS)", "HISTORY FROM"],
        [
            (
                r.administration_id,
                r.administration,
                r.currency,
                amount_text(r.receivables),
                "-"
                if r.dso_days is None
                else f"{r.dso_days}{'' if r.complete else ' (incomplete)'}",
                r.history_from or "-",
            )
            for r in rows
        ],
        sys.stdout,
        right=(0, 3, 4),
    )
    for r in rows:
        click.echo(f"  {r.administration}: {r.basis}")


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default="demo-data",
    show_default=True,
    help="Where to write the demo exports.",
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A SQLite file of its own for the demo (default: the configured store, if it holds "
    "nothing but the demo).",
)
@click.option(
    "--days",
    type=click.IntRange(0, 366),
    default=0,
    show_default=True,
    help="Then run the dunning forward this many days, so every kind of letter is shown.",
)
@pass_context
def demo(ctx: Context, data_dir: str, store_path: str | None, days: int) -> None:
    """Run the main job end to end on shipped demo data: init, connect, sync, aging."""
    from connector.demo import materialize
    from connector.demo import refuse_real_store

    if store_path is not None:
        ctx.use_store(f"sqlite:///{Path(store_path).resolve()}")
    store = ctx.store(migrated=False)
    if store.revision() is not None:  # before anything is written, not even a migration
        with store.begin() as conn:
            refuse_real_store(records.list_connections(conn), store.describe())
    store.migrate()
    folder = materialize(Path(data_dir), date.today())  # noqa: DTZ011 - shifted per admin tz below
    ledger = registry.ledger_factory("files")({"path": str(folder.resolve())})
    with store.begin() as conn:
        connection = records.save_connection(
            conn,
            name="demo",
            ledger="files",
            config={"path": str(folder.resolve())},
            now=datetime.now(UTC),
        )
    admins = discover(store, connection, ledger)
    summaries = sync_and_record(
        store, ctx.ledger_for, administration_ids=[a.id for a in admins], progress=progress()
    )
    click.echo(f"demo data in {folder}/, store {store.describe()}\n")
    _print_summaries(summaries)
    with store.begin() as conn:
        rows = reports.aging(conn, admins)
    click.echo("\nAging of open items (EUR):")
    _print_aging(rows, sys.stdout)
    if any(not s.ok for s in summaries):
        sys.exit(1)
    _demo_config(ctx)
    runner = _demo_dunning(ctx, admins)
    if days:
        from connector.cli.demo_forward import print_kinds
        from connector.cli.demo_forward import run_forward

        click.echo(f"\nRunning the dunning forward {days} days (weekdays):")
        print_kinds(run_forward(runner, admins, date.today(), days))  # noqa: DTZ011 - as above
    click.echo(
        "\nNext: connector dunning history | connector items --status overdue | "
        "connector report dso | connector --help"
    )


def _demo_config(ctx: Context) -> None:
    """Without a config file, write ./connector.toml with the demo senders and review mode, so
    that the commands after the demo (`dunning plan`, `dunning preview`, `check`) see the
    letters as the demo made them. An existing config file is never touched."""
    from connector.demo import sender_config_toml
    from connector.settings import DEFAULT_CONFIG

    if ctx.settings.config_path is not None or Path(DEFAULT_CONFIG).exists():
        return
    Path(DEFAULT_CONFIG).write_text(
        "# Written by `connector demo`: the demo administrations' fictitious senders, and\n"
        "# review mode (letters are written to ./review, nothing is sent).\n"
        '[dunning]\nmode = "review"\n\n' + sender_config_toml(),
        encoding="utf-8",
    )
    click.echo(f"\nwrote {DEFAULT_CONFIG}: the demo senders, and dunning in review mode")


def _demo_dunning(ctx: Context, admins: list[AdministrationRecord]) -> Dunning:
    """The dunning run of the demo, in review mode: every letter is written to the review
    folder as the .eml and PDF it would be sent as; nothing is sent."""
    from dataclasses import replace
    from types import MappingProxyType

    from connector.cli.dunning import build_channels
    from connector.cli.dunning import build_renderer
    from connector.cli.dunning import dunning_config
    from connector.demo import demo_senders
    from connector.dunning.policy import AdministrationSettings
    from connector.dunning.policy import Mode
    from connector.dunning.run import Dunning

    store = ctx.store()
    config = dunning_config(ctx)
    # The demo administrations send as their fictitious senders, in review mode; what the
    # configuration says about an administration of the same name wins for the sender.
    own = dict(config.administrations)
    for name, sender in demo_senders().items():
        found = own.get(name, AdministrationSettings())
        own[name] = replace(
            found,
            mode=Mode.REVIEW,
            approval=None,
            sender=MappingProxyType({**sender, **found.sender}),
        )
    config = replace(config, administrations=MappingProxyType(own))
    channels = build_channels(ctx, config, store)
    runner = Dunning(
        store,
        config,
        ledger_for=ctx.ledger_for,
        channels=channels,
        renderer=build_renderer(config, admins),
    )
    report = runner.run(admins)
    click.echo(f"\nDunning run in review mode (written to ./{config.review_folder}, nothing sent):")
    rows = []
    paths: list[str] = []
    reasons: dict[str, int] = {}
    for run in report.administrations:
        rows.append(
            (
                run.administration,
                run.planned,
                len(run.reviewed),
                len(run.blocked),
                len(run.sent),
                len(run.retry),
                run.error or "-",
            )
        )
        for outcome in run.reviewed:
            paths.extend(ref for ref in outcome.references if ref.endswith(".eml"))
        for outcome in run.blocked:
            reasons[outcome.detail] = reasons.get(outcome.detail, 0) + 1
    write_table(
        ["ADMINISTRATION", "PLANNED", "REVIEW", "BLOCKED", "SENT", "RETRY", "ERRORS"],
        rows,
        sys.stdout,
        right=(1, 2, 3, 4, 5),
    )
    if reasons:
        click.echo("\nHeld (blocked), by reason:")
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {count:4d}  blocked: {reason}")
    if paths:
        click.echo(
            f"\n{len(paths)} letters in {config.review_folder}/ (each .eml with its .pdf), e.g.:"
        )
        for path in sorted(paths)[:5]:
            click.echo(f"  {path}")
    return runner
