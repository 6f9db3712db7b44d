"""Header aliases, value parsing and row -> domain mapping of the files ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest

from adapters.files.client import Cell
from adapters.files.client import Table
from adapters.files.mapping import DEBTOR_COLUMNS
from adapters.files.mapping import ITEM_COLUMNS
from adapters.files.mapping import Ambiguous
from adapters.files.mapping import AmountReader
from adapters.files.mapping import BadValue
from adapters.files.mapping import Problems
from adapters.files.mapping import derived_debtors
from adapters.files.mapping import normalise_header
from adapters.files.mapping import parse_currency
from adapters.files.mapping import parse_date
from adapters.files.mapping import parse_days
from adapters.files.mapping import parse_debtors
from adapters.files.mapping import parse_email
from adapters.files.mapping import parse_iban
from adapters.files.mapping import parse_items
from adapters.files.mapping import parse_kind
from adapters.files.mapping import parse_language
from adapters.files.mapping import parse_tags
from adapters.files.mapping import resolve_columns
from connector.domain import Address
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem


def table(header: Sequence[str], *rows: Sequence[Cell], first_line: int = 2) -> Table:
    return Table(tuple(header), 1, iter(enumerate([list(r) for r in rows], start=first_line)))


ITEM_HEADER = ["Factuurnummer", "Debiteurnummer", "Vervaldatum", "Openstaand"]


def items(
    *rows: Sequence[Cell],
    header: Sequence[str] = ITEM_HEADER,
    debtor_codes: set[str] | None = None,
    debtors_file: str = "",
) -> tuple[list[OpenItem], Problems]:
    problems = Problems()
    parsed = parse_items(
        table(header, *rows),
        "acme/items.csv",
        problems,
        currency="EUR",
        debtor_codes=debtor_codes,
        debtors_file=debtors_file,
    )
    return parsed.open_items, problems


# Headers ---------------------------------------------------------------------------------

# Written out here, not derived from the code, so that a dropped alias fails a test.
ITEM_ALIASES = {
    "invoice_number": [
        "invoice_number",
        "factuurnummer",
        "factuurnr",
        "factuur",
        "invoice",
        "invoice_no",
    ],
    "debtor_code": [
        "debtor_code",
        "debiteurnummer",
        "debiteurnr",
        "debiteur",
        "klantnummer",
        "relatienummer",
        "customer_code",
        "customer_id",
    ],
    "due_date": ["due_date", "vervaldatum", "vervaldag"],
    "open_amount": [
        "open_amount",
        "openstaand",
        "openstaand_bedrag",
        "saldo",
        "outstanding",
        "open",
    ],
    "invoice_date": ["invoice_date", "factuurdatum", "datum", "date"],
    "amount": ["amount", "bedrag", "factuurbedrag", "totaal", "total", "invoice_amount"],
    "currency": ["currency", "valuta"],
    "description": ["description", "omschrijving"],
    "debtor_name": ["debtor_name", "debiteurnaam", "naam", "name", "klantnaam"],
    "external_id": ["external_id", "id"],
}
DEBTOR_ALIASES = {
    "debtor_code": ITEM_ALIASES["debtor_code"],
    "name": ["name", "naam", "bedrijfsnaam", "company", "company_name", "debiteurnaam"],
    "kind": ["kind", "soort", "type"],
    "email": ["email", "e_mail", "emailadres", "e_mailadres"],
    "phone": ["phone", "telefoon", "telefoonnummer", "tel"],
    "street": ["street", "adres", "straat", "address"],
    "postal_code": ["postal_code", "postcode"],
    "city": ["city", "plaats", "woonplaats"],
    "country": ["country", "land"],
    "iban": ["iban"],
    "vat_number": ["vat_number", "btw_nummer", "btw", "btw_id", "vat"],
    "kvk_number": ["kvk_number", "kvk", "kvk_nummer", "coc", "chamber_of_commerce"],
    "language": ["language", "taal"],
    "payment_term_days": ["payment_term_days", "betalingstermijn"],
    "tags": ["tags", "labels"],
}


def _written(alias: str) -> list[str]:
    """Ways a person writes a header: as is, capitalised with spaces, with hyphens or dots."""
    return [
        alias,
        alias.replace("_", " ").title(),
        alias.upper().replace("_", "-"),
        alias.replace("_", ". "),
    ]


@pytest.mark.parametrize(
    ("columns", "name", "alias"),
    [(ITEM_COLUMNS, name, a) for name, aliases in ITEM_ALIASES.items() for a in aliases]
    + [(DEBTOR_COLUMNS, name, a) for name, aliases in DEBTOR_ALIASES.items() for a in aliases],
)
def test_every_alias_finds_its_column(columns, name: str, alias: str) -> None:
    for written in _written(alias):
        layout = resolve_columns(["Onbekend", written], columns)
        assert layout.index[name] == 1, written
        assert layout.label[name] == written


def test_the_alias_tables_are_complete_and_unambiguous() -> None:
    assert {c.name for c in ITEM_COLUMNS} == set(ITEM_ALIASES)
    assert {c.name for c in DEBTOR_COLUMNS} == set(DEBTOR_ALIASES)
    for columns in (ITEM_COLUMNS, DEBTOR_COLUMNS):
        keys = [key for column in columns for key in column.keys]
        assert len(keys) == len(set(keys))
    required_items = {c.name for c in ITEM_COLUMNS if c.required}
    assert required_items == {"invoice_number", "debtor_code", "due_date", "open_amount"}
    assert {c.name for c in DEBTOR_COLUMNS if c.required} == {"debtor_code", "name"}


def test_header_normalisation() -> None:
    assert normalise_header("  Factuur-nr. ") == "factuurnr"
    assert normalise_header("E_mail adres") == "emailadres"
    assert normalise_header("OPENSTAAND  BEDRAG") == "openstaandbedrag"


def test_name_beats_alias_and_leftmost_wins() -> None:
    layout = resolve_columns(["Naam", "Debtor name", "Klantnaam"], ITEM_COLUMNS)
    assert layout.index["debtor_name"] == 1
    layout = resolve_columns(["Datum", "Factuurdatum"], ITEM_COLUMNS)
    assert layout.index["invoice_date"] == 1  # factuurdatum is listed before datum
    layout = resolve_columns(["Saldo", "saldo"], ITEM_COLUMNS)
    assert layout.index["open_amount"] == 0


def test_missing_columns_are_listed_with_their_names() -> None:
    layout = resolve_columns(["Factuurnummer", "Omschrijving"], ITEM_COLUMNS)
    assert [c.name for c in layout.missing] == ["debtor_code", "due_date", "open_amount"]
    assert layout.label["due_date"] == "due_date"


# Amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1234.56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("-12,50", "-12.50"),
        ("-12.50", "-12.50"),
        ("€ 1.234,56", "1234.56"),
        ("€1.234,56", "1234.56"),
        ("-€ 12,50", "-12.50"),
        ("€ -12,50", "-12.50"),
        ("12,50-", "-12.50"),
        ("EUR 12.50", "12.50"),
        ("12,50 eur", "12.50"),
        ("1.234 €", None),  # ambiguous on its own: see below
        ("12,5", "12.50"),
        ("12", "12.00"),
        ("+5", "5.00"),
        ("0,00", "0.00"),
        ("1.234.567", "1234567.00"),
        ("1,234,567", "1234567.00"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.8", "1234567.80"),
        ("1.234,5", "1234.50"),
    ],
)
def test_amounts_in_both_styles(text: str, expected: str | None) -> None:
    value = AmountReader().read(text, "EUR")
    if expected is None:
        assert isinstance(value, Ambiguous)
    else:
        assert value == Decimal(expected)
        assert isinstance(value, Decimal)
        assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "not an amount: 'abc'"),
        ("(12.50)", "not an amount: '(12.50)'"),
        ("12,", "not an amount: '12,'"),
        (",50", "not an amount: ',50'"),
        ("--12", "not an amount: '--12'"),
        ("1.2.3", "thousands must be grouped by three"),
        ("1.23.456", "thousands must be grouped by three"),
        ("1.234.56,7", "thousands must be grouped by three"),
        ("1,234,56.00", "thousands must be grouped by three"),
        ("12.345,678", "too many decimals: '12.345,678' (EUR amounts have 2)"),
        ("1234,567", "too many decimals"),
        ("0,125", "too many decimals"),
        ("12.3456", "too many decimals"),
        ("USD 12,50", "amount 'USD 12,50' is not in EUR"),
        ("1 234,56", "not an amount"),
    ],
)
def test_bad_amounts(text: str, message: str) -> None:
    with pytest.raises(BadValue) as raised:
        AmountReader().read(text, "EUR")
    assert message in str(raised.value)


def test_amount_of_another_currency_and_its_decimals() -> None:
    reader = AmountReader()
    assert reader.read("USD 12.50", "USD") == Decimal("12.50")
    assert reader.read("0.500", "KWD") == Decimal("0.500")  # a three-decimal currency
    ambiguous = reader.read("1.234", "KWD")
    assert ambiguous == Ambiguous("1.234", ".", Decimal("1234.000"), Decimal("1.234"))
    assert isinstance(ambiguous, Ambiguous)
    assert reader.resolve(ambiguous, "KWD") == Decimal("1.234")
    with pytest.raises(BadValue, match="too many decimals"):
        reader.read("12,5", "JPY")


def test_xlsx_numbers_are_rounded_decimals_never_floats() -> None:
    reader = AmountReader()
    value = reader.read(0.1 + 0.2, "EUR")
    assert value == Decimal("0.30") and isinstance(value, Decimal)
    assert reader.read(1234, "EUR") == Decimal("1234.00")
    assert reader.read(-12.5, "EUR") == Decimal("-12.50")
    assert reader.read(2.675, "EUR") == Decimal("2.68")  # str(2.675) is '2.675': half up
    for bad in (True, float("nan"), float("inf"), date(2026, 1, 1)):
        with pytest.raises(BadValue, match="not an amount"):
            reader.read(bad, "EUR")


def test_ambiguous_amount_follows_the_file() -> None:
    # The file writes decimals with a comma, so "1.234" groups thousands.
    found, problems = items(
        ["F1", "D1", "2026-03-01", "1.234"],
        ["F2", "D1", "2026-03-01", "12,50"],
    )
    assert not problems
    assert [i.open_amount.amount for i in found] == [Decimal("1234.00"), Decimal("12.50")]

    # The file writes decimals with a point, so "1,234" groups thousands.
    found, problems = items(
        ["F1", "D1", "2026-03-01", "1,234"],
        ["F2", "D1", "2026-03-01", "1.50"],
    )
    assert not problems
    assert found[0].open_amount.amount == Decimal("1234.00")

    # A thousands point elsewhere settles it too.
    found, problems = items(
        ["F1", "D1", "2026-03-01", "1.234"],
        ["F2", "D1", "2026-03-01", "1.234.567"],
    )
    assert not problems
    assert found[0].open_amount.amount == Decimal("1234.00")


def test_ambiguous_amount_without_a_hint_is_rejected_not_guessed() -> None:
    found, problems = items(
        ["F1", "D1", "2026-03-01", "1.234"],
        ["F2", "D1", "2026-03-01", "100"],
    )
    assert problems.lines() == (
        "acme/items.csv:2: Openstaand: ambiguous amount: '1.234' (thousands or decimals? "
        "write it with 2 decimals, such as 1.234,00 or 1234.00)",
    )
    # Both separators used as decimal separator: no hint either.
    _, problems = items(
        ["F1", "D1", "2026-03-01", "1.234"],
        ["F2", "D1", "2026-03-01", "1,50"],
        ["F3", "D1", "2026-03-01", "1.50"],
    )
    assert len(problems) == 1


def test_ambiguous_original_amount_is_resolved_too() -> None:
    found, problems = items(
        ["F1", "D1", "2026-03-01", "34,00", "1.234"],
        header=[*ITEM_HEADER, "Bedrag"],
    )
    assert not problems
    assert found[0].amount == Money(Decimal("1234.00"))
    assert found[0].open_amount == Money(Decimal("34.00"))


# Dates and other values -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-03-01", "01-03-2026", "1-3-2026", "01/03/2026", "1/3/2026"])
def test_date_forms(text: str) -> None:
    assert parse_date(text) == date(2026, 3, 1)


@pytest.mark.parametrize(
    "text",
    [
        "31-02-2026",
        "2026-3-1",
        "03/01/26",
        "2026/03/01",
        "01.03.2026",
        "1 maart 2026",
        "01-03/2026",
        "2026-03-01T00:00",
        "",
        "45000",
    ],
)
def test_bad_dates(text: str) -> None:
    with pytest.raises(BadValue) as raised:
        parse_date(text)
    assert str(raised.value) == f"not a date: {text!r} (expected 2026-03-01 or 01-03-2026)"


def test_xlsx_date_cells() -> None:
    found, problems = items(
        ["F1", "D1", datetime(2026, 3, 1, 0, 0), 10.0, date(2026, 2, 1)],
        ["F2", "D1", date(2026, 3, 2), 10, datetime(2026, 2, 2, 13, 30)],
        header=[*ITEM_HEADER, "Factuurdatum"],
    )
    assert not problems
    assert [(i.due_date, i.invoice_date) for i in found] == [
        (date(2026, 3, 1), date(2026, 2, 1)),
        (date(2026, 3, 2), date(2026, 2, 2)),
    ]
    _, problems = items(["F1", "D1", 46000, "10"])
    assert problems.lines() == (
        "acme/items.csv:2: Vervaldatum: not a date: '46000' (expected 2026-03-01 or 01-03-2026)",
    )


def test_currency_codes() -> None:
    assert parse_currency("usd") == "USD"
    for bad in ("EURO", "E1R", "€"):
        with pytest.raises(BadValue, match="not a currency code"):
            parse_currency(bad)


def test_iban_is_validated_and_compacted() -> None:
    assert parse_iban("nl91 abna 0417 1643 00") == "NL91ABNA0417164300"
    with pytest.raises(BadValue, match="not a valid IBAN: 'NL91ABNA0417164301'"):
        parse_iban("NL91ABNA0417164301")


@pytest.mark.parametrize("text", ["a@b.nl", "info@bakkerij-van-dijk.co.uk", "x.y+z@sub.ex.com"])
def test_good_emails(text: str) -> None:
    assert parse_email(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "ab.nl",
        "a@b",
        "a@@b.nl",
        "a@b@c.nl",
        "a b@c.nl",
        "a@b .nl",
        "@b.nl",
        "a@.nl",
        "a@b.",
        "a@b.nl; c@d.nl",
    ],
)
def test_bad_emails(text: str) -> None:
    with pytest.raises(BadValue, match="not an email address"):
        parse_email(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("business", DebtorKind.BUSINESS),
        ("Zakelijk", DebtorKind.BUSINESS),
        ("B2B", DebtorKind.BUSINESS),
        ("bedrijf", DebtorKind.BUSINESS),
        ("consumer", DebtorKind.CONSUMER),
        ("Particulier", DebtorKind.CONSUMER),
        ("b2c", DebtorKind.CONSUMER),
        ("CONSUMENT", DebtorKind.CONSUMER),
    ],
)
def test_kinds(text: str, kind: DebtorKind) -> None:
    assert parse_kind(text) is kind


def test_unknown_kind_and_language() -> None:
    with pytest.raises(BadValue, match="unknown kind: 'overheid'"):
        parse_kind("overheid")
    assert parse_language("NL") == "nl" and parse_language("English") == "en"
    with pytest.raises(BadValue, match="unknown language: 'de'"):
        parse_language("de")


def test_payment_term_and_tags() -> None:
    assert parse_days("30") == 30 and parse_days(14) == 14 and parse_days(0.0) == 0
    for bad in ("-1", "30 dagen", "2.5", -3, 1.5, "٣"):
        with pytest.raises(BadValue, match="not a whole number of days"):
            parse_days(bad)
    assert parse_tags("vip; horeca,  , vip") == ("vip", "horeca")


# Problems ----------------------------------------------------------------------------------


def test_problem_lines_are_capped_at_fifty_and_sorted() -> None:
    problems = Problems()
    problems.add("b.csv", 1, "x", "first file seen")
    for line in range(60, 0, -1):
        problems.add("a.csv", line, "Bedrag", "bad")
    lines = problems.lines()
    assert len(problems) == 61
    assert len(lines) == 51
    assert lines[0] == "b.csv:1: x: first file seen"
    assert lines[1] == "a.csv:12: Bedrag: bad"  # the first 50 found, in line order
    assert lines[-1] == "... and 11 more problems not listed"


def test_no_tail_line_at_exactly_fifty() -> None:
    problems = Problems()
    for line in range(50):
        problems.add("a.csv", line, "c", "m")
    assert len(problems.lines()) == 50


# Items -------------------------------------------------------------------------------------


def test_item_with_every_column() -> None:
    header = [
        "ID",
        "Factuur",
        "Klantnummer",
        "Klantnaam",
        "Datum",
        "Vervaldag",
        "Totaal",
        "Saldo",
        "Valuta",
        "Omschrijving",
        "Iets anders",
    ]
    found, problems = items(
        [
            "  X-1 ",
            " 2026-001 ",
            " D1 ",
            "Acme",
            "01-02-2026",
            "1-3-2026",
            "1.210,00",
            "1.000,00",
            "eur",
            " Werk februari ",
            "genegeerd",
        ],
        header=header,
    )
    assert not problems
    assert found == [
        OpenItem(
            external_id="X-1",
            invoice_number="2026-001",
            debtor_code="D1",
            invoice_date=date(2026, 2, 1),
            due_date=date(2026, 3, 1),
            open_amount=Money(Decimal("1000.00"), "EUR"),
            amount=Money(Decimal("1210.00"), "EUR"),
            description="Werk februari",
        )
    ]


def test_external_id_defaults_to_the_invoice_number() -> None:
    found, _ = items(["F1", "D1", "2026-03-01", "5"], ["F2", "D1", "2026-03-01", "5"])
    assert [i.external_id for i in found] == ["F1", "F2"]
    found, _ = items(
        ["F1", "D1", "2026-03-01", "5", ""],
        ["F2", "D1", "2026-03-01", "5", "ext-2"],
        header=[*ITEM_HEADER, "id"],
    )
    assert [i.external_id for i in found] == ["F1", "ext-2"]


def test_settled_lines_are_left_out_and_credit_notes_kept() -> None:
    found, problems = items(
        ["F1", "D1", "2026-03-01", "0,00"],
        ["F2", "D1", "2026-03-01", "-0"],
        ["C1", "D1", "2026-03-01", "-125,50"],
        ["F3", "D1", "2026-03-01", 0.0],
        ["F4", "D1", "2026-03-01", "10"],
    )
    assert not problems
    assert [i.invoice_number for i in found] == ["C1", "F4"]
    assert found[0].open_amount == Money(Decimal("-125.50"))
    assert found[0].is_credit


def test_item_currency_column() -> None:
    found, problems = items(
        ["F1", "D1", "2026-03-01", "12.50", "usd"],
        ["F2", "D1", "2026-03-01", "12,50", ""],
        ["F3", "D1", "2026-03-01", "1,5", "JPY"],
        header=[*ITEM_HEADER, "Valuta"],
    )
    assert [i.open_amount for i in found] == [
        Money(Decimal("12.50"), "USD"),
        Money(Decimal("12.50"), "EUR"),
    ]
    assert problems.lines() == (
        "acme/items.csv:4: Openstaand: too many decimals: '1,5' (JPY amounts have 0)",
    )


def test_every_row_problem_is_reported_in_the_line_format() -> None:
    header = [*ITEM_HEADER, "Valuta", "Factuurdatum", "Bedrag"]
    _, problems = items(
        ["F1", "D1", "31-02-2026", "10", "", "", ""],
        ["", "", "", "", "", "", ""],
        ["F1", "D1", "2026-03-01", "tien", "EURO", "gisteren", "1,2,3"],
        ["F3", "D9", "2026-03-01", "10", "", "", ""],
        header=header,
        debtor_codes={"D1"},
        debtors_file="acme/debtors.csv",
    )
    assert problems.lines() == (
        "acme/items.csv:2: Vervaldatum: not a date: '31-02-2026' "
        "(expected 2026-03-01 or 01-03-2026)",
        "acme/items.csv:3: Factuurnummer: empty; an invoice number is required",
        "acme/items.csv:3: Debiteurnummer: empty; a debtor code is required",
        "acme/items.csv:3: Vervaldatum: empty; a due date is required",
        "acme/items.csv:3: Openstaand: empty; an open amount is required",
        "acme/items.csv:4: Factuurnummer: duplicate invoice number 'F1' (also on line 2)",
        "acme/items.csv:4: Valuta: not a currency code: 'EURO' "
        "(expected a 3-letter code such as EUR)",
        "acme/items.csv:4: Factuurdatum: not a date: 'gisteren' "
        "(expected 2026-03-01 or 01-03-2026)",
        "acme/items.csv:4: Openstaand: not an amount: 'tien' "
        "(expected an amount such as 1234,56 or 1.234,56 or 1234.56)",
        "acme/items.csv:4: Bedrag: not an amount: '1,2,3' "
        "(thousands must be grouped by three: 1.234.567,89)",
        "acme/items.csv:5: Debiteurnummer: unknown debtor 'D9': not in acme/debtors.csv",
    )


def test_duplicate_ids_are_reported_on_the_id_column() -> None:
    _, problems = items(
        ["F1", "D1", "2026-03-01", "1", "A"],
        ["F1", "D1", "2026-03-01", "1", "B"],  # same invoice, other line: fine
        ["F2", "D1", "2026-03-01", "1", "A"],
        header=[*ITEM_HEADER, "Id"],
    )
    assert problems.lines() == ("acme/items.csv:4: Id: duplicate id 'A' (also on line 2)",)


def test_missing_columns_are_reported_on_the_header_line() -> None:
    _, problems = items(["F1", "x"], header=["Factuurnummer", "Saldo"])
    assert problems.lines() == (
        "acme/items.csv:1: debtor_code: missing required column (expected a header such as "
        "debtor_code, debiteurnummer, debiteurnr, debiteur, klantnummer, relatienummer, "
        "customer_code, customer_id)",
        "acme/items.csv:1: due_date: missing required column (expected a header such as "
        "due_date, vervaldatum, vervaldag)",
    )


def test_short_rows_are_padded() -> None:
    found, problems = items(["F1", "D1", "2026-03-01", "5"], header=[*ITEM_HEADER, "Omschrijving"])
    assert not problems and found[0].description == ""
    _, problems = items(["F1", "D1"])
    assert len(problems) == 2


def test_debtor_names_from_the_items() -> None:
    problems = Problems()
    parsed = parse_items(
        table(
            [*ITEM_HEADER, "Naam"],
            ["F1", "D1", "2026-03-01", "5", ""],
            ["F2", "D1", "2026-03-01", "0", "Acme B.V."],
            ["F3", "D2", "2026-03-01", "5", "Beta"],
            ["F4", "D2", "2026-03-01", "5", "Beta Holding"],
        ),
        "items.csv",
        problems,
        currency="EUR",
    )
    assert derived_debtors(parsed.debtor_names) == [
        Debtor(
            code="D1", name="Acme B.V.", tags=("kind-unknown",)
        ),  # a settled line still names its debtor
        Debtor(code="D2", name="Beta", tags=("kind-unknown",)),
    ]
    parsed = parse_items(
        table(ITEM_HEADER, ["F1", "D1", "2026-03-01", "5"]), "items.csv", problems, currency="EUR"
    )
    assert derived_debtors(parsed.debtor_names) == [
        Debtor(code="D1", name="D1", tags=("kind-unknown",))
    ]


def test_xlsx_typed_text_cells() -> None:
    found, problems = items([1001, 20001.0, "2026-03-01", 99.99])
    assert not problems
    assert (found[0].invoice_number, found[0].debtor_code) == ("1001", "20001")
    assert found[0].open_amount == Money(Decimal("99.99"))


# Debtors -----------------------------------------------------------------------------------


def test_debtor_with_every_column() -> None:
    header = [
        "Relatienummer",
        "Bedrijfsnaam",
        "Soort",
        "E-mailadres",
        "Telefoon",
        "Adres",
        "Postcode",
        "Woonplaats",
        "Land",
        "IBAN",
        "BTW-nummer",
        "KvK",
        "Taal",
        "Betalingstermijn",
        "Labels",
        "Opmerking",
    ]
    problems = Problems()
    parsed = parse_debtors(
        table(
            header,
            [
                "D1",
                "Acme B.V.",
                "Particulier",
                "info@acme.nl",
                "020-1234567",
                "Damrak 1",
                "1012 LG",
                "Amsterdam",
                "nl",
                "NL91 ABNA 0417 1643 00",
                "nl 8527.67.248.B01",
                "3417 4468",
                "EN",
                "14",
                "vip;horeca",
                "x",
            ],
        ),
        "acme/debtors.csv",
        problems,
    )
    assert not problems
    assert parsed.debtors == [
        Debtor(
            code="D1",
            name="Acme B.V.",
            kind=DebtorKind.CONSUMER,
            email="info@acme.nl",
            phone="020-1234567",
            address=Address("Damrak 1", "1012 LG", "Amsterdam", "NL"),
            iban="NL91ABNA0417164300",
            vat_number="NL852767248B01",
            kvk_number="34174468",
            language="en",
            payment_term_days=14,
            tags=("vip", "horeca"),
        )
    ]
    assert parsed.codes == {"D1"}


def test_debtor_defaults() -> None:
    problems = Problems()
    parsed = parse_debtors(
        table(["Code", "Debiteur", "Naam"], ["x", "D1", "Acme"]), "d.csv", problems
    )
    # Without a kind column: a consumer (13.1), tagged so that it is never silent.
    assert parsed.debtors == [Debtor(code="D1", name="Acme", tags=("kind-unknown",))]
    assert parsed.debtors[0].kind is DebtorKind.CONSUMER
    assert parsed.debtors[0].language == "nl"
    assert parsed.debtors[0].payment_term_days is None


def test_debtor_problems() -> None:
    header = ["Debiteurnummer", "Naam", "Type", "Email", "IBAN", "Taal", "Betalingstermijn"]
    problems = Problems()
    parsed = parse_debtors(
        table(
            header,
            ["D1", "Acme", "", "", "", "", ""],
            ["D1", "Acme 2", "", "", "", "", ""],
            ["D2", "", "overheid", "info@", "NL00ABNA0000000000", "fr", "-5"],
            ["", "Zonder code"],
        ),
        "acme/debtors.csv",
        problems,
    )
    assert problems.lines() == (
        "acme/debtors.csv:3: Debiteurnummer: duplicate debtor code 'D1' (also on line 2)",
        "acme/debtors.csv:4: Naam: empty; a debtor name is required",
        "acme/debtors.csv:4: Type: unknown kind: 'overheid' "
        "(expected business or consumer, zakelijk or particulier)",
        "acme/debtors.csv:4: Email: not an email address: 'info@'",
        "acme/debtors.csv:4: IBAN: not a valid IBAN: 'NL00ABNA0000000000'",
        "acme/debtors.csv:4: Taal: unknown language: 'fr' (expected nl or en)",
        "acme/debtors.csv:4: Betalingstermijn: not a whole number of days: '-5' "
        "(expected 0 or more, such as 30)",
        "acme/debtors.csv:5: Debiteurnummer: empty; a debtor code is required",
    )
    assert [d.code for d in parsed.debtors] == ["D1"]
    assert parsed.codes == {"D1", "D2"}  # a bad row still names a debtor that exists


def test_debtors_file_without_a_name_column() -> None:
    problems = Problems()
    parsed = parse_debtors(table(["Debiteur"], ["D1"]), "d.csv", problems)
    assert problems.lines() == (
        "d.csv:1: name: missing required column (expected a header such as name, naam, "
        "bedrijfsnaam, company, company_name, debiteurnaam)",
    )
    assert parsed.codes == set()
    parsed = parse_debtors(table(["Naam"], ["Acme"]), "d.csv", Problems())
    assert parsed.codes is None
