"""Payments on the command line: webhook endpoints and secrets, suspense, the outbox."""

from __future__ import annotations

import os
import sys
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

import click
from sqlalchemy import select

from connector import registry
from connector.cli.context import Context
from connector.cli.context import json_option
from connector.cli.context import pass_context
from connector.domain import format_amount
from connector.errors import ConfigError
from connector.errors import NotFound
from connector.output import amount_text
from connector.output import write_json
from connector.output import write_table
from connector.payments import events as event_store
from connector.payments.outbox import retry as retry_outbox
from connector.payments.outbox import run_outbox
from connector.payments.processing import UNMATCHED
from connector.payments.processing import assign
from connector.payments.processing import process_pending
from connector.payments.tables import outbox as outbox_table
from connector.payments.tables import webhook_events
from connector.ports import Ledger
from connector.store import records
from connector.store.records import AdministrationRecord


def ledger_for_admin(ctx: Context, admin: AdministrationRecord) -> Ledger:
    with ctx.store().begin() as conn:
        connection = records.find_connection(conn, str(admin.connection_id))
    return ctx.ledger_for(connection)


@click.group()
def webhooks() -> None:
    """Webhook endpoints (one per tenant) and their provider secrets."""


@webhooks.command("create-endpoint")
@click.argument("name")
@click.option(
    "--administration",
    "administrations",
    multiple=True,
    required=True,
    metavar="ID",
    help="An administration this endpoint serves (repeat for more).",
)
@pass_context
def create_endpoint(ctx: Context, name: str, administrations: tuple[str, ...]) -> None:
    """Create an endpoint; its secret address is shown once."""
    with ctx.store().begin() as conn:
        ids = [records.find_administration(conn, ref).id for ref in administrations]
        endpoint, token = event_store.create_endpoint(
            conn, name=name, administration_ids=ids, now=datetime.now(UTC)
        )
    click.echo(f"endpoint {endpoint.name!r} for administrations {', '.join(map(str, ids))}")
    click.echo("give each payment provider this address (shown once; keep it secret):")
    click.echo(f"  /webhooks/{token}/<provider>   e.g. /webhooks/{token}/stripe")


def _check_provider(name: str) -> None:
    """A payment provider, or a ledger whose webhooks we verify; anything else is a typo."""
    if name in registry.available(registry.LEDGER_GROUP):
        if registry.ledger_webhooks(name) is None:
            msg = f"the {name} ledger sends no webhooks; nothing to keep a secret for"
            raise ConfigError(msg)
        return
    registry.provider_factory(name)


@webhooks.command("set-secret")
@click.argument("endpoint")
@click.argument("provider")
@click.option(
    "--from-env",
    "env_name",
    metavar="VAR",
    help="Read the secret from this environment variable instead of a prompt.",
)
@click.option("--replace", is_flag=True, help="Drop the provider's earlier secrets.")
@pass_context
def set_secret(
    ctx: Context, endpoint: str, provider: str, env_name: str | None, replace: bool
) -> None:
    """Store a provider's (or a ledger's) webhook secret for an endpoint, encrypted.

    Several secrets may be active at once during a rotation; --replace drops the old ones.
    """
    _check_provider(provider)
    if env_name:
        secret = os.environ.get(env_name, "")
        if not secret:
            msg = f"environment variable {env_name} is empty or not set"
            raise ConfigError(msg)
    else:
        secret = click.prompt(f"{provider} secret", hide_input=True)
    # The vault as every other command opens it: checked against every stored ciphertext,
    # so a secret is never added under a key that cannot open the rest (exit 2).
    vault = ctx.oauth().vault
    with ctx.store().begin() as conn:
        found = event_store.find_endpoint(conn, endpoint)
        dropped = event_store.drop_secrets(conn, found.id, provider) if replace else 0
        event_store.add_secret(conn, found.id, provider, vault.encrypt(secret), datetime.now(UTC))
    extra = f" (replaced {dropped})" if dropped else ""
    click.echo(f"stored the {provider} secret for endpoint {found.name!r}{extra}")


@webhooks.command("endpoints")
@json_option
@pass_context
def endpoints(ctx: Context, as_json: bool) -> None:
    """List endpoints, their administrations and the providers with secrets."""
    with ctx.store().begin() as conn:
        rows = event_store.list_endpoints(conn)
    if as_json:
        write_json(
            [
                {
                    "id": e.id,
                    "name": e.name,
                    "administrations": list(e.administration_ids),
                    "providers": providers,
                }
                for e, providers in rows
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "NAME", "ADMINISTRATIONS", "PROVIDERS"],
        [
            (e.id, e.name, ", ".join(map(str, e.administration_ids)), ", ".join(p) or "-")
            for e, p in rows
        ],
        sys.stdout,
        right=(0,),
    )


@click.group()
def payments() -> None:
    """Payments received through webhooks."""


def _event_rows(ctx: Context, status: str | None) -> list[Any]:
    query = select(webhook_events).order_by(webhook_events.c.id)
    if status is not None:
        query = query.where(webhook_events.c.status == status)
    with ctx.store().begin() as conn:
        return list(conn.execute(query))


def _print_events(rows: list[Any], as_json: bool) -> None:
    if as_json:
        write_json(
            [
                {
                    "id": r.id,
                    "provider": r.provider,
                    "event_id": r.event_id,
                    "kind": r.kind,
                    "payment_id": r.payment_id,
                    # A rejected event carries no usable amount (that may be why).
                    "amount": None
                    if r.status == event_store.REJECTED
                    else format_amount(r.amount, r.currency),
                    "currency": r.currency,
                    "received_at": r.received_at,
                    "description": r.description,
                    "status": r.status,
                    "detail": r.detail,
                }
                for r in rows
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "PROVIDER", "KIND", "AMOUNT", "CUR", "DESCRIPTION", "STATUS", "DETAIL"],
        [
            (
                r.id,
                r.provider,
                r.kind,
                "" if r.status == event_store.REJECTED else amount_text(r.amount),
                r.currency,
                r.description[:40],
                r.status,
                r.detail,
            )
            for r in rows
        ],
        sys.stdout,
        right=(0, 3),
    )


@payments.command("list")
@json_option
@pass_context
def list_payments(ctx: Context, as_json: bool) -> None:
    """Every payment event received, with what became of it."""
    _print_events(_event_rows(ctx, None), as_json)


@payments.command("unmatched")
@json_option
@pass_context
def unmatched(ctx: Context, as_json: bool) -> None:
    """Payments no open item could be matched to (the suspense list)."""
    _print_events(_event_rows(ctx, UNMATCHED), as_json)


@payments.command("rejected")
@json_option
@pass_context
def rejected(ctx: Context, as_json: bool) -> None:
    """Verified deliveries kept as rejected, with the reason (acknowledged to the provider,
    never processed): fix the cause at the provider or book the payment by hand."""
    _print_events(_event_rows(ctx, event_store.REJECTED), as_json)


@payments.command("assign")
@click.argument("event", type=int)
@click.argument("item", type=int)
@pass_context
def assign_payment(ctx: Context, event: int, item: int) -> None:
    """Match unmatched payment EVENT to open item ITEM (ids from the listings)."""
    match = assign(ctx.store(), event, item, now=datetime.now(UTC))
    applied = sum((amount for _i, amount in match.allocations), Decimal(0))
    extra = f" ({match.unallocated} more than was open)" if match.unallocated else ""
    click.echo(f"payment {event} applied to item {item}: {applied}{extra}")


@payments.command("process")
@pass_context
def process(ctx: Context) -> None:
    """Process received payments now and carry out due ledger writes (the scheduler does
    this every minute)."""
    now = datetime.now(UTC)
    summary = process_pending(ctx.store(), now=now)
    written = run_outbox(ctx.store(), lambda admin: ledger_for_admin(ctx, admin), now=now)
    click.echo(
        f"payments: {summary.processed} processed, {summary.unmatched} unmatched, "
        f"{summary.ignored} ignored; ledger writes: {written.done} done, "
        f"{written.retry_later} to retry, {written.failed} failed"
    )


@click.group(invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice(["pending", "done", "failed", "all"]),
    default="all",
    show_default=True,
)
@json_option
@click.pass_context
def outbox(click_ctx: click.Context, status: str, as_json: bool) -> None:
    """Ledger writes waiting, done or failed (with the ledger's message)."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Context = click_ctx.obj
    query = select(outbox_table).order_by(outbox_table.c.id)
    if status != "all":
        query = query.where(outbox_table.c.status == status)
    with ctx.store().begin() as conn:
        rows = list(conn.execute(query))
    if as_json:
        write_json(
            [
                {
                    "id": r.id,
                    "administration": r.administration_id,
                    "item_id": r.item_id,
                    "action": r.action,
                    "amount": None
                    if r.amount is None
                    else format_amount(r.amount, r.currency or "EUR"),
                    "currency": r.currency,
                    "idempotency_key": r.idempotency_key,
                    "status": r.status,
                    "attempts": r.attempts,
                    "next_attempt_at": r.next_attempt_at,
                    "last_error": r.last_error,
                    "ledger_reference": r.ledger_reference,
                }
                for r in rows
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "ADM", "ITEM", "ACTION", "AMOUNT", "STATUS", "TRIES", "LAST ERROR"],
        [
            (
                r.id,
                r.administration_id,
                r.item_id,
                r.action,
                "" if r.amount is None else amount_text(r.amount),
                r.status,
                r.attempts,
                r.last_error or "-",
            )
            for r in rows
        ],
        sys.stdout,
        right=(0, 1, 2, 4, 6),
    )


@outbox.command("retry")
@click.argument("entry", type=int)
@pass_context
def retry(ctx: Context, entry: int) -> None:
    """Queue failed ledger write ENTRY again (after fixing its cause)."""
    if not retry_outbox(ctx.store(), entry, now=datetime.now(UTC)):
        msg = f"outbox entry {entry} is not a failed write; see: connector outbox --status failed"
        raise NotFound(msg)
    click.echo(f"outbox entry {entry} queued again")


def _subscribing_ledger(ctx: Context, administration: str) -> tuple[Any, AdministrationRecord]:
    with ctx.store().begin() as conn:
        admin = records.find_administration(conn, administration)
    ledger = ledger_for_admin(ctx, admin)
    if not callable(getattr(ledger, "subscribe_webhooks", None)):
        msg = f"the {admin.ledger} ledger has no webhook subscriptions to manage from here"
        raise ConfigError(msg)
    return ledger, admin


@webhooks.command("subscribe")
@click.argument("administration")
@click.option(
    "--url",
    "callback_url",
    required=True,
    help="The public https address: https://your.host/ledger-webhooks/<token>/<ledger>.",
)
@pass_context
def subscribe(ctx: Context, administration: str, callback_url: str) -> None:
    """Ask the ledger (Exact) to send its change notifications for ADMINISTRATION to --url."""
    ledger, admin = _subscribing_ledger(ctx, administration)
    topics = ledger.subscribe_webhooks(admin.domain(), callback_url)
    shown = ", ".join(topics) if topics else "none new (already subscribed)"
    click.echo(f"{admin.name}: subscribed topics: {shown}")


@webhooks.command("unsubscribe")
@click.argument("administration")
@click.option("--url", "callback_url", required=True, help="The address to stop sending to.")
@pass_context
def unsubscribe(ctx: Context, administration: str, callback_url: str) -> None:
    """Stop the ledger's notifications for ADMINISTRATION to --url."""
    ledger, admin = _subscribing_ledger(ctx, administration)
    removed = ledger.unsubscribe_webhooks(admin.domain(), callback_url)
    click.echo(f"{admin.name}: removed {removed} subscription(s)")
