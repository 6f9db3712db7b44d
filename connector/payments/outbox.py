"""Carrying out queued ledger writes: record/reverse payments, flag/clear disputes.

A row is written in the same transaction as the event processing that caused it, so nothing
is lost between the two; it is then carried out through the ledger port. Short failures are
retried at once with tenacity (exponential backoff with jitter); longer ones get a persisted
next attempt time, so the work survives restarts. A failure that retrying cannot fix (the
ledger rejects the write, or cannot do it at all) is marked failed, shown in
`connector outbox`, and can be retried by a person after a fix. Nothing is written twice: the
idempotency key travels in the ledger record, and the adapter looks it up before writing
again after a lost answer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import type_coerce
from sqlalchemy import update
from tenacity import Retrying
from tenacity import retry_if_exception_type
from tenacity import stop_after_attempt
from tenacity import wait_random_exponential

from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConnectorError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.errors import StoreError
from connector.payments.tables import outbox
from connector.ports import Ledger
from connector.store import Store
from connector.store.records import AdministrationRecord
from connector.store.records import find_administration
from connector.store.schema import open_items
from connector.store.types import Amount

logger = logging.getLogger(__name__)

PENDING = "pending"
DONE = "done"
FAILED = "failed"
MAX_ATTEMPTS = 12  # spread over about a day by the backoff below
_TRANSIENT = (RetriableLedgerError, StoreError, ConnectionError, TimeoutError)


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    done: int = 0
    retry_later: int = 0
    failed: int = 0


def _backoff(attempts: int) -> timedelta:
    """About 1, 2, 4 ... minutes, capped at 4 hours, with jitter so retries spread out."""
    base = min(60 * 2 ** max(attempts - 1, 0), 4 * 3600)
    return timedelta(seconds=base * random.uniform(0.5, 1.0))  # noqa: S311 - not for secrets


def _item(row: Any) -> OpenItem:
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


def _carry_out(ledger: Ledger, admin: AdministrationRecord, entry: Any, item: OpenItem) -> str:
    domain_admin = admin.domain()
    if entry.action == "record_payment":
        receipt = ledger.record_payment(
            domain_admin,
            item,
            Money(entry.amount, entry.currency),
            entry.paid_on,
            entry.idempotency_key,
        )
        return receipt.ledger_reference
    if entry.action == "reverse_payment":
        receipt = ledger.reverse_payment(
            domain_admin, item, Money(entry.amount, entry.currency), entry.idempotency_key
        )
        return receipt.ledger_reference
    if entry.action == "flag_dispute":
        ledger.flag_dispute(domain_admin, item, entry.reason, entry.idempotency_key)
        return ""
    if entry.action == "clear_dispute":
        ledger.clear_dispute(domain_admin, item, entry.idempotency_key)
        return ""
    msg = f"unknown outbox action {entry.action!r}"
    raise ConnectorError(msg)


def run_outbox(
    store: Store,
    ledger_for: Callable[[AdministrationRecord], Ledger],
    *,
    now: datetime,
    limit: int = 100,
    quick_retries: int = 3,
    administration_id: int | None = None,
) -> OutboxSummary:
    """Carry out the writes that are due (of one administration, when given: the unit of
    the `ledger_writes.administration` task); returns what happened to them."""
    query = select(outbox).where(outbox.c.status == PENDING).where(outbox.c.next_attempt_at <= now)
    if administration_id is not None:
        query = query.where(outbox.c.administration_id == administration_id)
    with store.begin() as conn:
        due = conn.execute(query.order_by(outbox.c.id).limit(limit)).all()
    done = later = failed = 0
    for entry in due:
        with store.begin() as conn:
            admin = find_administration(conn, str(entry.administration_id))
            item_row = conn.execute(
                select(open_items).where(open_items.c.id == entry.item_id)
            ).one()
        try:
            ledger = ledger_for(admin)
            reference = ""
            for attempt in Retrying(
                stop=stop_after_attempt(quick_retries),
                wait=wait_random_exponential(multiplier=0.2, max=2),
                retry=retry_if_exception_type(_TRANSIENT),
                reraise=True,
            ):
                with attempt:
                    reference = _carry_out(ledger, admin, entry, _item(item_row))
        except RateLimited as exc:
            wait = timedelta(seconds=exc.retry_after or 60)
            _update(store, entry.id, next_attempt_at=now + wait, last_error=str(exc))
            later += 1
        except _TRANSIENT as exc:
            attempts = entry.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                _update(store, entry.id, status=FAILED, attempts=attempts, last_error=str(exc))
                failed += 1
            else:
                _update(
                    store,
                    entry.id,
                    attempts=attempts,
                    next_attempt_at=now + _backoff(attempts),
                    last_error=str(exc),
                )
                later += 1
        except ConnectorError as exc:
            _update(
                store, entry.id, status=FAILED, attempts=entry.attempts + 1, last_error=str(exc)
            )
            failed += 1
        else:
            _update(
                store,
                entry.id,
                status=DONE,
                attempts=entry.attempts + 1,
                ledger_reference=reference,
                last_error="",
                done_at=now,
            )
            done += 1
    return OutboxSummary(done, later, failed)


def _update(store: Store, entry_id: int, **values: Any) -> None:
    with store.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == entry_id).values(**values))


def retry(store: Store, entry_id: int, *, now: datetime) -> bool:
    """Put a failed write back in the queue (after the cause was fixed)."""
    with store.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == entry_id)
            .where(outbox.c.status == FAILED)
            .values(status=PENDING, next_attempt_at=now, last_error="")
        )
        return result.rowcount == 1


def pending_adjustments(conn: Connection, administration_id: int) -> dict[str, Decimal]:
    """Per item (ledger id), how the ledger's open amount differs from ours until the queued
    writes land: minus payments not yet recorded, plus chargebacks not yet reversed.

    The sync applies these so that a payment the ledger has not heard of yet does not
    reopen the item (and dunning does not remind a debtor who just paid).
    """
    sign = case((outbox.c.action == "reverse_payment", 1), else_=-1)
    query = (
        # The CASE would make the product an integer expression; keep it an Amount so that
        # SQLite's scaled integers come back as money.
        select(open_items.c.external_id, type_coerce(func.sum(outbox.c.amount * sign), Amount()))
        .join(open_items, open_items.c.id == outbox.c.item_id)
        .where(outbox.c.administration_id == administration_id)
        .where(outbox.c.status.in_((PENDING, FAILED)))
        .where(outbox.c.action.in_(("record_payment", "reverse_payment")))
        .group_by(open_items.c.external_id)
    )
    return {ext: Decimal(total) for ext, total in conn.execute(query) if total}
