from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest

from connector import reports
from connector.domain import Administration
from connector.store import Store
from connector.store import records
from connector.sync import sync_all
from tests.fakes.ledger import FakeLedger
from tests.fakes.ledger import item

D = Decimal


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "not_due"),
        (0, "not_due"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
    ],
)
def test_bucket_boundaries(days, bucket):
    assert reports.bucket_of(days) == bucket


def test_countback_within_current_month():
    # 20 days into March with 2,000 of sales; 1,000 outstanding covers half of them.
    days, used, complete = reports.countback_dso(
        D(1000), {date(2026, 3, 1): D(2000)}, date(2026, 3, 20)
    )
    assert (days, used, complete) == (D("10.0"), 1, True)


def test_countback_walks_back_whole_months():
    sales = {date(2026, 3, 1): D(1000), date(2026, 2, 1): D(3000), date(2026, 1, 1): D(4000)}
    # 5,000 outstanding on 10 March: March (10 days) takes 1,000, February (28 days) 3,000,
    # the remaining 1,000 is a quarter of January's 4,000: 31/4 = 7.75 days.
    days, used, complete = reports.countback_dso(D(5000), sales, date(2026, 3, 10))
    assert days == D("45.8") and used == 3 and complete


def test_countback_leap_february_counts_29_days():
    sales = {date(2024, 3, 1): D(100), date(2024, 2, 1): D(100), date(2024, 1, 1): D(100)}
    days, _, _ = reports.countback_dso(D(200), sales, date(2024, 3, 31))
    assert days == D("60.0")  # 31 + 29


def test_countback_running_out_of_history_is_marked_incomplete():
    days, used, complete = reports.countback_dso(
        D(900), {date(2026, 3, 1): D(100)}, date(2026, 3, 15)
    )
    assert not complete and used == 1 and days == D("15.0")


def test_nothing_outstanding_is_zero_days():
    assert reports.countback_dso(D(0), {}, date(2026, 3, 1)) == (D(0), 0, True)


def test_local_today_is_the_administrations_date():
    late_evening_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert reports.local_today("Europe/Amsterdam", late_evening_utc) == date(2026, 3, 2)
    assert reports.local_today("America/New_York", late_evening_utc) == date(2026, 3, 1)


def test_aging_and_dso_from_the_store(store: Store):
    ledger = FakeLedger(admins=[Administration("a", "Alpha")])
    today = date(2026, 3, 31)
    ledger.set_items(
        "a",
        [
            item(1, open_amount="100.00", due=date(2026, 4, 10), invoice_date=date(2026, 3, 27)),
            item(2, open_amount="200.00", due=date(2026, 3, 30), invoice_date=date(2026, 3, 2)),
            item(3, open_amount="300.00", due=date(2026, 1, 15), invoice_date=date(2026, 1, 1)),
            item(4, open_amount="-50.00", due=date(2026, 3, 1), invoice_date=date(2026, 2, 1)),
            item(5, open_amount="400.00", due=date(2025, 11, 1), invoice_date=date(2025, 10, 1)),
        ],
    )
    with store.begin() as conn:
        c = records.save_connection(
            conn, name="f", ledger="fake", config={}, now=datetime(2026, 3, 31, tzinfo=UTC)
        )
        records.save_administrations(conn, c.id, ledger.administrations())
    sync_all(store, lambda _c: ledger)
    with store.begin() as conn:
        admins = records.list_administrations(conn)
        [row] = reports.aging(conn, admins, today=today)
        [dso] = reports.dso(conn, admins, today=today)
    assert row.buckets == {
        "not_due": D(50),  # the credit note is never overdue (issue 12.9)
        "1-30": D(200),
        "31-60": D(0),
        "61-90": D(300),
        "90+": D(400),
    }
    assert row.total == D(950) and row.items == 5
    assert dso.receivables == D(950)
    assert dso.history_from == date(2025, 10, 1)
    # 950 outstanding: March takes 300 (31 d), February's credit adds 50 (28 d), January takes
    # 300 (31 d); December and November sold nothing (31 + 30 d); October's 400 covers the
    # last 400 exactly (31 d).
    expected, _, complete = reports.countback_dso(
        D(950),
        {
            date(2026, 3, 1): D(300),
            date(2026, 2, 1): D(-50),
            date(2026, 1, 1): D(300),
            date(2025, 10, 1): D(400),
        },
        today,
    )
    assert dso.dso_days == expected and complete
    assert expected == D(31 + 28 + 31 + 31 + 30 + 31)


def test_dso_says_what_it_is_based_on_and_is_incomplete_before_the_store_watched(store: Store):
    """Pain (issue 12.9): a DSO of about 365 days reported as complete on demo data, whose
    store had seen only the invoices still open on the day of its first sync."""
    ledger = FakeLedger(admins=[Administration("a", "Alpha")])
    today = date(2026, 3, 31)
    ledger.set_items(
        "a",
        [
            item(1, open_amount="300.00", due=date(2026, 1, 15), invoice_date=date(2026, 1, 1)),
            item(2, open_amount="400.00", due=date(2025, 5, 1), invoice_date=date(2025, 4, 1)),
        ],
    )
    with store.begin() as conn:
        c = records.save_connection(
            conn, name="f", ledger="fake", config={}, now=datetime(2026, 3, 31, tzinfo=UTC)
        )
        records.save_administrations(conn, c.id, ledger.administrations())
    sync_all(store, lambda _c: ledger, clock=lambda: datetime(2026, 3, 31, 8, tzinfo=UTC))
    with store.begin() as conn:
        [dso] = reports.dso(conn, records.list_administrations(conn), today=today)
    assert dso.complete is False
    assert dso.watched_since == date(2026, 3, 31) and dso.window_from == date(2025, 4, 1)
    assert dso.basis == (
        "countback over 12 month(s) from 2025-04 of the invoices the store has seen since "
        "2026-03-31; incomplete: invoices paid before 2026-03-31 were never seen, so the "
        "figure is too high"
    )


def test_dso_is_complete_when_the_store_watched_the_whole_window(store: Store):
    ledger = FakeLedger(admins=[Administration("a", "Alpha")])
    ledger.set_items(
        "a", [item(1, open_amount="300.00", due=date(2026, 3, 20), invoice_date=date(2026, 3, 5))]
    )
    with store.begin() as conn:
        c = records.save_connection(
            conn, name="f", ledger="fake", config={}, now=datetime(2026, 2, 1, tzinfo=UTC)
        )
        records.save_administrations(conn, c.id, ledger.administrations())
    sync_all(store, lambda _c: ledger, clock=lambda: datetime(2026, 2, 1, 8, tzinfo=UTC))
    with store.begin() as conn:
        [dso] = reports.dso(conn, records.list_administrations(conn), today=date(2026, 3, 31))
    assert dso.complete is True and dso.months_used == 1
    assert dso.basis.startswith("countback over 1 month(s) from 2026-03")
