"""The attention queue ("Vandaag"): what needs a person today, across administrations.

Each row names its kind, the administration, the debtor and the object to act on; the page
decides which action to offer for a kind. Kinds covered so far: letters awaiting approval,
uncertain sends, failed ledger writes (with the ledger's message), connections needing a
reconnect, open disputes and call tasks due.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import select

from connector.dunning.tables import ActionStatus
from connector.dunning.tables import call_tasks
from connector.dunning.tables import dunning_actions
from connector.dunning.tables import dunning_disputes
from connector.payments.tables import outbox
from connector.store.schema import administrations
from connector.store.schema import connections
from connector.store.schema import debtors
from connector.store.schema import open_items

#: Rows of one kind shown at most; the page says when there are more.
LIMIT_PER_KIND = 200


class AttentionKind(enum.StrEnum):
    APPROVAL = "approval"
    UNCERTAIN = "uncertain"
    LEDGER_WRITE_FAILED = "ledger_write_failed"
    RECONNECT = "reconnect"
    DISPUTE = "dispute"
    CALL_DUE = "call_due"


@dataclass(frozen=True, slots=True)
class AttentionRow:
    kind: AttentionKind
    administration_id: int
    administration_name: str
    object_id: int  # the action, outbox entry, connection, dispute or call task
    debtor_code: str
    debtor_name: str
    summary: str
    amount: Decimal | None
    currency: str
    since: date | None


def attention_queue(
    conn: Connection, administration_ids: Sequence[int], today: date
) -> list[AttentionRow]:
    ids = list(administration_ids)
    if not ids:
        return []
    names = {
        int(row.id): row.name
        for row in conn.execute(
            select(administrations.c.id, administrations.c.name).where(
                administrations.c.id.in_(ids)
            )
        )
    }
    rows: list[AttentionRow] = []
    rows += _actions(conn, ids, names)
    rows += _failed_writes(conn, ids, names)
    rows += _reconnects(conn, ids, names)
    rows += _disputes(conn, ids, names)
    rows += _calls(conn, ids, names, today)
    return rows


def _debtor_join(table_admin: Any, table_code: Any) -> Any:
    return (debtors.c.administration_id == table_admin) & (debtors.c.code == table_code)


def _actions(conn: Connection, ids: list[int], names: dict[int, str]) -> list[AttentionRow]:
    a = dunning_actions.c
    query = (
        select(
            a.id,
            a.administration_id,
            a.debtor_code,
            debtors.c.name,
            a.step_name,
            a.status,
            a.status_reason,
            a.total,
            a.currency,
            a.planned_on,
        )
        .outerjoin(debtors, _debtor_join(a.administration_id, a.debtor_code))
        .where(a.administration_id.in_(ids))
        .where(a.status.in_([ActionStatus.PENDING_APPROVAL.value, ActionStatus.UNCERTAIN.value]))
        .order_by(a.status, a.planned_on, a.id)
        .limit(LIMIT_PER_KIND * 2)
    )
    out = []
    for row in conn.execute(query):
        approval = row.status == ActionStatus.PENDING_APPROVAL.value
        out.append(
            AttentionRow(
                kind=AttentionKind.APPROVAL if approval else AttentionKind.UNCERTAIN,
                administration_id=row.administration_id,
                administration_name=names.get(row.administration_id, ""),
                object_id=row.id,
                debtor_code=row.debtor_code,
                debtor_name=row.name or row.debtor_code,
                summary=f"{row.step_name}" + ("" if approval else f": {row.status_reason}"),
                amount=row.total,
                currency=row.currency,
                since=row.planned_on,
            )
        )
    return out


def _failed_writes(conn: Connection, ids: list[int], names: dict[int, str]) -> list[AttentionRow]:
    o = outbox.c
    query = (
        select(
            o.id,
            o.administration_id,
            o.action,
            o.last_error,
            o.amount,
            o.currency,
            o.created_at,
            open_items.c.debtor_code,
            open_items.c.invoice_number,
            debtors.c.name,
        )
        .join(open_items, open_items.c.id == o.item_id)
        .outerjoin(debtors, _debtor_join(open_items.c.administration_id, open_items.c.debtor_code))
        .where(o.administration_id.in_(ids))
        .where(o.status == "failed")
        .order_by(o.created_at, o.id)
        .limit(LIMIT_PER_KIND)
    )
    return [
        AttentionRow(
            kind=AttentionKind.LEDGER_WRITE_FAILED,
            administration_id=row.administration_id,
            administration_name=names.get(row.administration_id, ""),
            object_id=row.id,
            debtor_code=row.debtor_code,
            debtor_name=row.name or row.debtor_code,
            summary=f"{row.action} {row.invoice_number}: {row.last_error}",
            amount=row.amount,
            currency=row.currency or "",
            since=row.created_at.date(),
        )
        for row in conn.execute(query)
    ]


def _reconnects(conn: Connection, ids: list[int], names: dict[int, str]) -> list[AttentionRow]:
    c = connections.c
    query = (
        select(
            c.id, c.name, c.status_reason, c.status_changed_at, administrations.c.id.label("aid")
        )
        .join(administrations, administrations.c.connection_id == c.id)
        .where(administrations.c.id.in_(ids))
        .where(c.status == "reconnect_required")
        .order_by(c.id, administrations.c.id)
    )
    return [
        AttentionRow(
            kind=AttentionKind.RECONNECT,
            administration_id=row.aid,
            administration_name=names.get(row.aid, ""),
            object_id=row.id,
            debtor_code="",
            debtor_name="",
            summary=f"connection {row.name}: {row.status_reason}",
            amount=None,
            currency="",
            since=row.status_changed_at.date() if row.status_changed_at else None,
        )
        for row in conn.execute(query)
    ]


def _disputes(conn: Connection, ids: list[int], names: dict[int, str]) -> list[AttentionRow]:
    d = dunning_disputes.c
    i = open_items.c
    query = (
        select(
            d.id,
            d.administration_id,
            d.reason,
            d.opened_at,
            i.debtor_code,
            i.invoice_number,
            i.open_amount,
            i.currency,
            debtors.c.name,
        )
        .join(open_items, i.id == d.item_id)
        .outerjoin(debtors, _debtor_join(i.administration_id, i.debtor_code))
        .where(d.administration_id.in_(ids))
        .where(d.status == "open")
        .order_by(d.opened_at, d.id)
        .limit(LIMIT_PER_KIND)
    )
    return [
        AttentionRow(
            kind=AttentionKind.DISPUTE,
            administration_id=row.administration_id,
            administration_name=names.get(row.administration_id, ""),
            object_id=row.id,
            debtor_code=row.debtor_code,
            debtor_name=row.name or row.debtor_code,
            summary=f"{row.invoice_number}: {row.reason}",
            amount=row.open_amount,
            currency=row.currency,
            since=row.opened_at.date(),
        )
        for row in conn.execute(query)
    ]


def _calls(
    conn: Connection, ids: list[int], names: dict[int, str], today: date
) -> list[AttentionRow]:
    t = call_tasks.c
    query = (
        select(
            t.id, t.administration_id, t.debtor_code, t.debtor_name, t.phone, t.summary, t.due_on
        )
        .where(t.administration_id.in_(ids))
        .where(t.status == "open")
        .where(t.due_on <= today)
        .order_by(t.due_on, t.id)
        .limit(LIMIT_PER_KIND)
    )
    return [
        AttentionRow(
            kind=AttentionKind.CALL_DUE,
            administration_id=row.administration_id,
            administration_name=names.get(row.administration_id, ""),
            object_id=row.id,
            debtor_code=row.debtor_code,
            debtor_name=row.debtor_name,
            summary=f"call {row.phone or '(no phone)'}: {row.summary}",
            amount=None,
            currency="",
            since=row.due_on,
        )
        for row in conn.execute(query)
    ]


def pending_approval(conn: Connection, administration_id: int, action_id: int) -> bool:
    """Whether this action of this administration waits for approval (for the access check)."""
    a = dunning_actions.c
    row = conn.execute(
        select(a.status).where(a.id == action_id).where(a.administration_id == administration_id)
    ).first()
    return row is not None and row.status == ActionStatus.PENDING_APPROVAL.value
