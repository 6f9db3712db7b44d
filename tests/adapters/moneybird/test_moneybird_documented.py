"""Issue 14 points 9 and 10, against the fake made as strict as Moneybird's OpenAPI
description: external sales invoices with only documented `state` filter values, with and
without the `external_sales_invoices/synchronization` path, and workflows whose reminder
behaviour cannot be told."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from adapters.moneybird import create_ledger
from adapters.moneybird import mapping
from adapters.moneybird.ledger import MoneybirdLedger
from connector.domain import OpenItem
from tests.fakes.moneybird import EXTERNAL
from tests.fakes.moneybird import FakeMoneybird
from tests.fakes.moneybird import StubTokens


@pytest.fixture
def fake() -> Iterator[FakeMoneybird]:
    with FakeMoneybird() as server:
        yield server


def ledger_for(fake: FakeMoneybird) -> MoneybirdLedger:
    return create_ledger(fake.settings(), tokens=StubTokens("test-token"))


def items(ledger: MoneybirdLedger, cursor: str | None = None) -> tuple[list[OpenItem], list, str]:
    admin = ledger.administrations()[0]
    found: list[OpenItem] = []
    removed: list[str] = []
    last = ""
    for page in ledger.open_items(admin, cursor).pages:
        found.extend(page.records)
        removed.extend(page.removed)
        last = page.cursor or last
    return found, removed, last


# --- point 9: the fake refuses undocumented filter values ---------------------------------


def test_the_fake_refuses_an_undocumented_external_state(fake: FakeMoneybird) -> None:
    adm = fake.add_administration()
    ledger = ledger_for(fake)
    with pytest.raises(Exception, match="State isn't an option") as caught:
        ledger.client.versions(adm, EXTERNAL, "state:open|late|pending_payment")
    assert getattr(caught.value, "status", None) == 400
    # documented values are accepted
    assert ledger.client.versions(adm, EXTERNAL, "state:open|late,period:this_year") == {}


@pytest.mark.parametrize("unavailable", [None, 404, 400])
def test_external_invoices_are_synced_with_documented_filters(unavailable: int | None) -> None:
    with FakeMoneybird(external_synchronization=unavailable) as fake:
        adm = fake.add_administration()
        contact = fake.add_contact(adm)["id"]
        old = fake.add_invoice(
            adm, contact, "250.00", kind=EXTERNAL, invoice_date=date(2021, 3, 1), state="late"
        )
        part = fake.add_invoice(adm, contact, "100.00", paid="40.00", kind=EXTERNAL)
        fake.add_invoice(adm, contact, "80.00", paid="80.00", kind=EXTERNAL, state="paid")
        sales = fake.add_invoice(adm, contact, "121.00")
        ledger = ledger_for(fake)

        found, removed, cursor = items(ledger)
        by_id = {i.external_id: i.open_amount.amount for i in found}
        assert by_id == {
            f"ext:{old['id']}": Decimal("250.00"),
            f"ext:{part['id']}": Decimal("60.00"),
            sales["id"]: Decimal("121.00"),
        }
        assert removed == []
        listed = [path for method, path in fake.log if EXTERNAL in path and method == "GET"]
        assert all("pending_payment" not in path for path in listed)
        if unavailable is None:
            assert fake.by_route[f"GET {EXTERNAL}/synchronization"] == 1
            assert fake.by_route[f"GET {EXTERNAL}"] == 0
        else:  # the listing: filter, page, per_page; records carry their version
            assert fake.by_route[f"GET {EXTERNAL}"] == 1
            assert any("per_page=100" in path for path in listed)

        # A re-sync: one paid in full, one changed; the paid one is confirmed by a fresh
        # read (GET .../{id} where there is no synchronization path) and closed.
        fake.add_invoice(adm, contact, "10.00", kind=EXTERNAL)
        fake.update_invoice(adm, old["id"], kind=EXTERNAL, state="paid", _paid=Decimal("250"))
        fake.update_invoice(adm, part["id"], kind=EXTERNAL, total="120.00")
        fake.reset_counters()
        found, removed, cursor2 = items(ledger, cursor)
        assert removed == [f"ext:{old['id']}"]
        assert sorted(i.open_amount.amount for i in found) == [Decimal("10.00"), Decimal("80.00")]
        if unavailable is not None:
            assert fake.by_route[f"GET {EXTERNAL}/{{id}}"] == 1
            assert fake.by_route[f"POST {EXTERNAL}/synchronization"] == 0

        # Nothing changed: nothing fetched.
        fake.reset_counters()
        found, removed, _ = items(ledger, cursor2)
        assert (found, removed) == ([], [])


@pytest.mark.parametrize("unavailable", [None, 404])
def test_read_items_of_external_invoices_either_way(unavailable: int | None) -> None:
    with FakeMoneybird(external_synchronization=unavailable) as fake:
        adm = fake.add_administration()
        contact = fake.add_contact(adm)["id"]
        inv = fake.add_invoice(adm, contact, "99.00", kind=EXTERNAL)
        ledger = ledger_for(fake)
        admin = ledger.administrations()[0]
        [item] = ledger.read_items(admin, [f"ext:{inv['id']}", "ext:12345"])
        assert item.open_amount.amount == Decimal("99.00")


# --- point 10: workflows ------------------------------------------------------------------


def test_a_workflow_without_steps_is_unknown_not_silent(
    fake: FakeMoneybird, caplog: pytest.LogCaptureFixture
) -> None:
    adm = fake.add_administration()
    flow = fake.add_workflow(adm, "Zonder stappen", with_steps=False)
    auto = fake.add_workflow(adm, "Automatisch", auto_send=True)
    quiet = fake.add_contact(adm, invoice_workflow_id=flow)
    loud = fake.add_contact(adm, invoice_workflow_id=auto)
    plain = fake.add_contact(adm)  # the default workflow: steps known, no auto-send
    ledger = ledger_for(fake)
    admin = ledger.administrations()[0]
    with caplog.at_level(logging.WARNING):
        debtors = {d.code: d for p in ledger.debtors(admin, None).pages for d in p.records}
    assert debtors[quiet["customer_id"]].tags == (mapping.REMINDERS_UNKNOWN_TAG,)
    assert debtors[loud["customer_id"]].tags == (mapping.REMINDERS_TAG,)
    assert debtors[plain["customer_id"]].tags == ()
    text = caplog.text
    assert "cannot tell whether" in text and "Zonder stappen" in text
    assert "Automatisch" in text


@pytest.mark.parametrize("how", ["forbidden", "none listed"])
def test_workflows_that_cannot_be_read_are_unknown(
    fake: FakeMoneybird, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    adm = fake.add_administration()
    fake.add_contact(adm)
    ledger = ledger_for(fake)
    admin = ledger.administrations()[0]
    if how == "forbidden":  # the workflows request (right after the versions) answers 403
        versions = ledger.client.versions

        def then_forbid(*args, **kwargs):
            found = versions(*args, **kwargs)
            fake.fail_next = [403]
            return found

        ledger.client.versions = then_forbid  # type: ignore[method-assign]
    else:
        fake.admins[adm].workflows.clear()
    with caplog.at_level(logging.WARNING):
        debtors = [d for p in ledger.debtors(admin, None).pages for d in p.records]
    assert [d.tags for d in debtors] == [(mapping.REMINDERS_UNKNOWN_TAG,)]
    assert "cannot tell whether" in caplog.text


def test_workflow_mapping_keeps_unknown_apart_from_no() -> None:
    known = mapping.workflow(
        {
            "id": "1",
            "name": "Standaard",
            "type": "InvoiceWorkflow",
            "steps": [{"step_order": 0, "due_interval": 30}],
        }
    )
    unknown = mapping.workflow({"id": "2", "name": "Kaal", "type": "InvoiceWorkflow"})
    assert known.auto_reminders is False and known.payment_term_days == 30
    assert unknown.auto_reminders is None and unknown.payment_term_days is None
    assert mapping.reminder_tags(unknown) == (mapping.REMINDERS_UNKNOWN_TAG,)
    assert mapping.reminder_tags(None) == (mapping.REMINDERS_UNKNOWN_TAG,)
