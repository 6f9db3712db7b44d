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

    A credit note (a negative open amount) is owed to the debtor and never overdue: it counts
    under "not due", so the overdue buckets show only what is late and the total is still the
    net balance.
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
            bucket = bucket_of((day - due).days) if amount > 0 else BUCKETS[0]
            sums[currency][bucket] += amount
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
    # covered, or when the months it used lie (partly) before the store started watching the
    # ledger: invoices paid before the first sync were never seen, so those months' sales are
    # missing and the figure is too high. `basis` says which.
    complete: bool
    watched_since: date | None = None  # the local date of the first item the store saw
    window_from: date | None = None  # the first month the countback used
    basis: str = ""  # what the figure is based on, in one line


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
                open_items.c.first_seen_at,
            ).where(
                (open_items.c.administration_id == admin.id)
                & (open_items.c.currency == admin.currency)
            )
        )
        first_seen: datetime | None = None
        for invoice_date, amount, open_amount, status, seen in result:
            if status == ItemStatus.OPEN.value:
                receivables += open_amount
            if invoice_date is not None and invoice_date <= day:
                sales[_month_start(invoice_date)] += amount if amount is not None else open_amount
            if seen is not None and (first_seen is None or seen < first_seen):
                first_seen = seen
        days, used, walked = countback_dso(receivables, dict(sales), day)
        watched = first_seen.astimezone(ZoneInfo(admin.timezone)).date() if first_seen else None
        window = _month_start(day)
        for _ in range(max(used - 1, 0)):
            window = _previous_month(window)
        # The sales of a month are all known only when the store watched the whole month.
        covered = watched is not None and (used == 0 or watched <= window)
        complete = walked and covered
        if used == 0:
            basis = "no receivables" if receivables <= 0 else "no sales known"
        else:
            basis = (
                f"countback over {used} month(s) from {window:%Y-%m} of the invoices the store "
                f"has seen since {watched}"
            )
            if not covered:
                basis += (
                    f"; incomplete: invoices paid before {watched} were never seen, so the "
                    "figure is too high"
                )
            elif not walked:
                basis += "; incomplete: the known sales do not cover the receivables"
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
                watched_since=watched,
                window_from=window if used else None,
                basis=basis,
            )
        )
    return rows
