"""The Moneybird ledger against the fake Moneybird server, through the real sync engine and
store (SQLite and PostgreSQL): what arrives, what closes, what is written back, and the
rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest

from adapters.moneybird import create_ledger
from adapters.moneybird.ledger import MoneybirdLedger
from connector.domain import Administration
from connector.domain import ItemStatus
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import RetriableLedgerError
from connector.store import Store
from connector.store import records
from connector.sync import sync_all
from tests.fakes.moneybird import EXTERNAL
from tests.fakes.moneybird import FakeMoneybird
from tests.fakes.moneybird import StubTokens


@pytest.fixture
def fake() -> Iterator[FakeMoneybird]:
    with FakeMoneybird(limit=6, window=0.4) as server:
        yield server


def ledger_for(fake: FakeMoneybird, **overrides) -> MoneybirdLedger:
    return create_ledger(fake.settings(**overrides), tokens=StubTokens("test-token"))


def connect(store: Store, ledger: MoneybirdLedger) -> None:
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name="mb", ledger="moneybird", config={}, now=datetime.now(UTC)
        )
        records.save_administrations(conn, connection.id, ledger.administrations())


def stored_open(store: Store) -> dict[str, tuple[str, Decimal]]:
    with store.begin() as conn:
        rows = records.list_items(conn, status=ItemStatus.OPEN.value)
    return {r.external_id: (r.invoice_number, Decimal(r.open_amount)) for r in rows}


def sync(store: Store, ledger: MoneybirdLedger):
    [summary] = sync_all(store, lambda _c: ledger)
    assert summary.ok, summary.error
    return summary


def test_sync_arrives_closes_and_stays_cheap(store: Store, fake: FakeMoneybird) -> None:
    adm = fake.add_administration()
    fake.seed(adm, contacts=30, open_invoices=250, older=40, paid=20, external=10)
    ledger = ledger_for(fake)
    connect(store, ledger)

    first = sync(store, ledger)
    assert first.fetched == first.new == 250
    assert first.debtors_new == 30
    assert stored_open(store) == fake.open_invoices(adm)  # same numbers, same cents
    assert any(
        number.startswith(str(date.today().year - 2)) for number, _ in stored_open(store).values()
    )

    # 30 changed (a third paid in full), one deleted, one new, one credit note.
    fake.change_invoices(adm, 30)
    gone = next(iter(fake.open_invoices(adm)))
    fake.delete_invoice(adm, gone)
    contact = next(iter(fake.admins[adm].contacts))
    fake.add_invoice(adm, contact, "99.95")
    fake.add_invoice(adm, contact, "-50.00")
    fake.reset_counters()
    second = sync(store, ledger)
    assert (second.new, second.changed, second.closed) == (2, 20, 11)
    assert stored_open(store) == fake.open_invoices(adm)
    # 1 administrations + contacts (listing, workflows) + invoices (2 listings, 1 + 0 fetches)
    assert fake.requests == 1 + 2 + 3

    fake.reset_counters()
    third = sync(store, ledger)
    assert (third.new, third.changed, third.closed) == (0, 0, 0)
    assert fake.requests == 1 + 2 + 2  # at most 2 calls per stream
    assert fake.throttled == 0
    assert fake.peak_in_window <= fake.limit


def test_a_stricter_server_is_waited_for(store: Store) -> None:
    # The server allows 3 requests per window, the client believes 50 and gets no
    # RateLimit headers to learn better: 429s happen, are honoured (epoch Retry-After), and
    # everything still arrives.
    with FakeMoneybird(limit=3, window=0.5, limit_headers=False) as fake:
        adm = fake.add_administration()
        fake.seed(adm, contacts=5, open_invoices=120, older=10)
        ledger = ledger_for(fake, rate_limit_requests=50)
        connect(store, ledger)
        summary = sync(store, ledger)
        assert summary.fetched == 120
        assert fake.throttled > 0
        assert stored_open(store) == fake.open_invoices(adm)


@pytest.mark.parametrize("style", ["epoch", "seconds"])
def test_429_with_either_kind_of_retry_after(style: str) -> None:
    with FakeMoneybird(limit=2, window=0.3, retry_after=style, limit_headers=False) as fake:
        adm = fake.add_administration()
        ledger = ledger_for(fake, rate_limit_requests=100)
        admin = ledger.administrations()[0]
        for _ in range(4):
            assert ledger.read_items(admin, ["1"]) == []
        assert fake.throttled > 0
        assert adm == admin.external_id


def test_the_fake_defaults_the_period_to_this_year(fake: FakeMoneybird) -> None:
    adm = fake.add_administration()
    contact = fake.add_contact(adm)["id"]
    old = fake.add_invoice(adm, contact, "10.00", invoice_date=date(2019, 5, 1))
    ledger = ledger_for(fake)
    naive = ledger.client.versions(adm, "sales_invoices", "state:open|late")
    assert old["id"] not in naive  # what a client without a period would miss
    admin = ledger.administrations()[0]
    pages = list(ledger.open_items(admin, None).pages)
    assert [r.external_id for p in pages for r in p.records] == [old["id"]]


def admin_and_item(
    fake: FakeMoneybird, total: str = "121.00", **kwargs
) -> tuple[Administration, OpenItem, str]:
    adm = fake.add_administration()
    contact = fake.add_contact(adm)["id"]
    invoice = fake.add_invoice(adm, contact, total, **kwargs)
    ledger = ledger_for(fake)
    admin = ledger.administrations()[0]
    [item] = ledger.read_items(
        admin, [invoice["id"] if "invoice_id" in invoice else f"ext:{invoice['id']}"]
    )
    return admin, item, invoice["id"]


def test_payment_written_once_even_when_the_answer_is_lost(fake: FakeMoneybird) -> None:
    admin, item, iid = admin_and_item(fake)
    ledger = ledger_for(fake)
    fake.lose_next_write = True
    with pytest.raises(RetriableLedgerError):
        ledger.record_payment(admin, item, Money(Decimal("121.00")), date(2026, 3, 9), "dc-1-1")
    assert fake.lost == 1
    receipt = ledger.record_payment(
        admin, item, Money(Decimal("121.00")), date(2026, 3, 9), "dc-1-1"
    )
    assert receipt.already_recorded
    again = ledger.record_payment(admin, item, Money(Decimal("121.00")), date(2026, 3, 9), "dc-1-1")
    assert again.already_recorded and again.ledger_reference == receipt.ledger_reference
    invoice = fake.invoice(admin.external_id, iid)
    assert [p["transaction_identifier"] for p in invoice["payments"]] == ["dc-1-1"]
    assert invoice["state"] == "paid" and invoice["total_unpaid"] == "0.0"
    assert ledger.read_items(admin, [item.external_id]) == []


def test_never_overpay(fake: FakeMoneybird) -> None:
    admin, item, iid = admin_and_item(fake, "100.00")
    ledger = ledger_for(fake)
    first = ledger.record_payment(admin, item, Money(Decimal("60.00")), date(2026, 3, 9), "dc-2-1")
    second = ledger.record_payment(admin, item, Money(Decimal("60.00")), date(2026, 3, 9), "dc-2-2")
    third = ledger.record_payment(admin, item, Money(Decimal("60.00")), date(2026, 3, 9), "dc-2-3")
    assert [first.amount.amount, second.amount.amount, third.amount.amount] == [60, 40, 0]
    invoice = fake.invoice(admin.external_id, iid)
    assert Decimal(invoice["total_paid"]) == Decimal("100") and invoice["state"] == "paid"
    assert len(invoice["payments"]) == 2


def test_a_chargeback_reopens_the_invoice(fake: FakeMoneybird) -> None:
    admin, item, iid = admin_and_item(fake, "80.00", invoice_date=date(2025, 1, 2))
    ledger = ledger_for(fake)
    ledger.record_payment(admin, item, Money(Decimal("80.00")), date(2026, 3, 9), "dc-3-1")
    receipt = ledger.reverse_payment(admin, item, Money(Decimal("80.00")), "dc-3-2")
    assert receipt.amount == Money(Decimal("80.00"))
    assert ledger.reverse_payment(admin, item, Money(Decimal("80.00")), "dc-3-2").already_recorded
    invoice = fake.invoice(admin.external_id, iid)
    assert invoice["state"] == "late" and invoice["total_unpaid"] == "80.0"
    [back] = ledger.read_items(admin, [item.external_id])
    assert back.open_amount == Money(Decimal("80.0"))


def test_dispute_pauses_and_resumes_moneybirds_reminders(fake: FakeMoneybird) -> None:
    admin, item, iid = admin_and_item(fake)
    ledger = ledger_for(fake)
    ledger.flag_dispute(admin, item, "Levering onvolledig", "dc-4-1")
    ledger.flag_dispute(admin, item, "Levering onvolledig", "dc-4-1")  # a retry
    invoice = fake.invoice(admin.external_id, iid)
    assert invoice["paused"] is True
    [note] = invoice["notes"]
    assert note["todo"] is True and "Levering onvolledig" in note["note"]
    ledger.clear_dispute(admin, item, "dc-4-2")
    ledger.clear_dispute(admin, item, "dc-4-2")
    assert invoice["paused"] is False
    assert len(invoice["notes"]) == 2 and not invoice["notes"][1]["todo"]


def test_dispute_on_an_external_invoice(fake: FakeMoneybird) -> None:
    admin, item, iid = admin_and_item(fake, kind=EXTERNAL)
    ledger = ledger_for(fake)
    ledger.flag_dispute(admin, item, "x", "dc-5-1")
    invoice = fake.invoice(admin.external_id, iid, kind=EXTERNAL)
    assert len(invoice["notes"]) == 1 and "paused" not in invoice
