"""The pure mapping: dates, amounts, codes, debtors, items, cursors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adapters.exact import mapping
from adapters.exact.mapping import MappingError
from connector.domain import Money
from tests.adapters.exact.exact_helpers import fixture

ACME = "11111111-2222-3333-4444-555555555555"
JANSEN = "33333333-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("/Date(1769904000000)/", date(2026, 2, 1), id="midnight"),
        pytest.param("/Date(1769990399000)/", date(2026, 2, 1), id="last-second"),
        pytest.param("/Date(1769904000000+0100)/", date(2026, 2, 1), id="offset-ignored"),
        pytest.param("/Date(-86400000)/", date(1969, 12, 31), id="before-epoch"),
    ],
)
def test_odata_dates(value: str, expected: date) -> None:
    assert mapping.odata_date(value) == expected


@pytest.mark.parametrize("value", ["2026-02-01", "/Date(abc)/", 1769904000000, None, "/Date()/"])
def test_odata_date_refuses_other_forms(value: object) -> None:
    with pytest.raises(MappingError, match="DueDate"):
        mapping.odata_date(value, "DueDate")


def test_odata_datetime_is_aware_amsterdam_wall_time() -> None:
    moment = mapping.odata_datetime("/Date(1769904000000)/")
    assert moment.tzinfo is not None
    assert (moment.year, moment.month, moment.day, moment.hour) == (2026, 2, 1, 0)
    assert moment.utcoffset().total_seconds() == 3600  # CET in February


def test_dates_round_trip_and_post_form() -> None:
    assert mapping.odata_date(mapping.to_odata_date(date(2026, 3, 31))) == date(2026, 3, 31)
    assert mapping.iso_date(date(2026, 3, 1)) == "2026-03-01T00:00:00"


def test_amounts_are_decimal_and_never_float() -> None:
    assert mapping.amount(Decimal("121.10")) == Decimal("121.10")
    assert mapping.amount(121) == Decimal(121)
    assert mapping.amount("-0.01") == Decimal("-0.01")
    with pytest.raises(MappingError, match="float"):
        mapping.amount(121.1)
    with pytest.raises(MappingError, match="float"):
        mapping.amount(True)
    for bad in ("abc", None, Decimal("NaN"), [1]):
        with pytest.raises(MappingError):
            mapping.amount(bad)


def test_codes_are_trimmed_and_padded() -> None:
    assert mapping.code("              1068") == "1068"
    assert mapping.code(None) == ""
    assert mapping.padded_code("1068") == " " * 14 + "1068"
    assert len(mapping.padded_code(" 7 ")) == 18


def test_odata_literals() -> None:
    assert mapping.odata_string("O'Brien") == "'O''Brien'"
    assert mapping.odata_guid(ACME.upper()) == f"guid'{ACME}'"
    with pytest.raises(MappingError):
        mapping.odata_guid("1' or 1 eq 1")
    assert mapping.any_of(["A eq 1", "B eq 2"]) == "(A eq 1) or (B eq 2)"


def test_administration_from_a_division_row() -> None:
    rows = fixture("divisions")["d"]["results"]
    admin = mapping.administration(rows[1])
    assert (admin.external_id, admin.name, admin.currency, admin.country) == (
        "102",
        "Van Dijk Holding",
        "EUR",
        "BE",
    )
    with pytest.raises(MappingError):
        mapping.administration({"Code": "101"})


def test_debtor_from_a_sync_account() -> None:
    rows = fixture("sync_accounts_page1")["d"]["results"]
    acme = mapping.debtor(rows[0])
    assert acme.code == "1068"
    assert acme.name == "ACME Corporation"
    assert acme.email == "ap@acme.example"
    assert acme.phone == "+31 30 123 4567"
    assert acme.address.street == "Stationsplein 1"
    assert acme.address.postal_code == "3511 ED"
    assert acme.address.city == "Utrecht"
    assert acme.address.country == "NL"
    assert acme.vat_number == "NL001234567B01"
    assert acme.kvk_number == "12345678"
    assert acme.language == "nl"
    assert acme.payment_term_days == 14
    assert acme.tags == ("payment-condition:14",)
    assert mapping.is_debtor(rows[0]) and not mapping.is_debtor(rows[1])


def test_blocked_debtor_and_a_non_numeric_payment_condition() -> None:
    row = fixture("sync_accounts_page2")["d"]["results"][0]
    jansen = mapping.debtor(row)
    assert jansen.tags == ("blocked", "payment-condition:IN")
    assert jansen.payment_term_days is None  # "IN" is not a number of days: not guessed
    assert jansen.language == "en"
    assert jansen.address.street == "Dorpsstraat 5 achter"


def test_a_debtor_needs_a_code() -> None:
    with pytest.raises(MappingError, match="no Code"):
        mapping.debtor({"ID": ACME, "Code": "   ", "Name": "x"})


def test_items_group_payment_terms_per_entry() -> None:
    rows = fixture("receivables_list")["d"]["results"]
    items = {i.external_id: i for i in mapping.items_from_receivables(rows, "EUR")}
    assert set(items) == {f"26700012:{ACME}", f"26700013:{JANSEN}", f"26200004:{JANSEN}"}
    split = items[f"26700012:{ACME}"]
    assert split.open_amount == Money(Decimal("121.00"), "EUR")  # two terms of 60.50
    assert split.due_date == date(2026, 2, 1)  # the earliest open term
    assert split.invoice_date == date(2026, 1, 2)
    assert split.invoice_number == "26700012"
    assert split.debtor_code == "1068"
    assert split.description == "Invoice 26700012 (your ref PO-77)"
    foreign = items[f"26700013:{JANSEN}"]
    assert foreign.open_amount == Money(Decimal("1250.10"), "USD")  # the debtor's currency
    receipt = items[f"26200004:{JANSEN}"]
    assert receipt.is_credit and receipt.invoice_number == "26200004"
    assert receipt.invoice_date is None


def test_items_refuse_mixed_currencies_within_one_entry() -> None:
    rows = fixture("receivables_list")["d"]["results"][:2]
    rows[1] = {**rows[1], "CurrencyCode": "USD"}
    with pytest.raises(MappingError, match="more than one currency"):
        mapping.items_from_receivables(rows, "EUR")


def test_base_and_foreign_amounts_stay_apart() -> None:
    row = {"AmountDC": Decimal("100.00"), "AmountFC": Decimal("117.50"), "Currency": "USD"}
    amounts = mapping.term_amounts(row, "EUR")
    assert amounts.base == Money(Decimal("100.00"), "EUR")
    assert amounts.foreign == Money(Decimal("117.50"), "USD")


def test_term_changes_name_the_item_key() -> None:
    rows = fixture("payment_terms")["d"]["results"]
    change = mapping.term_change(rows[0])
    assert change is not None
    assert change.key == f"26700012:{ACME}" and change.account == ACME
    assert change.timestamp == 9001
    assert mapping.term_change(rows[2]) is None  # a payable (LineType 22)
    assert mapping.term_change({"LineType": 20, "Account": None, "EntryNumber": 1}) is None


def test_item_keys_parse_back() -> None:
    key = mapping.item_key(26700012, ACME.upper())
    assert key == f"26700012:{ACME}"
    assert mapping.parse_item_key(key) == (26700012, ACME)
    for bad in ("2026-001", "x:" + ACME, "12:not-a-guid", ""):
        assert mapping.parse_item_key(bad) is None
    with pytest.raises(MappingError):
        mapping.item_key("12a", ACME)


def test_cursors_round_trip_and_reject_what_is_not_theirs() -> None:
    cursor = mapping.encode_cursor({"terms": 9, "deleted": 3, "full": 1_780_000_000})
    assert cursor.startswith("exact:v2:")
    assert mapping.decode_cursor(cursor, ("terms", "deleted", "full")) == {
        "terms": 9,
        "deleted": 3,
        "full": 1_780_000_000,
    }
    old = 'exact:v1:{"terms":1}'  # the v1 keys: a receipt was an item of its own
    for bad in (None, "sha256:abc", "exact:v2:{", "exact:v2:[1]", 'exact:v2:{"terms":-1}', old):
        assert mapping.decode_cursor(bad, ("terms",)) is None
    assert mapping.decode_cursor(cursor, ("accounts",)) is None  # a missing key


def test_timestamps() -> None:
    assert mapping.timestamp(12) == 12
    assert mapping.timestamp("12") == 12
    for bad in (None, True, "x", 1.5):
        with pytest.raises(MappingError):
            mapping.timestamp(bad)
