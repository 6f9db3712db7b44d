"""Dunning commands: plan, run, approve, history; disputes, arrangements, pauses, call tasks."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import ROUND_DOWN
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection
from sqlalchemy import select

from connector import registry
from connector.channels.base import Channel
from connector.channels.base import PaymentLinks
from connector.channels.base import Renderer
from connector.channels.call import CallChannel
from connector.channels.collection import CollectionChannel
from connector.cli.channels import message_channels as configured_channels
from connector.cli.context import Context
from connector.cli.context import administration_option
from connector.cli.context import check_administration_refs
from connector.cli.context import json_option
from connector.cli.context import pass_context
from connector.cli.context import selected_admins
from connector.domain import Debtor
from connector.domain import ItemStatus
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import currency_exponent
from connector.domain import format_amount
from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.plan import PlannedAction
from connector.dunning.plan import PlanResult
from connector.dunning.policy import DunningConfig
from connector.dunning.policy import load_dunning_config
from connector.dunning.run import Dunning
from connector.dunning.run import RunReport
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import ArrangementStatus
from connector.dunning.tables import OverrideKind
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.errors import NotFound
from connector.output import amount_text
from connector.output import write_json
from connector.output import write_table
from connector.payments.links import StoreLinkStore
from connector.reports import local_today
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.schema import open_items

DATE = click.DateTime(formats=["%Y-%m-%d"])
logger = logging.getLogger("connector.dunning")


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Wiring: configuration, channels, renderer
# --------------------------------------------------------------------------------------------


def dunning_config(ctx: Context) -> DunningConfig:
    config = load_dunning_config(ctx.settings)
    check_administration_refs(ctx)  # `[administrations.acmee]` names nothing: exit 2, one line
    return config


def build_renderer(config: DunningConfig, admins: Sequence[AdministrationRecord]) -> Renderer:
    """The template renderer, with per-administration template folders from the config."""
    from connector.dunning.render import TemplateRenderer

    own: dict[int, str] = {}
    for admin in admins:
        settings = config.for_administration(admin.id, admin.external_id, admin.name)
        if settings.templates_dir:
            own[admin.id] = settings.templates_dir
    return TemplateRenderer(templates_dir=config.templates_dir, templates_dirs=own)


def build_channels(ctx: Context, config: DunningConfig, store: Store) -> dict[ChannelKind, Channel]:
    """The channels dunning can use. Call tasks and the collection hand-over live in the
    store and a folder; e-mail, letter and outbox are wired by `message_channels`."""
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.CALL: CallChannel(store),
        ChannelKind.COLLECTION: CollectionChannel(store, Path(config.collection_folder)),
    }
    channels.update(message_channels(ctx, config))
    return channels


def message_channels(ctx: Context, config: DunningConfig) -> dict[ChannelKind, Channel]:
    """E-mail, PDF letter and files outbox channels from `[channels.*]` (see
    connector.cli.channels); one that is not configured is absent."""
    return configured_channels(ctx.settings, os.environ)


def email_options(channels: dict[ChannelKind, Channel]) -> Any:
    """The configured e-mail channel's message options (From, Reply-To, domain), so that a
    review or preview .eml is the message the e-mail channel would send; None without one."""
    return getattr(channels.get(ChannelKind.EMAIL), "options", None)


def make_dunning(ctx: Context, admins: Sequence[AdministrationRecord]) -> Dunning:
    config = dunning_config(ctx)
    store = ctx.store()
    channels = build_channels(ctx, config, store)
    return Dunning(
        store,
        config,
        ledger_for=ctx.ledger_for,
        channels=channels,
        renderer=build_renderer(config, admins),
        payment_links=payment_links(ctx),
        message_options=email_options(channels),
    )


def payment_links(ctx: Context) -> PaymentLinks | None:
    """`[payment_links] provider = "mollie"|"stripe"` (other keys go to the provider); the
    API key comes from CONNECTOR_<PROVIDER>_API_KEY. Links are kept in the store."""
    section = dict(ctx.settings.section("payment_links"))
    name = section.pop("provider", None)
    if name is None:
        return None
    where = f"{ctx.settings.config_path or 'connector.toml'}: payment_links.provider"
    factory = registry.provider_links(str(name))
    if factory is None:
        msg = f"{where}: {name} cannot make payment links; use mollie or stripe"
        raise ConfigError(msg)
    env = f"CONNECTOR_{str(name).upper()}_API_KEY"
    section["api_key"] = os.environ.get(env, "")
    if not section["api_key"]:
        msg = f"{env} is not set; payment links need the provider's API key"
        raise ConfigError(msg)
    links: PaymentLinks = factory(section, StoreLinkStore(ctx.store()))
    return links


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def _letter_json(action: PlannedAction) -> dict[str, Any]:
    letter = action.letter
    cur = letter.currency
    return {
        "administration": letter.administration_id,
        "debtor_code": letter.debtor.code,
        "step": letter.step_name,
        "channels": [c.value for c in letter.channels],
        "invoice_numbers": [i.invoice_number for i in letter.items],
        "principal": format_amount(letter.principal, cur),
        "collection_costs": format_amount(
            letter.collection_costs + letter.collection_costs_vat, cur
        ),
        "interest": format_amount(letter.interest, cur),
        "total": format_amount(letter.total, cur),
        "currency": cur,
        "key": letter.key,
        "cycle": action.cycle,
        "letter_date": letter.letter_date,
        "pay_by": letter.pay_by,
        "payment_reference": letter.payment_reference,
        "legal_term_end": letter.legal_term.term_end if letter.legal_term else None,
        "debtor_name": letter.debtor.name,
        "approval": action.approval,
        "status": "blocked" if action.hold else ("approval" if action.approval else "ready"),
        "blocked": action.hold or None,
        "notes": list(action.notes),
    }


def _debtor_label(debtor: Debtor) -> str:
    """`D1 Bakkerij De Korf B.V.`: the code and, beside it, the name (cut to fit a table)."""
    name = debtor.name if debtor.name != debtor.code else ""
    if len(name) > 28:
        name = name[:27] + "…"
    return f"{debtor.code} {name}".strip()


def _print_plan(result: PlanResult, names: dict[int, str], rates_source: str = "") -> None:
    if result.rates_end is not None:
        click.echo(
            f"interest rate table ends {result.rates_end}: letters that would charge interest "
            f"are held; add the rates from {result.rates_end + timedelta(days=1)} to "
            f"{rates_source or '[dunning] interest_rates_file'}\n"
        )
    write_table(
        [
            "ADMINISTRATION",
            "DEBTOR",
            "STEP",
            "CHANNELS",
            "ITEMS",
            "PRINCIPAL",
            "COSTS",
            "INTEREST",
            "TOTAL",
            "STATUS",
        ],
        [
            (
                names.get(a.letter.administration_id, a.letter.administration_id),
                _debtor_label(a.letter.debtor),
                a.letter.step_name,
                ",".join(c.value for c in a.letter.channels),
                len(a.letter.items),
                amount_text(a.letter.principal),
                amount_text(a.letter.collection_costs + a.letter.collection_costs_vat),
                amount_text(a.letter.interest),
                amount_text(a.letter.total),
                "blocked" if a.hold else ("approval" if a.approval else "ready"),
            )
            for a in result.actions
        ],
        sys.stdout,
        right=(4, 5, 6, 7, 8),
    )
    for action in result.actions:
        if action.hold:
            click.echo(f"  {action.key}: blocked: {action.hold}")
        for note in action.notes:
            click.echo(f"  {action.key}: {note}")
    if result.waiting:
        click.echo(f"\n{len(result.waiting)} letter(s) wait:")
        for w in result.waiting[:50]:
            click.echo(f"  {w.administration_id}/{w.debtor_code} {w.step_name}: {w.reason}")
        if len(result.waiting) > 50:
            click.echo(f"  ... and {len(result.waiting) - 50} more")
    if result.skipped:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
        click.echo(f"\nitems not dunned: {parts}")


def _print_report(report: RunReport) -> None:
    for run in report.administrations:
        click.echo(f"{run.administration} ({run.date}):")
        if run.error:
            click.echo(f"  error: {run.error}")
            continue
        click.echo(
            f"  re-read {run.reread} item(s) from the ledger, {run.closed} changed or paid; "
            f"{run.planned} letter(s) planned, {run.stored} stored, {len(run.sent)} sent"
        )
        if run.awaiting_approval:
            click.echo(
                f"  {run.awaiting_approval} letter(s) await approval: connector dunning approve"
            )
        for outcome in run.sent:
            where = ", ".join(outcome.references)
            click.echo(f"  sent {outcome.key}" + (f": {where}" if where else ""))
        if run.reviewed:
            click.echo(
                f"  review mode: {len(run.reviewed)} letter(s) written for reading, none sent"
            )
        for outcome in run.blocked:
            click.echo(f"  held {outcome.key}: blocked: {outcome.detail}")
        for outcome in run.cancelled:
            click.echo(f"  cancelled {outcome.key}: {outcome.detail}")
        for outcome in run.retry:
            click.echo(f"  not sent, retried next run: {outcome.key}: {outcome.detail}")
        for outcome in [*run.recovered, *run.uncertain]:
            click.echo(
                f"  UNCERTAIN {outcome.key} (action {outcome.id}): {outcome.detail}; check "
                f"and run: connector dunning resolve {outcome.id} --sent|--not-sent"
            )


# --------------------------------------------------------------------------------------------
# connector dunning ...
# --------------------------------------------------------------------------------------------


@click.group()
def dunning() -> None:
    """Plan, send, approve and review dunning letters."""


@dunning.command("plan")
@click.option("--date", "on_date", type=DATE, help="Plan for this date (default: today).")
@click.option("--debtor", metavar="CODE", help="Only this debtor's letters.")
@administration_option
@json_option
@pass_context
def plan_command(
    ctx: Context,
    on_date: datetime | None,
    debtor: str | None,
    administration: str | None,
    as_json: bool,
) -> None:
    """What a run would send, from the store as it is (the run re-reads the ledger first)."""
    with ctx.store().begin() as conn:
        admins = selected_admins(conn, administration)
    config = dunning_config(ctx)
    runner = Dunning(ctx.store(), config, ledger_for=ctx.ledger_for, channels={})
    result = runner.plan_only(admins, _day(on_date))
    if debtor:
        result.actions = [a for a in result.actions if a.letter.debtor.code == debtor]
        result.waiting = [w for w in result.waiting if w.debtor_code == debtor]
    if as_json:
        write_json([_letter_json(a) for a in result.actions], sys.stdout)
        return
    _print_plan(result, {a.id: a.name for a in admins}, config.rate_table_source)


@dunning.command("run")
@click.option("--date", "on_date", type=DATE, help="Run as on this date (default: today).")
@click.option("--dry-run", is_flag=True, help="Print the plan; read, store and send nothing.")
@administration_option
@pass_context
def run_command(
    ctx: Context, on_date: datetime | None, dry_run: bool, administration: str | None
) -> None:
    """Re-read the ledger, then store and send the letters that are due."""
    with ctx.store().begin() as conn:
        admins = selected_admins(conn, administration)
    if dry_run:
        config = dunning_config(ctx)
        runner = Dunning(ctx.store(), config, ledger_for=ctx.ledger_for, channels={})
        click.echo("dry run: nothing is read, stored or sent\n")
        _print_plan(
            runner.plan_only(admins, _day(on_date)),
            {a.id: a.name for a in admins},
            config.rate_table_source,
        )
        return
    report = make_dunning(ctx, admins).run(admins, on_date=_day(on_date))
    _print_report(report)
    if not report.ok:
        sys.exit(1)


@dunning.command("preview")
@click.argument("target", metavar="DEBTOR|LETTER")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder to write into (default: [dunning] review_folder).",
)
@click.option("--date", "on_date", type=DATE, help="As on this date (default: today).")
@administration_option
@pass_context
def preview_command(
    ctx: Context,
    target: str,
    out_dir: str | None,
    on_date: datetime | None,
    administration: str | None,
) -> None:
    """Write the exact e-mail (.eml) and PDF a letter would be sent as, and send nothing.

    LETTER is a letter's id or key from `connector dunning history`; DEBTOR a debtor code,
    whose letters of today's plan are written."""
    with ctx.store().begin() as conn:
        admins = selected_admins(conn, administration)
        by_id = {a.id: a for a in admins}
        stored: list[dstore.ActionRecord] = []
        if target.isdigit():
            found = dstore.list_actions(conn, administration_ids=list(by_id))
            stored = [a for a in found if a.id == int(target)]
        if not stored and "/" in target:
            found = dstore.list_actions(conn, administration_ids=list(by_id))
            stored = [a for a in found if a.key == target]
    runner = make_dunning(ctx, admins)
    folder = Path(out_dir or runner.config.review_folder)
    written: list[str] = []
    held: list[str] = []
    if stored:
        action = stored[0]
        admin = by_id[action.administration_id]
        today = _day(on_date) or local_today(admin.timezone, _now())
        letter, path = runner.preview(admin, action, today, folder)
        written.append(path)
        if action.status == ActionStatus.BLOCKED.value:
            held.append(f"{action.key}: blocked: {action.status_reason}")
    else:
        result = runner.plan_only(admins, _day(on_date))
        mine = [a for a in result.actions if a.letter.debtor.code == target]
        if not mine:
            msg = (
                f"no letter {target!r}: give a letter's id or key (connector dunning history) "
                "or the code of a debtor with a letter in today's plan (connector dunning plan)"
            )
            raise NotFound(msg)
        for planned in mine:
            admin = by_id[planned.letter.administration_id]
            letter = runner.with_payment_link(runner.with_invoice_copies(admin, planned.letter))
            written.append(runner.write_preview(letter, folder))
            if planned.hold:
                held.append(f"{planned.key}: blocked: {planned.hold}")
    for path in written:
        pdf = Path(path).with_suffix(".pdf")
        click.echo(f"{path}" + (f"  {pdf}" if pdf.exists() and path.endswith(".eml") else ""))
    for line in held:
        click.echo(f"  not sendable as it is: {line}")


@dunning.command("approve")
@click.argument("action_ids", nargs=-1, type=int)
@click.option("--debtor", metavar="CODE", help="Every letter awaiting approval for this debtor.")
@click.option("--all", "approve_all", is_flag=True, help="Every letter awaiting approval.")
@administration_option
@pass_context
def approve_command(
    ctx: Context,
    action_ids: tuple[int, ...],
    debtor: str | None,
    approve_all: bool,
    administration: str | None,
) -> None:
    """Release letters that wait for approval; the next run sends them."""
    if not (action_ids or debtor or approve_all):
        msg = "say what to approve: action ids, --debtor CODE or --all"
        raise ConfigError(msg)
    with ctx.store().begin() as conn:
        admins = [a.id for a in selected_admins(conn, administration)]
        approved = dstore.approve(
            conn,
            _now(),
            administration_ids=admins,
            action_ids=list(action_ids) or None,
            debtor_code=debtor,
        )
    if action_ids:
        missing = sorted(set(action_ids) - set(approved))
        if missing:
            click.echo(f"not awaiting approval: {', '.join(map(str, missing))}", err=True)
    click.echo(f"approved {len(approved)} letter(s); the next `connector dunning run` sends them")


def _action_json(action: dstore.ActionRecord) -> dict[str, Any]:
    cur = action.currency
    return {
        "id": action.id,
        "key": action.key,
        "administration": action.administration_id,
        "debtor_code": action.debtor_code,
        "step": action.step_name,
        "cycle": action.cycle,
        "status": action.status,
        "status_reason": action.status_reason,
        "channels": [c.value for c in action.channels],
        "planned_on": action.planned_on,
        "sent_at": action.sent_at,
        "sent_on": action.sent_on,
        "delivered_on": action.delivered_on,
        "term_end": action.term_end,
        "principal": format_amount(action.principal, cur),
        "collection_costs": format_amount(
            action.collection_costs + action.collection_costs_vat, cur
        ),
        "interest": format_amount(action.interest, cur),
        "total": format_amount(action.total, cur),
        "currency": cur,
        "payment_reference": action.payment_reference,
        "notes": action.notes.splitlines(),
    }


@dunning.command("history")
@administration_option
@click.option(
    "--status",
    type=click.Choice([s.value for s in ActionStatus]),
    multiple=True,
    help="Only actions with this status (repeatable).",
)
@click.option("--debtor", metavar="CODE", help="Only this debtor.")
@json_option
@pass_context
def history_command(
    ctx: Context,
    administration: str | None,
    status: tuple[str, ...],
    debtor: str | None,
    as_json: bool,
) -> None:
    """Every dunning letter: what was planned, sent, is waiting or uncertain."""
    with ctx.store().begin() as conn:
        admins = selected_admins(conn, administration)
        actions = dstore.list_actions(
            conn,
            administration_ids=[a.id for a in admins],
            statuses=list(status) or None,
            debtor_code=debtor,
        )
        residuals = dstore.residual_claims(conn, [a.id for a in admins])
    if as_json:
        write_json([_action_json(a) for a in actions], sys.stdout)
        return
    write_table(
        ["ID", "ADM", "DEBTOR", "STEP", "CYCLE", "STATUS", "CHANNELS", "PLANNED", "SENT", "TOTAL"],
        [
            (
                a.id,
                a.administration_id,
                a.debtor_code,
                a.step_name,
                a.cycle,
                a.status,
                ",".join(c.value for c in a.channels),
                a.planned_on,
                a.sent_on or "-",
                amount_text(a.total),
            )
            for a in actions
        ],
        sys.stdout,
        right=(0, 1, 4, 9),
    )
    for a in actions:
        if (
            a.status
            in (
                ActionStatus.UNCERTAIN.value,
                ActionStatus.PENDING.value,
                ActionStatus.BLOCKED.value,
                ActionStatus.REVIEW.value,
            )
            and a.status_reason
        ):
            click.echo(f"  {a.id} {a.status}: {a.status_reason}")
    for action, residual in residuals:
        click.echo(
            f"  residual claim {action.key}: {amount_text(residual)} {action.currency} of costs "
            "and interest is still owed although the ledger shows the invoices paid "
            "(art. 6:44 BW); book it in the ledger to collect it"
        )


@dunning.command("resolve")
@click.argument("action_id", type=int)
@click.option("--sent", "delivered", flag_value=True, default=None, help="It did go out.")
@click.option("--not-sent", "delivered", flag_value=False, help="It did not go out.")
@pass_context
def resolve_command(ctx: Context, action_id: int, delivered: bool | None) -> None:
    """Settle an uncertain letter after checking whether it went out."""
    if delivered is None:
        msg = "say whether the letter went out: --sent or --not-sent"
        raise ConfigError(msg)
    with ctx.store().begin() as conn:
        status = dstore.resolve_uncertain(conn, action_id, delivered=delivered, now=_now())
    click.echo(f"action {action_id} is now {status}")


# --------------------------------------------------------------------------------------------
# Items and debtors named on the command line
# --------------------------------------------------------------------------------------------


def find_item(conn: Connection, ref: str, administration: str | None) -> Any:
    """An open item by store id, ledger id or invoice number; ambiguity is an error."""
    admins = [a.id for a in selected_admins(conn, administration)]
    i = open_items.c
    base = select(open_items).where(i.administration_id.in_(admins))
    if ref.isdigit():
        row = conn.execute(base.where(i.id == int(ref))).first()
        if row is not None:
            return row
    rows = conn.execute(base.where((i.external_id == ref) | (i.invoice_number == ref))).all()
    if not rows:
        msg = f"no item {ref!r}; see: connector items"
        raise NotFound(msg)
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        msg = f"{ref!r} names several items (ids {ids}); use the id or --administration"
        raise ConfigError(msg)
    return rows[0]


def find_debtor_admin(
    conn: Connection, code: str, administration: str | None
) -> AdministrationRecord:
    from connector.store.schema import debtors

    admins = selected_admins(conn, administration)
    holding = [
        a
        for a in admins
        if conn.execute(
            select(debtors.c.id)
            .where(debtors.c.administration_id == a.id)
            .where(debtors.c.code == code)
        ).first()
        is not None
        or conn.execute(
            select(open_items.c.id)
            .where(open_items.c.administration_id == a.id)
            .where(open_items.c.debtor_code == code)
        ).first()
        is not None
    ]
    if not holding:
        msg = f"no debtor {code!r}; see: connector debtors"
        raise NotFound(msg)
    if len(holding) > 1:
        names = ", ".join(f"{a.id} ({a.name})" for a in holding)
        msg = f"debtor {code!r} is in several administrations ({names}); use --administration"
        raise ConfigError(msg)
    return holding[0]


def _domain_item(row: Any) -> OpenItem:
    return OpenItem(
        external_id=row.external_id,
        invoice_number=row.invoice_number,
        debtor_code=row.debtor_code,
        invoice_date=row.invoice_date,
        due_date=row.due_date,
        open_amount=Money(row.open_amount, row.currency),
        amount=None if row.amount is None else Money(row.amount, row.currency),
        description=row.description,
    )


# --------------------------------------------------------------------------------------------
# connector dispute ...
# --------------------------------------------------------------------------------------------


@click.group()
def dispute() -> None:
    """Disputes pause dunning for one item until they are resolved."""


def _tell_ledger(
    ctx: Context, admin: AdministrationRecord, item: Any, flag: bool, reason: str, key: str
) -> str:
    """Tell the ledger about the dispute when it can take it; a line for the user."""
    with ctx.store().begin() as conn:
        connection = records.find_connection(conn, str(admin.connection_id))
    try:
        ledger = ctx.ledger_for(connection)
        if not ledger.capabilities.flag_dispute:
            return f"the {ledger.name} ledger cannot record disputes; it was not told"
        if flag:
            ledger.flag_dispute(admin.domain(), _domain_item(item), reason, key)
        else:
            ledger.clear_dispute(admin.domain(), _domain_item(item), key)
    except ConnectorError as exc:
        return f"the ledger was not told ({exc}); dunning is paused here all the same"
    return "the ledger was told"


@dispute.command("open")
@click.argument("item")
@click.option("--reason", required=True, help="Why the debtor disputes the invoice.")
@administration_option
@pass_context
def dispute_open(ctx: Context, item: str, reason: str, administration: str | None) -> None:
    """Open a dispute on ITEM (id, ledger id or invoice number): dunning pauses for it."""
    with ctx.store().begin() as conn:
        row = find_item(conn, item, administration)
        admin = records.find_administration(conn, str(row.administration_id))
        record = dstore.open_dispute(conn, row.id, reason, _now())
    told = "the ledger was told earlier"
    if not record.ledger_flagged:
        told = _tell_ledger(ctx, admin, row, True, reason, f"dispute-{record.id}-open")
        if told == "the ledger was told":
            with ctx.store().begin() as conn:
                dstore.mark_dispute_flagged(conn, record.id)
    click.echo(f"dispute {record.id} open on {row.invoice_number}: dunning paused; {told}")


@dispute.command("resolve")
@click.argument("item")
@click.option("--note", default="resolved", show_default=True, help="How it was resolved.")
@administration_option
@pass_context
def dispute_resolve(ctx: Context, item: str, note: str, administration: str | None) -> None:
    """Resolve the dispute on ITEM: dunning resumes where it stopped."""
    with ctx.store().begin() as conn:
        row = find_item(conn, item, administration)
        admin = records.find_administration(conn, str(row.administration_id))
        record = dstore.resolve_dispute(conn, row.id, note, _now())
    if record is None:
        msg = f"{row.invoice_number} has no open dispute"
        raise ConfigError(msg)
    told = ""
    if record.ledger_flagged:
        told = "; " + _tell_ledger(ctx, admin, row, False, note, f"dispute-{record.id}-resolve")
    click.echo(f"dispute {record.id} on {row.invoice_number} resolved: dunning resumes{told}")


@dispute.command("list")
@administration_option
@click.option("--all", "show_all", is_flag=True, help="Resolved disputes too.")
@json_option
@pass_context
def dispute_list(ctx: Context, administration: str | None, show_all: bool, as_json: bool) -> None:
    """Disputes (open ones unless --all)."""
    with ctx.store().begin() as conn:
        admins = [a.id for a in selected_admins(conn, administration)]
        found = dstore.list_disputes(conn, admins, open_only=not show_all)
    if as_json:
        write_json(
            [
                {
                    "id": d.id,
                    "administration": d.administration_id,
                    "item_id": d.item_id,
                    "invoice_number": d.invoice_number,
                    "debtor_code": d.debtor_code,
                    "status": d.status,
                    "reason": d.reason,
                    "resolution": d.resolution,
                    "ledger_flagged": d.ledger_flagged,
                    "opened_at": d.opened_at,
                    "resolved_at": d.resolved_at,
                }
                for d in found
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADM", "INVOICE", "DEBTOR", "STATUS", "OPENED", "REASON"],
        [
            (
                d.id,
                d.administration_id,
                d.invoice_number,
                d.debtor_code,
                d.status,
                d.opened_at.strftime("%Y-%m-%d"),
                d.reason,
            )
            for d in found
        ],
        sys.stdout,
        right=(0, 1),
    )


# --------------------------------------------------------------------------------------------
# connector arrangement ...
# --------------------------------------------------------------------------------------------

_EVERY = re.compile(r"^(\d+)([dwm])$")


def parse_every(value: str) -> tuple[int, str]:
    match = _EVERY.match(value.strip().lower())
    if match is None or int(match.group(1)) < 1:
        msg = f"--every: expected a period such as 1m, 2w or 14d, got {value!r}"
        raise ConfigError(msg)
    return int(match.group(1)), match.group(2)


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, on the last day of a shorter month (31 Jan + 1m = 28 Feb)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    msg = "unreachable"  # pragma: no cover
    raise AssertionError(msg)


def instalment_dates(first: date, count: int, every: str) -> list[date]:
    n, unit = parse_every(every)
    if unit == "m":
        return [add_months(first, k * n) for k in range(count)]
    step = timedelta(days=n * (7 if unit == "w" else 1))
    return [first + k * step for k in range(count)]


def split_amount(total: Decimal, count: int, currency: str) -> list[Decimal]:
    """`total` in `count` instalments of whole minor units; the last takes the remainder."""
    quantum = Decimal(1).scaleb(-currency_exponent(currency))
    part = (total / count).quantize(quantum, rounding=ROUND_DOWN)
    return [part] * (count - 1) + [total - part * (count - 1)]


@click.group()
def arrangement() -> None:
    """Payment arrangements: a debtor's open items in instalments, not dunned while kept."""


@arrangement.command("create")
@click.option("--debtor", "code", required=True, metavar="CODE", help="The debtor.")
@click.option("--instalments", type=click.IntRange(min=1, max=120), required=True)
@click.option("--first", type=DATE, required=True, help="Due date of the first instalment.")
@click.option("--every", default="1m", show_default=True, help="Period: 1m, 2w, 14d ...")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    default=None,
    help="Days after an instalment's date before it counts as missed "
    "(default: [dunning] arrangement_grace_days, 5).",
)
@administration_option
@pass_context
def arrangement_create(
    ctx: Context,
    code: str,
    instalments: int,
    first: datetime,
    every: str,
    grace: int | None,
    administration: str | None,
) -> None:
    """Spread the debtor's open items over instalments."""
    config = dunning_config(ctx)
    dates = instalment_dates(first.date(), instalments, every)
    with ctx.store().begin() as conn:
        admin = find_debtor_admin(conn, code, administration)
        i = open_items.c
        rows = conn.execute(
            select(i.id, i.open_amount, i.currency)
            .where(i.administration_id == admin.id)
            .where(i.debtor_code == code)
            .where(i.status == ItemStatus.OPEN.value)
            .order_by(i.due_date, i.id)
        ).all()
        currencies = {row.currency for row in rows}
        total = sum((row.open_amount for row in rows), Decimal(0))
        if not rows or total <= 0:
            msg = f"debtor {code} has nothing open to arrange"
            raise ConfigError(msg)
        if len(currencies) > 1:
            msg = f"debtor {code} has items in several currencies; arrange them separately"
            raise ConfigError(msg)
        currency = currencies.pop()
        total = total.quantize(Decimal(1).scaleb(-currency_exponent(currency)))
        amounts = split_amount(total, instalments, currency)
        arrangement_id = dstore.create_arrangement(
            conn,
            administration_id=admin.id,
            debtor_code=code,
            instalments=list(zip(dates, amounts, strict=True)),
            items=[(row.id, row.open_amount) for row in rows],
            currency=currency,
            every=every,
            grace_days=config.arrangement_grace_days if grace is None else grace,
            today=local_today(admin.timezone),
            now=_now(),
        )
    click.echo(
        f"arrangement {arrangement_id}: {format_amount(total, currency)} {currency} for debtor "
        f"{code} in {instalments} instalment(s) from {dates[0]} to {dates[-1]}; "
        f"{len(rows)} item(s) are not dunned while it is kept"
    )


@arrangement.command("list")
@administration_option
@json_option
@pass_context
def arrangement_list(ctx: Context, administration: str | None, as_json: bool) -> None:
    """Payment arrangements and their instalments."""
    with ctx.store().begin() as conn:
        admins = [a.id for a in selected_admins(conn, administration)]
        found = dstore.list_arrangements(conn, admins)
    if as_json:
        write_json(
            [
                {
                    "id": a.id,
                    "administration": a.administration_id,
                    "debtor_code": a.debtor_code,
                    "status": a.status,
                    "currency": a.currency,
                    "total": format_amount(a.total, a.currency),
                    "every": a.every,
                    "grace_days": a.grace_days,
                    "created_on": a.created_on,
                    "broken_on": a.broken_on,
                    "instalments": [
                        {"seq": seq, "due_on": due, "amount": format_amount(amount, a.currency)}
                        for seq, due, amount in a.instalments
                    ],
                    "item_ids": list(a.item_ids),
                }
                for a in found
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADM", "DEBTOR", "STATUS", "TOTAL", "INSTALMENTS", "FIRST", "LAST"],
        [
            (
                a.id,
                a.administration_id,
                a.debtor_code,
                a.status,
                amount_text(a.total),
                len(a.instalments),
                a.instalments[0][1] if a.instalments else "-",
                a.instalments[-1][1] if a.instalments else "-",
            )
            for a in found
        ],
        sys.stdout,
        right=(0, 1, 4, 5),
    )


@arrangement.command("cancel")
@click.argument("arrangement_id", type=int)
@pass_context
def arrangement_cancel(ctx: Context, arrangement_id: int) -> None:
    """Cancel an arrangement: dunning resumes where it stopped."""
    with ctx.store().begin() as conn:
        changed = dstore.set_arrangement_status(
            conn, arrangement_id, ArrangementStatus.CANCELLED, _now()
        )
    if not changed:
        msg = f"no active arrangement {arrangement_id}; see: connector arrangement list"
        raise ConfigError(msg)
    click.echo(f"arrangement {arrangement_id} cancelled: dunning resumes where it stopped")


# --------------------------------------------------------------------------------------------
# connector pause ...
# --------------------------------------------------------------------------------------------


@click.group()
def pause() -> None:
    """Pause (a mahnstop), exclude or re-route dunning for a debtor or one item."""


@pause.command("add")
@click.option("--item", metavar="ITEM", help="One item (id, ledger id or invoice number).")
@click.option("--debtor", "code", metavar="CODE", help="Every item of a debtor.")
@click.option("--until", type=DATE, help="Pause: dunning resumes on this day.")
@click.option("--exclude", is_flag=True, help="No dunning until the override is lifted.")
@click.option("--policy", metavar="NAME", help="Use this policy instead of the segment rules'.")
@click.option("--reason", default="", help="Why (shown in plans and history).")
@administration_option
@pass_context
def pause_add(
    ctx: Context,
    item: str | None,
    code: str | None,
    until: datetime | None,
    exclude: bool,
    policy: str | None,
    reason: str,
    administration: str | None,
) -> None:
    """Add an override: --until DATE (a pause), --exclude, or --policy NAME."""
    if (item is None) == (code is None):
        msg = "name either --item ITEM or --debtor CODE"
        raise ConfigError(msg)
    chosen = [until is not None, exclude, policy is not None]
    if sum(chosen) != 1:
        msg = "give exactly one of --until DATE, --exclude or --policy NAME"
        raise ConfigError(msg)
    if (until is not None or exclude) and not reason.strip():
        msg = "a pause or an exclusion needs a --reason"
        raise ConfigError(msg)
    if policy is not None:
        config = dunning_config(ctx)
        if policy not in config.policies:
            msg = f"no policy {policy!r}; known: {', '.join(sorted(config.policies))}"
            raise ConfigError(msg)
    kind = (
        OverrideKind.POLICY if policy else OverrideKind.EXCLUDE if exclude else OverrideKind.PAUSE
    )
    with ctx.store().begin() as conn:
        if item is not None:
            row = find_item(conn, item, administration)
            admin_id, debtor_code, item_id = row.administration_id, row.debtor_code, row.id
            what = f"item {row.invoice_number}"
        else:
            assert code is not None
            admin_id = find_debtor_admin(conn, code, administration).id
            debtor_code, item_id = code, None
            what = f"debtor {code}"
        override_id = dstore.add_override(
            conn,
            administration_id=admin_id,
            debtor_code=debtor_code,
            item_id=item_id,
            kind=kind,
            until=_day(until),
            policy=policy or "",
            reason=reason.strip(),
            now=_now(),
        )
    if kind is OverrideKind.PAUSE:
        effect = f"paused until {_day(until)}"
    elif kind is OverrideKind.EXCLUDE:
        effect = "excluded from dunning until lifted"
    else:
        effect = f"dunned under policy {policy}"
    click.echo(f"override {override_id}: {what} {effect}")


@pause.command("list")
@administration_option
@json_option
@pass_context
def pause_list(ctx: Context, administration: str | None, as_json: bool) -> None:
    """Active overrides."""
    with ctx.store().begin() as conn:
        admins = [a.id for a in selected_admins(conn, administration)]
        found = dstore.active_overrides(conn, admins)
    if as_json:
        write_json(
            [
                {
                    "id": o.id,
                    "administration": o.administration_id,
                    "debtor_code": o.debtor_code,
                    "item_id": o.item_id,
                    "kind": o.kind.value,
                    "until": o.until,
                    "policy": o.policy,
                    "reason": o.reason,
                }
                for o in found
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADM", "DEBTOR", "ITEM", "OVERRIDE"],
        [(o.id, o.administration_id, o.debtor_code, o.item_id or "-", o.describe()) for o in found],
        sys.stdout,
        right=(0, 1),
    )


@pause.command("lift")
@click.argument("override_id", type=int)
@pass_context
def pause_lift(ctx: Context, override_id: int) -> None:
    """Lift an override: dunning resumes where it stopped."""
    with ctx.store().begin() as conn:
        lifted = dstore.lift_override(conn, override_id, _now())
    if not lifted:
        msg = f"no active override {override_id}; see: connector pause list"
        raise ConfigError(msg)
    click.echo(f"override {override_id} lifted")


# --------------------------------------------------------------------------------------------
# connector tasks ...
# --------------------------------------------------------------------------------------------


@click.group(invoke_without_command=True)
@administration_option
@click.option("--all", "show_all", is_flag=True, help="Done tasks too.")
@json_option
@click.pass_context
def tasks(
    click_ctx: click.Context, administration: str | None, show_all: bool, as_json: bool
) -> None:
    """Call tasks from dunning (a person phones the debtor)."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    with ctx.store().begin() as conn:
        admins = [a.id for a in selected_admins(conn, administration)]
        found = dstore.list_tasks(conn, admins, open_only=not show_all)
    if as_json:
        write_json(
            [
                {
                    "id": t.id,
                    "administration": t.administration_id,
                    "debtor_code": t.debtor_code,
                    "debtor_name": t.debtor_name,
                    "phone": t.phone,
                    "due_on": t.due_on,
                    "status": t.status,
                    "letter": t.action_key,
                    "summary": t.summary,
                    "note": t.note,
                }
                for t in found
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADM", "DEBTOR", "NAME", "PHONE", "DUE", "STATUS", "LETTER"],
        [
            (
                t.id,
                t.administration_id,
                t.debtor_code,
                t.debtor_name,
                t.phone or "-",
                t.due_on,
                t.status,
                t.action_key,
            )
            for t in found
        ],
        sys.stdout,
        right=(0, 1),
    )


@tasks.command("done")
@click.argument("task_id", type=int)
@click.option("--note", default="", help="What came of the call.")
@pass_context
def tasks_done(ctx: Context, task_id: int, note: str) -> None:
    """Mark a call task done."""
    with ctx.store().begin() as conn:
        done = dstore.complete_task(conn, task_id, note, _now())
    if not done:
        msg = f"no open task {task_id}; see: connector tasks"
        raise ConfigError(msg)
    click.echo(f"task {task_id} done")


def dunning_job(config_path: str | None) -> None:
    """The scheduler's dunning job: one run over every administration, outcomes logged
    (for `standard_jobs(dunning="connector.cli.dunning:dunning_job", ...)`)."""
    ctx = Context(config_path=config_path, debug=False)
    try:
        with ctx.store().begin() as conn:
            admins = records.list_administrations(conn)
        report = make_dunning(ctx, admins).run(admins)
        for run in report.administrations:
            if run.error:
                logger.error("dunning %s: %s", run.administration, run.error)
                continue
            logger.info(  # routine: the outcome of a normal run
                "dunning %s (%s): %d planned, %d sent, %d to retry, %d await approval",
                run.administration,
                run.date,
                run.planned,
                len(run.sent),
                len(run.retry),
                run.awaiting_approval,
            )
            for outcome in [*run.recovered, *run.uncertain]:
                logger.error(
                    "dunning %s: %s is uncertain (%s); check it and run: connector dunning "
                    "resolve %d --sent|--not-sent",
                    run.administration,
                    outcome.key,
                    outcome.detail,
                    outcome.id,
                )
    finally:
        ctx.close()


COMMANDS = (dunning, dispute, arrangement, pause, tasks)
