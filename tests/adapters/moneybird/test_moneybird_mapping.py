"""Moneybird JSON (recorded shapes from the API documentation) -> domain objects."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adapters.moneybird import mapping
from adapters.moneybird.mapping import InvoiceKind
from adapters.moneybird.mapping import MappingError
from connector.domain import Address
from connector.domain import DebtorKind
from connector.domain import Money


def test_administrations_skip_suspended_and_keep_big_ids_as_strings(load) -> None:
    rows = load("administrations")
    found = [mapping.administration(row) for row in rows]
    assert found[2] is None  # suspended
    first, second = found[0], found[1]
    assert first is not None and second is not None
    assert first.external_id == "177314830190333403"
    assert second.external_id == "123"  # sent as a number
    assert (second.name, second.currency, second.timezone, second.country) == (
        "Parkietje B.V.",
        "EUR",
        "Europe/Amsterdam",
        "NL",
    )


def test_workflows_give_payment_term_and_reminder_mode(load) -> None:
    flows = mapping.invoice_workflows(load("workflows"))
    assert set(flows) == {"481220994833319054", "481220994833319099"}  # no estimate workflow
    standard = flows["481220994833319054"]
    assert (standard.payment_term_days, standard.auto_reminders, standard.default) == (
        14,
        False,
        True,
    )
    assert standard.reminder_steps == 2
    auto = flows["481220994833319099"]
    assert (auto.payment_term_days, auto.auto_reminders) == (8, True)
    assert mapping.default_workflow(flows) == standard


def test_business_contact_as_debtor(load) -> None:
    flows = mapping.invoice_workflows(load("workflows"))
    company = load("contacts")[0]
    debtor = mapping.debtor(company, workflows=flows, language="en")
    assert debtor.code == "3"  # customer_id, not Moneybird's id
    assert debtor.name == "Foobar Holding B.V."
    assert debtor.kind is DebtorKind.BUSINESS
    assert debtor.email == "facturen@example.com"  # the address invoices go to
    assert debtor.phone == "020-1234567"
    assert debtor.address == Address("Hoofdstraat 12, 2e verdieping", "1234AB", "Amsterdam", "NL")
    assert debtor.iban == "NL91ABNA0417164300"
    assert (debtor.vat_number, debtor.kvk_number) == ("NL852924574B01", "12345678")
    assert debtor.language == "en"
    assert debtor.payment_term_days == 14  # the default workflow
    assert debtor.tags == ()  # its workflow does not send reminders by itself


def test_person_contact_as_consumer_with_own_workflow(load) -> None:
    flows = mapping.invoice_workflows(load("workflows"))
    person = load("contacts")[1]
    debtor = mapping.debtor(person, workflows=flows, language="nl")
    assert debtor.name == "Jan Janssen"
    assert debtor.kind is DebtorKind.CONSUMER
    assert debtor.email == "jan@example.com"  # no invoice address: the general one
    assert debtor.iban == "NL02ABNA0123456789"  # the SEPA IBAN, normalised
    assert debtor.address.country == "NL"
    assert debtor.payment_term_days == 8
    assert debtor.tags == ("moneybird-reminders",)


def test_debtor_without_workflows_has_no_term_and_unknown_reminders() -> None:
    debtor = mapping.debtor(
        {"id": "5", "customer_id": "", "company_name": "X"}, workflows={}, language="nl"
    )
    # Without a workflow nobody can tell whether Moneybird reminds: never taken as "no".
    assert (debtor.code, debtor.payment_term_days, debtor.tags) == (
        "5",
        None,
        ("moneybird-reminders-unknown",),
    )


def test_open_sales_invoice(load) -> None:
    invoice = load("sales_invoices")[0]
    item = mapping.open_item(InvoiceKind.SALES, invoice)
    assert item is not None
    assert item.external_id == "481221152235063180"
    assert item.invoice_number == "2024-0042"
    assert item.debtor_code == "3"  # the embedded contact's customer_id
    assert (item.invoice_date, item.due_date) == (date(2024, 11, 2), date(2024, 11, 16))
    assert item.open_amount == Money(Decimal("1000.01"), "EUR")  # exact, from the string
    assert item.amount == Money(Decimal("1210.01"), "EUR")
    assert item.description == "Project X"


def test_credit_note_is_open_with_negative_amount(load) -> None:
    credit = load("sales_invoices")[1]
    item = mapping.open_item(InvoiceKind.SALES, credit)
    assert item is not None
    assert item.open_amount == Money(Decimal("-363.0"), "EUR")
    assert item.is_credit


@pytest.mark.parametrize(
    ("state", "unpaid"),
    [
        ("paid", "0.0"),
        ("open", "0.0"),
        ("uncollectible", "363.0"),
        ("draft", "363.0"),
        ("scheduled", "363.0"),
    ],
)
def test_not_open(load, state: str, unpaid: str) -> None:
    invoice = load("sales_invoices")[0]
    invoice.update(state=state, total_unpaid=unpaid)
    assert mapping.open_item(InvoiceKind.SALES, invoice) is None


@pytest.mark.parametrize("state", ["open", "late", "reminded", "pending_payment"])
def test_every_unpaid_state_is_open(load, state: str) -> None:
    invoice = load("sales_invoices")[0]
    invoice["state"] = state
    assert mapping.open_item(InvoiceKind.SALES, invoice) is not None


def test_external_invoice_without_due_date_falls_back_to_its_date(load) -> None:
    external = load("external_sales_invoices")[0]
    item = mapping.open_item(InvoiceKind.EXTERNAL, external)
    assert item is not None
    assert item.external_id == "ext:481221070392657656"
    assert item.invoice_number == "WEB-2023-118"  # the number in the other system
    assert item.invoice_date == item.due_date == date(2023, 6, 30)
    assert item.open_amount == Money(Decimal("121.0"))
    assert mapping.parse_external_id(item.external_id) == (
        InvoiceKind.EXTERNAL,
        "481221070392657656",
    )


def test_external_states(load) -> None:
    external = load("external_sales_invoices")[0]
    external["state"] = "new"
    assert mapping.open_item(InvoiceKind.EXTERNAL, external) is None
    external["state"] = "reminded"  # not an external invoice state
    assert mapping.open_item(InvoiceKind.EXTERNAL, external) is None


def test_parse_external_id() -> None:
    assert mapping.parse_external_id("123") == (InvoiceKind.SALES, "123")
    with pytest.raises(MappingError):
        mapping.parse_external_id("ext:abc")
    with pytest.raises(MappingError):
        mapping.parse_external_id("X1")


@pytest.mark.parametrize("bad", [12.5, "twelve", None, True, "NaN"])
def test_amounts_must_be_strings_or_decimals(load, bad: object) -> None:
    invoice = load("sales_invoices")[0]
    invoice["total_unpaid"] = bad
    with pytest.raises(MappingError, match="total_unpaid"):
        mapping.open_item(InvoiceKind.SALES, invoice)


def test_bad_dates_and_currency_are_problems(load) -> None:
    invoice = load("sales_invoices")[0]
    invoice["due_date"] = "16-11-2024"
    with pytest.raises(MappingError, match="due_date"):
        mapping.open_item(InvoiceKind.SALES, invoice)
    invoice = load("sales_invoices")[0]
    invoice["currency"] = "euro"
    with pytest.raises(MappingError, match="currency"):
        mapping.open_item(InvoiceKind.SALES, invoice)
    invoice = load("sales_invoices")[0]
    invoice.update(due_date=None, invoice_date=None)
    with pytest.raises(MappingError, match="neither"):
        mapping.open_item(InvoiceKind.SALES, invoice)


def test_payment_by_transaction_identifier(load) -> None:
    invoice = load("sales_invoice")
    found = mapping.payment_with(invoice, "bank-20241201")
    assert found is not None and found["id"] == "481221139862914822"
    assert mapping.payment_with(invoice, "dc-1-1") is None


def test_notes_written_by_us_are_found_by_key() -> None:
    row = {
        "notes": [
            {
                "id": "1",
                "note": "Disputed\n[dunning-connector dc-1] pause=ours",
                "created_at": "2026-01-01T10:00:00Z",
            },
            {
                "id": "2",
                "note": "Disputed\n[dunning-connector dc-2] pause=kept",
                "created_at": "2026-01-02T10:00:00Z",
            },
        ]
    }
    assert mapping.has_note(row, "dc-1") and mapping.has_note(row, "dc-2")
    assert not mapping.has_note(row, "dc-3")
    assert not mapping.has_note(row, "dc")  # the marker closes after the key
    assert mapping.our_pause(row) is False  # the newest note found it paused already
    row["notes"][0]["created_at"] = "2026-01-03T10:00:00Z"  # now the "ours" note is newest
    assert mapping.our_pause(row) is True
    assert mapping.our_pause({"notes": []}) is False
