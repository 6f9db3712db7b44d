"""The firm's front page: one summary row per administration the user may see."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select

from connector.domain import ItemStatus
from connector.dunning.tables import ActionStatus
from connector.dunning.tables import dunning_actions
from connector.store.records import AdministrationRecord
from connector.store.records import list_administrations
from connector.store.schema import open_items

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SORT_KEYS = ("name", "open", "overdue", "share", "waiting", "sync")


@dataclass(frozen=True, slots=True)
class AdministrationSummary:
    id: int
    name: str
    ledger: str
    currency: str
    open_total: Decimal  # in the administration's currency
    overdue_total: Decimal
    other_currency_items: int  # open items in another currency: not in the totals, shown apart
    letters_waiting: int  # awaiting approval
    uncertain: int  # sends to settle
    last_sync_at: datetime | None
    last_sync_status: str
    last_sync_error: str

    @property
    def overdue_share(self) -> Decimal | None:
        """Overdue as a share of open (0-1); None when nothing is open."""
        if self.open_total <= 0:
            return None
        return self.overdue_total / self.open_total


def overview(
    conn: Connection,
    administration_ids: Sequence[int],
    today: date,
    *,
    search: str = "",
    sort: str = "name",
    descending: bool = False,
    only_attention: bool = False,
) -> list[AdministrationSummary]:
    """Summaries of these administrations, filtered by `search` (name, case-insensitive)."""
    ids = list(administration_ids)
    if not ids:
        return []
    admins = [a for a in list_administrations(conn) if a.id in set(ids)]
    if search.strip():
        needle = search.strip().lower()
        admins = [a for a in admins if needle in a.name.lower()]
    totals = _totals(conn, [a.id for a in admins], today)
    waiting = _action_counts(conn, [a.id for a in admins])
    rows = [_summary(a, totals, waiting) for a in admins]
    if only_attention:
        rows = [
            r for r in rows if r.letters_waiting or r.uncertain or r.last_sync_status == "failed"
        ]
    return sorted(rows, key=_sort_key(sort), reverse=descending)


def _summary(
    admin: AdministrationRecord,
    totals: dict[tuple[int, str], tuple[Decimal, Decimal, int]],
    counts: dict[tuple[int, str], int],
) -> AdministrationSummary:
    open_total, overdue_total, _ = totals.get(
        (admin.id, admin.currency), (Decimal(0), Decimal(0), 0)
    )
    others = sum(
        n for (aid, cur), (_, _, n) in totals.items() if aid == admin.id and cur != admin.currency
    )
    return AdministrationSummary(
        id=admin.id,
        name=admin.name,
        ledger=admin.ledger,
        currency=admin.currency,
        open_total=open_total,
        overdue_total=overdue_total,
        other_currency_items=others,
        letters_waiting=counts.get((admin.id, ActionStatus.PENDING_APPROVAL.value), 0),
        uncertain=counts.get((admin.id, ActionStatus.UNCERTAIN.value), 0),
        last_sync_at=admin.last_sync_at,
        last_sync_status=admin.last_sync_status,
        last_sync_error=admin.last_sync_error,
    )


def _totals(
    conn: Connection, ids: Sequence[int], today: date
) -> dict[tuple[int, str], tuple[Decimal, Decimal, int]]:
    if not ids:
        return {}
    i = open_items.c
    overdue = func.sum(case((i.due_date < today, i.open_amount), else_=0))
    query = (
        select(i.administration_id, i.currency, func.sum(i.open_amount), overdue, func.count())
        .where(i.administration_id.in_(list(ids)))
        .where(i.status == ItemStatus.OPEN.value)
        .group_by(i.administration_id, i.currency)
    )
    return {
        (int(aid), cur): (Decimal(str(total or 0)), Decimal(str(late or 0)), int(n))
        for aid, cur, total, late, n in conn.execute(query)
    }


def _action_counts(conn: Connection, ids: Sequence[int]) -> dict[tuple[int, str], int]:
    if not ids:
        return {}
    a = dunning_actions.c
    query = (
        select(a.administration_id, a.status, func.count())
        .where(a.administration_id.in_(list(ids)))
        .where(a.status.in_([ActionStatus.PENDING_APPROVAL.value, ActionStatus.UNCERTAIN.value]))
        .group_by(a.administration_id, a.status)
    )
    return {(int(aid), status): int(n) for aid, status, n in conn.execute(query)}


def _sort_key(sort: str) -> Callable[[AdministrationSummary], Any]:
    if sort == "open":
        return lambda r: r.open_total
    if sort == "overdue":
        return lambda r: r.overdue_total
    if sort == "share":
        return lambda r: r.overdue_share if r.overdue_share is not None else Decimal(-1)
    if sort == "waiting":
        return lambda r: r.letters_waiting
    if sort == "sync":
        return lambda r: (r.last_sync_at is not None, r.last_sync_at or _EPOCH)
    return lambda r: r.name.lower()
