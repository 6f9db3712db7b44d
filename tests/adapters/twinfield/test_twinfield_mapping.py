"""Twinfield XML -> domain (pure), and the request documents built with lxml."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from adapters.twinfield import documents
from adapters.twinfield import mapping
from adapters.twinfield.client import parse_xml
from adapters.twinfield.client import result_messages
from connector.domain import DebtorKind
from connector.domain import Money
from connector.errors import LedgerError

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> etree._Element:
    return parse_xml((FIXTURES / name).read_bytes())


def test_offices_keep_order_and_codes_and_fall_back_to_short_name() -> None:
    found = mapping.offices(load("offices.xml"))
    assert [(a.external_id, a.name) for a in found] == [
        ("NLA000123", "Bakkerij De Korenschoof"),
        ("NLA000124", "Studio"),
    ]


def test_business_debtor_from_the_default_address_with_leading_zeros() -> None:
    debtor = mapping.debtor(load("dimension_deb.xml"))
    assert debtor is not None
    assert debtor.code == "0042"
    assert debtor.name == "ACME B.V."
    assert debtor.kind is DebtorKind.BUSINESS
    assert debtor.email == "debiteuren@acme.example"  # the reminder address wins
    assert debtor.phone == "030-1234567"
    assert debtor.address.street == "Oudegracht 1 2e etage"
    assert debtor.address.postal_code == "3511 AB"
    assert debtor.address.city == "Utrecht"
    assert debtor.address.country == "NL"
    assert debtor.vat_number == "NL123456789B01"
    assert debtor.kvk_number == "12345678"
    assert debtor.iban == "NL91ABNA0417164300"
    assert debtor.payment_term_days == 14
    assert debtor.tags == (mapping.REMINDER_TAG, mapping.REMINDER_EMAIL_TAG)
    assert mapping.credit_comment(load("dimension_deb.xml")) == "Eerste regel"


def test_debtor_without_vat_or_kvk_takes_the_default_kind() -> None:
    root = load("dimension_consumer.xml")
    consumer = mapping.debtor(root)
    assert consumer is not None
    assert consumer.code == "000100"
    assert consumer.kind is DebtorKind.CONSUMER
    assert consumer.email == "jan@example.nl"
    assert consumer.payment_term_days is None
    assert consumer.tags == (mapping.REMINDER_TAG,)
    business = mapping.debtor(root, DebtorKind.BUSINESS)
    assert business is not None and business.kind is DebtorKind.BUSINESS


def test_deleted_debtor_is_skipped() -> None:
    assert mapping.debtor(load("dimension_deleted.xml")) is None


def test_reminder_setting_defaults_to_false_for_unknown_values() -> None:
    root = etree.fromstring(
        "<dimension><creditmanagement><sendreminder>sometimes</sendreminder>"
        "</creditmanagement></dimension>"
    )
    assert mapping.reminder_setting(root) == "false"


def test_browse_rows_become_open_items_to_the_cent() -> None:
    rows = list(mapping.browse_rows(load("browse_100.xml")))
    # the second row repeats the first line (another regime): it is read once
    assert [r.external_id for r in rows] == [
        "VRK:202500069:1",
        "VRK:202500070:1",
        "VRK:202500071:1",
        "MEMO:202500003:4",
        "VRK:202500072:1",
    ]
    items = [mapping.open_item(r) for r in rows]
    first, matched, credit, memo, proposed = items
    assert matched is None  # matched: closed
    assert proposed is None  # a proposed match is not "available"
    assert first is not None
    assert first.invoice_number == "F2025-0069"
    assert first.debtor_code == "0042"
    assert first.invoice_date == date(2025, 1, 1)
    assert first.due_date == date(2025, 1, 31)
    assert first.open_amount == Money(Decimal("100.10"), "EUR")
    assert first.amount == Money(Decimal("121.00"), "EUR")
    assert credit is not None
    assert credit.debtor_code == "007"
    assert credit.open_amount == Money(Decimal("-200.00"), "USD")  # the invoice currency
    assert credit.is_credit
    assert memo is not None
    assert memo.invoice_number == "202500003"  # no invoice number: the transaction number
    assert memo.due_date == date(2025, 1, 4)  # no due date: the transaction date
    assert memo.open_amount == Money(Decimal("10.00"), "EUR")  # base value, admin currency


def test_open_item_without_any_date_is_an_error() -> None:
    row = mapping.BrowseRow(
        "VRK", "1", "1", {documents.F_MATCHSTATUS: "available", documents.F_OPEN_BASE: "1.00"}
    )
    with pytest.raises(LedgerError, match="due date"):
        mapping.open_item(row)


def test_amounts_and_dates() -> None:
    assert mapping.parse_amount("-1234.56", "x") == Decimal("-1234.56")
    assert mapping.parse_amount("12,50", "x") == Decimal("12.50")
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(LedgerError):
            mapping.parse_amount(bad, "x")
    assert mapping.parse_date("20250131") == date(2025, 1, 31)
    assert mapping.parse_date("2025-01-31T00:00:00") == date(2025, 1, 31)
    assert mapping.parse_date("20250131235959") == date(2025, 1, 31)
    assert mapping.parse_date("20251345") is None
    assert mapping.parse_date("") is None


def test_external_ids_round_trip() -> None:
    assert mapping.split_external_id(mapping.external_id("VRK", "2025001", "1")) == (
        "VRK",
        "2025001",
        "1",
    )
    for bad in ("VRK:1", "VRK::1", "a:b:c:d"):
        with pytest.raises(LedgerError):
            mapping.split_external_id(bad)


def test_transaction_answer() -> None:
    tx = mapping.transaction(load("transaction_bnk.xml"))
    assert (tx.code, tx.number, tx.location, tx.reference) == (
        "BNK",
        "202600012",
        "final",
        "dc-12-34",
    )
    detail = tx.detail_for("0042")
    assert detail is not None
    assert detail.id == "2"
    assert detail.value == Decimal("-21.00")
    assert detail.matchstatus == "available"
    assert tx.detail_for("9999") is None


def test_result_messages_on_a_batch_with_errors_and_warnings() -> None:
    ok, errors = result_messages(load("transaction_rejected.xml"))
    assert not ok
    assert errors == ["Dagboek BNX bestaat niet.", "Grootboekrekening 9999 bestaat niet."]


def test_browse_document_shows_fields_and_filters() -> None:
    doc = documents.browse(
        [
            documents.Filter(documents.F_YEARPERIOD, "between", "2025/00", "2025/55"),
            documents.Filter(documents.F_MATCHSTATUS, "equal", "available"),
        ]
    )
    assert doc.tag == "columns" and doc.get("code") == "100"
    fields = [c.findtext("field") for c in doc.iterfind("column")]
    assert fields == list(documents.VISIBLE_FIELDS)
    status = next(c for c in doc if c.findtext("field") == documents.F_MATCHSTATUS)
    assert (status.findtext("operator"), status.findtext("from")) == ("equal", "available")
    period = next(c for c in doc if c.findtext("field") == documents.F_YEARPERIOD)
    assert (period.findtext("from"), period.findtext("to")) == ("2025/00", "2025/55")


def test_bank_transaction_is_built_by_the_library_so_text_is_escaped() -> None:
    payment = documents.Payment(
        office="NL<1>",
        daybook="BNK",
        day=date(2026, 2, 1),
        debtor="0042",
        receivables_account="1300",
        amount=Money(Decimal("21.5"), "EUR"),
        invoice_number="F&1</invoicenumber><x>",
        reference="dc-12-34",
        description="Betaling dc-12-34",
    )
    doc = documents.bank_transaction(payment)
    text = etree.tostring(doc, encoding="unicode")
    assert "F&amp;1&lt;/invoicenumber&gt;&lt;x&gt;" in text
    again = etree.fromstring(text)
    assert again.get("destiny") == "final"
    assert again.findtext("header/freetext1") == "dc-12-34"
    assert again.findtext("header/date") == "20260201"
    total, detail = again.findall("lines/line")
    assert (total.get("type"), total.findtext("value"), total.findtext("debitcredit")) == (
        "total",
        "21.50",
        "debit",
    )
    assert detail.findtext("dim2") == "0042"
    assert detail.findtext("debitcredit") == "credit"
    assert detail.findtext("invoicenumber") == "F&1</invoicenumber><x>"


def test_match_document_carries_partial_values_only_where_given() -> None:
    doc = documents.match(
        "NL1",
        date(2026, 2, 1),
        [
            documents.MatchLine("BNK", "202600012", "2", Money(Decimal("-21"), "EUR")),
            documents.MatchLine("VRK", "202500069", "1", None),
        ],
    )
    assert doc.findtext("set/matchcode") == "170"
    assert doc.findtext("set/matchdate") == "20260201"
    first, second = doc.findall("set/lines/line")
    assert first.findtext("matchvalue") == "-21.00"
    assert second.find("matchvalue") is None


def test_credit_management_is_read_where_twinfield_puts_it() -> None:
    # Issue 14.11: a real-shaped answer has <creditmanagement> directly under <dimension>.
    root = load("dimension_captured.xml")
    debtor = mapping.debtor(root)
    assert debtor is not None
    assert debtor.code == "1097"
    assert mapping.reminder_setting(root) == "true"
    assert debtor.tags == (mapping.REMINDER_TAG,)  # Twinfield reminds: never a second one
    assert debtor.kind is DebtorKind.BUSINESS and debtor.kvk_number == "99887766"


def test_dispute_block_keeps_every_child_of_the_read_block() -> None:
    # Issue 14.12: the whole <creditmanagement> block goes back, only the comment changed.
    root = load("dimension_deb.xml")
    doc = documents.dimension_credit(
        "NLA000123", "0042", "ACME B.V.", mapping.credit_block(root), "nieuw"
    )
    block = doc.find("creditmanagement")
    assert doc.find("financials") is None
    assert [c.tag for c in block] == [
        "responsibleuser",
        "basecreditlimit",
        "sendreminder",
        "reminderemail",
        "blocked",
        "freetext1",
        "freetext2",
        "freetext3",
        "comment",
    ]
    assert block.findtext("sendreminder") == "email"
    assert block.findtext("reminderemail") == "debiteuren@acme.example"
    assert block.findtext("basecreditlimit") == "5000.00"
    assert block.findtext("comment") == "nieuw"
    assert block.find("blocked").attrib == {}  # read-only attributes are not sent back
