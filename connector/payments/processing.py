"""Processing stored payment events, off the request path.

Each event is handled in its own transaction: the local open amounts change, the allocations
are recorded and the ledger writes are queued in the outbox, together or not at all. A
matched payment lowers the local open amount at once, so dunning stops before the ledger has
even heard of it.

    paid / partially paid   match -> allocate -> lower open amounts -> outbox record_payment
    charged back            reopen what that payment paid -> dispute -> outbox reverse_payment
    chargeback reversed     apply it again -> dispute resolved -> outbox record_payment
    dispute opened          dispute on what that payment paid -> outbox flag_dispute
    refunded, failed        nothing to do in the receivables: kept for the record
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from connector.domain import ItemStatus
from connector.domain import Money
from connector.errors import ConfigError
from connector.errors import NotFound
from connector.payments.matching import Candidate
from connector.payments.matching import Match
from connector.payments.matching import allocate
from connector.payments.matching import match_payment
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.payments.tables import endpoint_administrations
from connector.payments.tables import outbox
from connector.payments.tables import payment_allocations
from connector.payments.tables import webhook_events
from connector.store import Store
from connector.store.schema import debtors
from connector.store.schema import open_items

logger = logging.getLogger(__name__)

PROCESSED = "processed"
UNMATCHED = "unmatched"
IGNORED = "ignored"


class DisputeHook(Protocol):
    """How processing opens and closes disputes (the dunning side pauses those items)."""

    def open(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None: ...

    def resolve(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None: ...


class NoDisputes:
    def open(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None:
        pass

    def resolve(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None:
        pass


def _dunning_disputes() -> DisputeHook:
    from connector.dunning.disputes import DunningDisputes  # the dunning side's records

    return DunningDisputes()


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    processed: int = 0
    unmatched: int = 0
    ignored: int = 0


def _event(row: Any) -> PaymentEvent:
    return PaymentEvent(
        provider=row.provider,
        event_id=row.event_id,
        kind=PaymentEventKind(row.kind),
        payment_id=row.payment_id,
        amount=Money(row.amount, row.currency),
        occurred_at=row.occurred_at,
        description=row.description,
        references=dict(row.references or {}),
        payer_name=row.payer_name,
        payer_iban=row.payer_iban,
    )


def candidates(conn: Connection, endpoint_id: int) -> list[Candidate]:
    """Open items of the endpoint's own administrations: nothing of another tenant."""
    query = (
        select(
            open_items.c.id,
            open_items.c.administration_id,
            open_items.c.invoice_number,
            open_items.c.debtor_code,
            func.coalesce(debtors.c.name, ""),
            func.coalesce(debtors.c.iban, ""),
            open_items.c.due_date,
            open_items.c.open_amount,
            open_items.c.currency,
        )
        .join(
            endpoint_administrations,
            endpoint_administrations.c.administration_id == open_items.c.administration_id,
        )
        .outerjoin(
            debtors,
            and_(
                debtors.c.administration_id == open_items.c.administration_id,
                debtors.c.code == open_items.c.debtor_code,
            ),
        )
        .where(endpoint_administrations.c.endpoint_id == endpoint_id)
        .where(open_items.c.status == ItemStatus.OPEN.value)
    )
    return [Candidate(*row) for row in conn.execute(query)]


def _item_admin(conn: Connection, item_id: int) -> int:
    return int(
        conn.execute(
            select(open_items.c.administration_id).where(open_items.c.id == item_id)
        ).scalar_one()
    )


def _change_open_amount(conn: Connection, item_id: int, delta: Decimal, now: datetime) -> None:
    """Lower (delta < 0) or raise the local open amount; zero means paid, anything else open."""
    new_amount = open_items.c.open_amount + delta
    conn.execute(
        update(open_items)
        .where(open_items.c.id == item_id)
        .values(
            open_amount=new_amount,
            status=case((new_amount == 0, ItemStatus.PAID.value), else_=ItemStatus.OPEN.value),
            closed_at=case((new_amount == 0, now), else_=None),
            updated_at=now,
        )
    )


def _payment_key(row: Any, item_id: int, what: str) -> str:
    """One key per payment, item and kind of write: several provider events about the same
    dispute (announced, then booked) still make one ledger write."""
    digest = hashlib.sha256(f"{row.endpoint_id}:{row.provider}:{row.payment_id}".encode())
    return f"dc-{what}-{digest.hexdigest()[:16]}-{item_id}"


def _queue(
    conn: Connection,
    *,
    key: str,
    item_id: int,
    action: str,
    now: datetime,
    amount: Money | None = None,
    event: PaymentEvent | None = None,
    reason: str = "",
) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(outbox)
        .values(
            idempotency_key=key,
            administration_id=_item_admin(conn, item_id),
            item_id=item_id,
            action=action,
            amount=None if amount is None else amount.amount,
            currency=None if amount is None else amount.currency,
            paid_on=None if event is None else event.occurred_at.date(),
            reason=reason,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            last_error="",
            ledger_reference="",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


def _apply(
    conn: Connection, row: Any, event: PaymentEvent, match: Match, now: datetime, sign: int = 1
) -> None:
    """Record the allocations and their effect; sign -1 reopens what they paid."""
    for item_id, amount in match.allocations:
        applied = amount * sign
        conn.execute(
            payment_allocations.insert().values(
                event_id=row.id,
                item_id=item_id,
                amount=applied,
                matched_by=match.method,
                created_at=now,
            )
        )
        _change_open_amount(conn, item_id, -applied, now)
        if amount > 0:
            action = "record_payment" if sign > 0 else "reverse_payment"
            _queue(
                conn,
                key=f"dc-{row.id}-{item_id}",
                item_id=item_id,
                action=action,
                now=now,
                amount=Money(amount, event.amount.currency),
                event=event,
                reason=f"{event.provider} {event.payment_id}",
            )


def _paid_by(conn: Connection, row: Any) -> dict[int, Decimal]:
    """What earlier events of the same payment left applied per item (net of reversals)."""
    query = (
        select(payment_allocations.c.item_id, func.sum(payment_allocations.c.amount))
        .join(webhook_events, webhook_events.c.id == payment_allocations.c.event_id)
        .where(webhook_events.c.endpoint_id == row.endpoint_id)
        .where(webhook_events.c.provider == row.provider)
        .where(webhook_events.c.payment_id == row.payment_id)
        .where(webhook_events.c.id != row.id)
        .group_by(payment_allocations.c.item_id)
    )
    return {item: Decimal(total) for item, total in conn.execute(query)}


def _process_one(
    conn: Connection,
    row: Any,
    now: datetime,
    disputes: DisputeHook,
    items_for_reference: Callable[[str], Sequence[int]],
) -> tuple[str, str]:
    event = _event(row)
    kind = event.kind
    if kind in (PaymentEventKind.PAID, PaymentEventKind.PARTIALLY_PAID):
        match = match_payment(
            event, candidates(conn, row.endpoint_id), items_for_reference=items_for_reference
        )
        if match is None:
            return UNMATCHED, "no open item could be identified; assign it by hand"
        _apply(conn, row, event, match, now)
        extra = f"; {match.unallocated} more than was open" if match.unallocated else ""
        return PROCESSED, f"matched by {match.method}{extra}"
    if kind in (PaymentEventKind.CHARGED_BACK, PaymentEventKind.DISPUTE_OPENED):
        applied = _paid_by(conn, row)
        paid = {item: amount for item, amount in applied.items() if amount > 0}
        if not paid:
            if applied:
                return IGNORED, "this payment is already charged back here"
            return UNMATCHED, "no earlier payment of this payment id was applied here"
        for item_id in paid:
            disputes.open(conn, item_id, f"{kind.value} {event.provider} {event.payment_id}", now)
            _queue(
                conn,
                key=_payment_key(row, item_id, "dispute"),
                item_id=item_id,
                action="flag_dispute",
                now=now,
                reason=f"{kind.value}: {event.provider} {event.payment_id}",
            )
        if kind is PaymentEventKind.DISPUTE_OPENED:
            return PROCESSED, "dispute opened; dunning paused for the items"
        # Reopen the charged-back amount, newest allocations last paid first.
        reopened = _take(paid, event.amount.amount)
        _apply(conn, row, event, Match("chargeback", reopened, Decimal(0)), now, sign=-1)
        return PROCESSED, "charged back: amount reopened and disputed"
    if kind is PaymentEventKind.CHARGEBACK_REVERSED:
        charged = _charged_back(conn, row)
        if not charged:
            return UNMATCHED, "no chargeback of this payment id was applied here"
        again = _take(charged, event.amount.amount)
        _apply(conn, row, event, Match("chargeback_reversed", again, Decimal(0)), now)
        for item_id in charged:
            disputes.resolve(conn, item_id, "chargeback reversed", now)
            _queue(
                conn,
                key=_payment_key(row, item_id, "resolve"),
                item_id=item_id,
                action="clear_dispute",
                now=now,
                reason=f"chargeback reversed: {event.provider} {event.payment_id}",
            )
        return PROCESSED, "chargeback reversed: paid again, dispute resolved"
    if kind is PaymentEventKind.REFUNDED:
        return IGNORED, "refund: the claim is settled by a credit note in the ledger"
    return IGNORED, f"{kind.value}: nothing was paid"


def _charged_back(conn: Connection, row: Any) -> dict[int, Decimal]:
    """Per item, what chargebacks of this payment reopened and no reversal has undone yet."""
    kinds = (PaymentEventKind.CHARGED_BACK.value, PaymentEventKind.CHARGEBACK_REVERSED.value)
    query = (
        select(payment_allocations.c.item_id, func.sum(payment_allocations.c.amount))
        .join(webhook_events, webhook_events.c.id == payment_allocations.c.event_id)
        .where(webhook_events.c.endpoint_id == row.endpoint_id)
        .where(webhook_events.c.provider == row.provider)
        .where(webhook_events.c.payment_id == row.payment_id)
        .where(webhook_events.c.kind.in_(kinds))
        .where(webhook_events.c.id != row.id)
        .group_by(payment_allocations.c.item_id)
    )
    return {item: -Decimal(total) for item, total in conn.execute(query) if total < 0}


def _take(available: dict[int, Decimal], amount: Decimal) -> tuple[tuple[int, Decimal], ...]:
    """Up to `amount` out of the per-item amounts, in item order."""
    taken: list[tuple[int, Decimal]] = []
    for item_id in sorted(available):
        if amount <= 0:
            break
        part = min(amount, available[item_id])
        taken.append((item_id, part))
        amount -= part
    return tuple(taken)


def process_pending(
    store: Store,
    *,
    now: datetime,
    limit: int = 500,
    disputes: DisputeHook | None = None,
    items_for_reference: Callable[[str], Sequence[int]] = lambda _ref: (),
) -> ProcessSummary:
    """Process received events in arrival order, each in its own transaction."""
    hook = disputes or _dunning_disputes()
    counts = {PROCESSED: 0, UNMATCHED: 0, IGNORED: 0}
    with store.begin() as conn:
        ids = list(
            conn.execute(
                select(webhook_events.c.id)
                .where(webhook_events.c.status == "received")
                .order_by(webhook_events.c.id)
                .limit(limit)
            ).scalars()
        )
    for event_id in ids:
        with store.begin(immediate=True) as conn:
            row = conn.execute(
                select(webhook_events).where(webhook_events.c.id == event_id)
            ).first()
            if row is None or row.status != "received":
                continue  # another worker took it
            status, detail = _process_one(conn, row, now, hook, items_for_reference)
            conn.execute(
                update(webhook_events)
                .where(webhook_events.c.id == event_id)
                .values(status=status, detail=detail, processed_at=now)
            )
        counts[status] += 1
        logger.info("payment event %s: %s (%s)", event_id, status, detail)
    return ProcessSummary(counts[PROCESSED], counts[UNMATCHED], counts[IGNORED])


def assign(
    store: Store,
    event_row_id: int,
    item_id: int,
    *,
    now: datetime,
) -> Match:
    """A person matches a suspended payment to an item of the same tenant."""
    with store.begin(immediate=True) as conn:
        row = conn.execute(
            select(webhook_events).where(webhook_events.c.id == event_row_id)
        ).first()
        if row is None:
            msg = f"no payment event {event_row_id}; see: connector payments unmatched"
            raise NotFound(msg)
        if row.status != UNMATCHED:
            msg = f"payment event {event_row_id} is {row.status}, not unmatched"
            raise ConfigError(msg)
        event = _event(row)
        chosen = [c for c in candidates(conn, row.endpoint_id) if c.item_id == item_id]
        if not chosen:
            msg = (
                f"item {item_id} is not an open item of this payment's administrations "
                f"in {event.amount.currency}"
            )
            raise ConfigError(msg)
        match = allocate("manual", chosen, event.amount.amount)
        _apply(conn, row, event, match, now)
        conn.execute(
            update(webhook_events)
            .where(webhook_events.c.id == event_row_id)
            .values(status=PROCESSED, detail="assigned by hand", processed_at=now)
        )
    return match
