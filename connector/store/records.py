"""Reading and writing the store's records: connections, administrations, debtors, items."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Row
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from connector.domain import Administration
from connector.domain import ItemStatus
from connector.errors import ConfigError
from connector.errors import NotFound
from connector.store.schema import administrations
from connector.store.schema import connections
from connector.store.schema import debtors
from connector.store.schema import open_items
from connector.store.schema import sync_cursors
from connector.store.upsert import upsert


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    id: int
    name: str
    ledger: str
    config: dict[str, Any]
    status: str
    status_reason: str


@dataclass(frozen=True, slots=True)
class AdministrationRecord:
    id: int
    connection_id: int
    connection_name: str
    ledger: str
    external_id: str
    name: str
    currency: str
    timezone: str
    country: str
    active: bool
    last_sync_at: datetime | None
    last_sync_status: str
    last_sync_error: str

    def domain(self) -> Administration:
        return Administration(
            external_id=self.external_id,
            name=self.name,
            currency=self.currency,
            timezone=self.timezone,
            country=self.country,
        )


# --- connections -----------------------------------------------------------------------


def _connection(row: Row[Any]) -> ConnectionRecord:
    return ConnectionRecord(
        id=row.id,
        name=row.name,
        ledger=row.ledger,
        config=dict(row.config or {}),
        status=row.status,
        status_reason=row.status_reason,
    )


def save_connection(
    conn: Connection, *, name: str, ledger: str, config: dict[str, Any], now: datetime
) -> ConnectionRecord:
    """Create the connection, or point an existing one of the same ledger at a new config."""
    existing = conn.execute(select(connections).where(connections.c.name == name)).first()
    if existing is not None:
        if existing.ledger != ledger:
            msg = (
                f"a connection named {name!r} already exists for the {existing.ledger} ledger; "
                "choose another --name"
            )
            raise ConfigError(msg)
        conn.execute(
            update(connections)
            .where(connections.c.id == existing.id)
            .values(config=config, status="active", status_reason="", updated_at=now)
        )
    else:
        conn.execute(
            connections.insert().values(
                name=name,
                ledger=ledger,
                config=config,
                status="active",
                status_reason="",
                created_at=now,
                updated_at=now,
            )
        )
    return find_connection(conn, name)


def find_connection(conn: Connection, ref: str) -> ConnectionRecord:
    clause = connections.c.name == ref
    if ref.isdigit():
        clause = clause | (connections.c.id == int(ref))
    row = conn.execute(select(connections).where(clause)).first()
    if row is None:
        msg = f"no connection {ref!r}; see: connector connections"
        raise NotFound(msg)
    return _connection(row)


def list_connections(conn: Connection) -> list[ConnectionRecord]:
    rows = conn.execute(select(connections).order_by(connections.c.id))
    return [_connection(row) for row in rows]


# --- administrations -------------------------------------------------------------------

_ADMIN_COLUMNS = (
    administrations,
    connections.c.name.label("connection_name"),
    connections.c.ledger,
)


def _administration(row: Row[Any]) -> AdministrationRecord:
    return AdministrationRecord(
        id=row.id,
        connection_id=row.connection_id,
        connection_name=row.connection_name,
        ledger=row.ledger,
        external_id=row.external_id,
        name=row.name,
        currency=row.currency,
        timezone=row.timezone,
        country=row.country,
        active=row.active,
        last_sync_at=row.last_sync_at,
        last_sync_status=row.last_sync_status,
        last_sync_error=row.last_sync_error,
    )


def save_administrations(
    conn: Connection, connection_id: int, found: Sequence[Administration]
) -> list[AdministrationRecord]:
    """Record what a connection reaches now; what it no longer reaches becomes inactive
    (its history stays)."""
    rows = [
        {
            "connection_id": connection_id,
            "external_id": a.external_id,
            "name": a.name,
            "currency": a.currency,
            "timezone": a.timezone,
            "country": a.country,
            "active": True,
            "last_sync_status": "never",
            "last_sync_error": "",
        }
        for a in found
    ]
    upsert(
        conn,
        administrations,
        rows,
        keys=("connection_id", "external_id"),
        keep=("last_sync_status", "last_sync_error"),
    )
    reached = [a.external_id for a in found]
    conn.execute(
        update(administrations)
        .where(administrations.c.connection_id == connection_id)
        .where(administrations.c.external_id.not_in(reached))
        .values(active=False)
    )
    return list_administrations(conn, connection_id=connection_id)


def list_administrations(
    conn: Connection, *, connection_id: int | None = None, include_inactive: bool = False
) -> list[AdministrationRecord]:
    query = (
        select(*_ADMIN_COLUMNS)
        .join(connections, connections.c.id == administrations.c.connection_id)
        .order_by(administrations.c.id)
    )
    if connection_id is not None:
        query = query.where(administrations.c.connection_id == connection_id)
    if not include_inactive:
        query = query.where(administrations.c.active.is_(True))
    return [_administration(row) for row in conn.execute(query)]


def find_administration(conn: Connection, ref: str) -> AdministrationRecord:
    """By id, by the ledger's own id, or by name; ambiguity is an error, not a guess."""
    query = select(*_ADMIN_COLUMNS).join(
        connections, connections.c.id == administrations.c.connection_id
    )
    if ref.isdigit():
        row = conn.execute(query.where(administrations.c.id == int(ref))).first()
        if row is not None:
            return _administration(row)
    rows = conn.execute(
        query.where((administrations.c.external_id == ref) | (administrations.c.name == ref))
    ).all()
    if not rows:
        msg = f"no administration {ref!r}; see: connector administrations"
        raise NotFound(msg)
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        msg = f"{ref!r} names several administrations (ids {ids}); use the id"
        raise ConfigError(msg)
    return _administration(rows[0])


def record_sync_outcome(
    conn: Connection, administration_id: int, *, at: datetime, status: str, error: str = ""
) -> None:
    conn.execute(
        update(administrations)
        .where(administrations.c.id == administration_id)
        .values(last_sync_at=at, last_sync_status=status, last_sync_error=error)
    )


# --- cursors ---------------------------------------------------------------------------


def get_cursor(conn: Connection, administration_id: int, stream: str) -> str | None:
    return conn.execute(
        select(sync_cursors.c.cursor).where(
            and_(
                sync_cursors.c.administration_id == administration_id,
                sync_cursors.c.stream == stream,
            )
        )
    ).scalar()


def put_cursor(
    conn: Connection, administration_id: int, stream: str, cursor: str, now: datetime
) -> None:
    upsert(
        conn,
        sync_cursors,
        [
            {
                "administration_id": administration_id,
                "stream": stream,
                "cursor": cursor,
                "updated_at": now,
            }
        ],
        keys=("administration_id", "stream"),
    )


# --- debtors and items -----------------------------------------------------------------


def debtor_fingerprints(conn: Connection, administration_id: int) -> dict[str, str]:
    rows = conn.execute(
        select(debtors.c.code, debtors.c.fingerprint).where(
            debtors.c.administration_id == administration_id
        )
    )
    return {code: fingerprint for code, fingerprint in rows}


def item_index(conn: Connection, administration_id: int) -> dict[str, tuple[int, str, str]]:
    """external_id -> (row id, fingerprint, status)."""
    rows = conn.execute(
        select(
            open_items.c.external_id,
            open_items.c.id,
            open_items.c.fingerprint,
            open_items.c.status,
        ).where(open_items.c.administration_id == administration_id)
    )
    return {ext: (row_id, fp, status) for ext, row_id, fp, status in rows}


def upsert_debtors(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    upsert(conn, debtors, rows, keys=("administration_id", "code"), keep=("created_at",))


def upsert_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    upsert(
        conn, open_items, rows, keys=("administration_id", "external_id"), keep=("first_seen_at",)
    )


def close_items(conn: Connection, row_ids: Iterable[int], now: datetime) -> None:
    """The ledger no longer reports these open: paid, credited or written off."""
    ids = list(row_ids)
    for start in range(0, len(ids), 10_000):
        conn.execute(
            update(open_items)
            .where(open_items.c.id.in_(ids[start : start + 10_000]))
            .values(
                status=ItemStatus.PAID.value, open_amount=Decimal(0), closed_at=now, updated_at=now
            )
        )


@dataclass(frozen=True, slots=True)
class ItemView:
    administration_id: int
    id: int
    external_id: str
    invoice_number: str
    debtor_code: str
    invoice_date: date | None
    due_date: date
    currency: str
    amount: Decimal | None
    open_amount: Decimal
    status: str
    kind: str = "invoice"  # connector.domain.ItemKind


def list_items(
    conn: Connection,
    *,
    administration_ids: Sequence[int] | None = None,
    status: str | None = None,
    overdue_on: date | None = None,
) -> list[ItemView]:
    """Items ordered by administration, due date and invoice number.

    `status` "open" / "paid" filters the stored status; `overdue_on` keeps open items whose
    due date lies before that day.
    """
    query = select(
        open_items.c.administration_id,
        open_items.c.id,
        open_items.c.external_id,
        open_items.c.invoice_number,
        open_items.c.debtor_code,
        open_items.c.invoice_date,
        open_items.c.due_date,
        open_items.c.currency,
        open_items.c.amount,
        open_items.c.open_amount,
        open_items.c.status,
        open_items.c.kind,
    ).order_by(open_items.c.administration_id, open_items.c.due_date, open_items.c.invoice_number)
    if administration_ids is not None:
        query = query.where(open_items.c.administration_id.in_(list(administration_ids)))
    if status is not None:
        query = query.where(open_items.c.status == status)
    if overdue_on is not None:
        query = query.where(
            (open_items.c.status == ItemStatus.OPEN.value) & (open_items.c.due_date < overdue_on)
        )
    return [ItemView(*row) for row in conn.execute(query)]


def list_debtors(
    conn: Connection, *, administration_ids: Sequence[int] | None = None
) -> list[Row[Any]]:
    query = select(debtors).order_by(debtors.c.administration_id, debtors.c.code)
    if administration_ids is not None:
        query = query.where(debtors.c.administration_id.in_(list(administration_ids)))
    return list(conn.execute(query))


def count_items(conn: Connection, administration_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(open_items.c.administration_id == administration_id)
        ).scalar_one()
    )
