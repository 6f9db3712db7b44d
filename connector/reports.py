"""Aging and DSO per administration, computed from the store.

"Today" is the administration's own date (its timezone), so an invoice due yesterday in
Amsterdam is overdue from 00:00 Amsterdam time, whatever the server's clock says.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy import select

from connector.domain import ItemStatus
from connector.store.records import AdministrationRecord
from connector.store.schema import open_items

BUCKETS = ("not_due", "1-30", "31-60", "61-90", "90+")


def local_today(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def bucket_of(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True, slots=True)
class AgingRow:
    administration_id: int
    administration: str
    currency: str
    buckets: dict[str, Decimal]
    items: int

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))


def aging(
    conn: Connection, admins: Sequence[AdministrationRecord], *, today: date | None = None
) -> list[AgingRow]:
    """Open amounts per overdue bucket, one row per administration and currency.

    Credit notes count in the bucket of their own due date, so the total is the net balance.
    """
    rows: list[AgingRow] = []
    for admin in admins:
        day = today or local_today(admin.timezone)
        sums: dict[str, dict[str, Decimal]] = defaultdict(
            lambda: {name: Decimal(0) for name in BUCKETS}
        )
        counts: dict[str, int] = defaultdict(int)
        result = conn.execute(
            select(open_items.c.currency, open_items.c.due_date, open_items.c.open_amount).where(
                (open_items.c.administration_id == admin.id)
                & (open_items.c.status == ItemStatus.OPEN.value)
            )
        )
        for currency, due, amount in result:
            sums[currency][bucket_of((day - due).days)] += amount
            counts[currency] += 1
        currencies = sorted(sums) or [admin.currency]
        for currency in currencies:
            rows.append(
                AgingRow(
                    administration_id=admin.id,
                    administration=admin.name,
                    currency=currency,
                    buckets=sums[currency]
                    if currency in sums
                    else {b: Decimal(0) for b in BUCKETS},
                    items=counts[currency],
                )
            )
    return rows


@dataclass(frozen=True, slots=True)
class DsoRow:
    administration_id: int
    administration: str
    currency: str
    receivables: Decimal
    dso_days: Decimal | None  # None when there is nothing to divide by
    months_used: int
    history_from: date | None
    # False when the walk back ran out of known invoices before the receivables were
    # covered: the figure is then a lower bound for the history the store has seen.
    complete: bool


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month(first: date) -> date:
    return date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)


def countback_dso(
    receivables: Decimal, sales_by_month: dict[date, Decimal], today: date
) -> tuple[Decimal | None, int, bool]:
    """Days sales outstanding by the countback method.

    Walk back month by month from the current (partial) month, taking each month's sales off
    the receivables and adding its days, until a month's sales cover what remains; that month
    contributes the fraction remaining/sales of its days. Returns (days, months used,
    complete).
    """
    if receivables <= 0:
        return Decimal(0), 0, True
    if not sales_by_month:
        return None, 0, False
    earliest = min(sales_by_month)
    remaining = receivables
    days = Decimal(0)
    month = _month_start(today)
    used = 0
    while month >= earliest:
        in_month = (
            today.day
            if month == _month_start(today)
            else calendar.monthrange(month.year, month.month)[1]
        )
        sales = sales_by_month.get(month, Decimal(0))
        used += 1
        if sales >= remaining and sales > 0:
            days += Decimal(in_month) * remaining / sales
            return days.quantize(Decimal("0.1"), ROUND_HALF_UP), used, True
        remaining -= sales
        days += in_month
        month = _previous_month(month)
    return days.quantize(Decimal("0.1"), ROUND_HALF_UP), used, False


def dso(
    conn: Connection, admins: Sequence[AdministrationRecord], *, today: date | None = None
) -> list[DsoRow]:
    """Countback DSO in each administration's own currency.

    Sales are the invoice totals the store knows (open and since-closed items, by invoice
    date); items in other currencies are left out rather than converted at a guessed rate.
    """
    rows: list[DsoRow] = []
    for admin in admins:
        day = today or local_today(admin.timezone)
        receivables = Decimal(0)
        sales: dict[date, Decimal] = defaultdict(Decimal)
        result = conn.execute(
            select(
                open_items.c.invoice_date,
                open_items.c.amount,
                open_items.c.open_amount,
                open_items.c.status,
            ).where(
                (open_items.c.administration_id == admin.id)
                & (open_items.c.currency == admin.currency)
            )
        )
        for invoice_date, amount, open_amount, status in result:
            if status == ItemStatus.OPEN.value:
                receivables += open_amount
            if invoice_date is not None and invoice_date <= day:
                sales[_month_start(invoice_date)] += amount if amount is not None else open_amount
        days, used, complete = countback_dso(receivables, dict(sales), day)
        rows.append(
            DsoRow(
                administration_id=admin.id,
                administration=admin.name,
                currency=admin.currency,
                receivables=receivables,
                dso_days=days,
                months_used=used,
                history_from=min(sales) if sales else None,
                complete=complete,
            )
        )
    return rows
