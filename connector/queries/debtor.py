"""The debtor page: who they are, what is open, and a timeline of everything that happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection
from sqlalchemy import select

from connector.domain import ItemStatus
from connector.dunning.tables import dunning_actions
from connector.dunning.tables import dunning_disputes
from connector.dunning.tables import dunning_overrides
from connector.firms.notes import notes_of
from connector.payments.tables import payment_allocations
from connector.store.schema import debtors
from connector.store.schema import open_items


@dataclass(frozen=True, slots=True)
class DebtorInfo:
    id: int
    administration_id: int
    code: str
    name: str
    kind: str
    email: str
    phone: str
    address: str


@dataclass(frozen=True, slots=True)
class ItemLine:
    id: int
    invoice_number: str
    invoice_date: date | None
    due_date: date
    currency: str
    amount: Decimal | None
    open_amount: Decimal
    status: str
    disputed: bool


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    on: date
    kind: str  # invoice | letter | payment | dispute | pause | note
    text: str
    amount: Decimal | None
    currency: str


@dataclass(frozen=True, slots=True)
class ActivePause:
    id: int
    kind: str
    until: date | None
    reason: str


@dataclass(frozen=True, slots=True)
class DebtorPage:
    debtor: DebtorInfo
    items: list[ItemLine]
    timeline: list[TimelineEntry]  # newest first
    pauses: list[ActivePause]


def find_debtor(conn: Connection, debtor_id: int) -> DebtorInfo | None:
    d = debtors.c
    row = conn.execute(select(debtors).where(d.id == debtor_id)).first()
    if row is None:
        return None
    address = ", ".join(x for x in (row.street, f"{row.postal_code} {row.city}".strip()) if x)
    return DebtorInfo(
        id=row.id,
        administration_id=row.administration_id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        email=row.email,
        phone=row.phone,
        address=address,
    )


def debtor_id_for(conn: Connection, administration_id: int, code: str) -> int | None:
    d = debtors.c
    found = conn.execute(
        select(d.id).where(d.administration_id == administration_id).where(d.code == code)
    ).scalar_one_or_none()
    return int(found) if found is not None else None


def action_administration(conn: Connection, action_id: int) -> int | None:
    """The administration a letter belongs to (None: no such letter)."""
    a = dunning_actions.c
    found = conn.execute(select(a.administration_id).where(a.id == action_id)).scalar_one_or_none()
    return int(found) if found is not None else None


def override_owner(conn: Connection, override_id: int) -> tuple[int, str] | None:
    """(administration, debtor code) of an override, for the access check."""
    o = dunning_overrides.c
    row = conn.execute(
        select(o.administration_id, o.debtor_code).where(o.id == override_id)
    ).first()
    return (int(row.administration_id), row.debtor_code) if row is not None else None


def debtor_page(conn: Connection, debtor: DebtorInfo) -> DebtorPage:
    i = open_items.c
    item_rows = list(
        conn.execute(
            select(open_items)
            .where(i.administration_id == debtor.administration_id)
            .where(i.debtor_code == debtor.code)
            .order_by(i.due_date, i.id)
        )
    )
    item_ids = [r.id for r in item_rows]
    disputes = (
        list(
            conn.execute(
                select(dunning_disputes)
                .where(dunning_disputes.c.item_id.in_(item_ids))
                .order_by(dunning_disputes.c.opened_at)
            )
        )
        if item_ids
        else []
    )
    disputed = {d.item_id for d in disputes if d.status == "open"}
    items = [
        ItemLine(
            id=r.id,
            invoice_number=r.invoice_number,
            invoice_date=r.invoice_date,
            due_date=r.due_date,
            currency=r.currency,
            amount=r.amount,
            open_amount=r.open_amount,
            status=r.status,
            disputed=r.id in disputed,
        )
        for r in item_rows
    ]
    numbers = {r.id: r.invoice_number for r in item_rows}
    timeline: list[TimelineEntry] = []
    for r in item_rows:
        timeline.append(
            TimelineEntry(
                on=r.invoice_date or r.due_date,
                kind="invoice",
                text=f"invoice {r.invoice_number}, due {r.due_date.isoformat()}"
                + ("" if r.status == ItemStatus.OPEN.value else " (paid)"),
                amount=r.amount,
                currency=r.currency,
            )
        )
    a = dunning_actions.c
    for row in conn.execute(
        select(a.id, a.step_name, a.status, a.planned_on, a.sent_on, a.total, a.currency)
        .where(a.administration_id == debtor.administration_id)
        .where(a.debtor_code == debtor.code)
    ):
        timeline.append(
            TimelineEntry(
                on=row.sent_on or row.planned_on,
                kind="letter",
                text=f"letter {row.step_name}: {row.status.replace('_', ' ')}",
                amount=row.total,
                currency=row.currency,
            )
        )
    if item_ids:
        p = payment_allocations.c
        for pay in conn.execute(
            select(p.item_id, p.amount, p.matched_by, p.created_at).where(p.item_id.in_(item_ids))
        ):
            currency = next((r.currency for r in item_rows if r.id == pay.item_id), "")
            timeline.append(
                TimelineEntry(
                    on=pay.created_at.date(),
                    kind="payment",
                    text=f"payment on {numbers[pay.item_id]} ({pay.matched_by})",
                    amount=pay.amount,
                    currency=currency,
                )
            )
    for d in disputes:
        timeline.append(
            TimelineEntry(
                on=d.opened_at.date(),
                kind="dispute",
                text=f"dispute on {numbers[d.item_id]}: {d.reason} ({d.status})",
                amount=None,
                currency="",
            )
        )
    o = dunning_overrides.c
    pauses: list[ActivePause] = []
    for row in conn.execute(
        select(dunning_overrides)
        .where(o.administration_id == debtor.administration_id)
        .where(o.debtor_code == debtor.code)
        .order_by(o.created_at, o.id)
    ):
        state = "lifted" if row.lifted_at is not None else "active"
        until = f" until {row.until.isoformat()}" if row.until else ""
        timeline.append(
            TimelineEntry(
                on=row.created_at.date(),
                kind="pause",
                text=f"{row.kind}{until}: {row.reason} ({state})",
                amount=None,
                currency="",
            )
        )
        if row.lifted_at is None:
            pauses.append(ActivePause(row.id, row.kind, row.until, row.reason))
    for note in notes_of(conn, debtor.administration_id, debtor.code):
        timeline.append(
            TimelineEntry(
                on=note.created_at.date(),
                kind="note",
                text=f"{note.author}: {note.body}",
                amount=None,
                currency="",
            )
        )
    timeline.sort(key=lambda e: (e.on, e.kind), reverse=True)
    return DebtorPage(debtor=debtor, items=items, timeline=timeline, pauses=pauses)


def debtors_of(
    conn: Connection, administration_id: int, search: str = "", limit: int = 200
) -> list[DebtorInfo]:
    d = debtors.c
    query = (
        select(d.id).where(d.administration_id == administration_id).order_by(d.name).limit(limit)
    )
    if search.strip():
        query = query.where(d.name.ilike(f"%{search.strip()}%") | (d.code == search.strip()))
    out = []
    for debtor_id in conn.execute(query).scalars():
        info = find_debtor(conn, int(debtor_id))
        if info is not None:
            out.append(info)
    return out
