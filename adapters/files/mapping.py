"""Rows of an aging export -> domain objects, with every problem listed.

Headers
    A header matches a column when it equals the column's name or one of its aliases after
    case folding and dropping spaces, hyphens, dots and underscores ("Factuur nr." is
    "factuurnr"). When two headers match one column, the name comes before the aliases and
    the aliases count in the order listed here; then the leftmost header wins. Other columns
    are ignored.

Amounts (text)
    An optional sign (leading or trailing minus), an optional "€" or the item's currency
    code, and a number with "." and/or "," as separators.
    - Both "." and "," occur: the last one is the decimal separator, the other groups
      thousands (1.234,56 and 1,234.56).
    - One kind occurs more than once: it groups thousands (1.234.567).
    - One separator occurs once, followed by 1, 2 or 4+ digits, or after "0", or after more
      than three digits: it is the decimal separator (1234,56; 12.5; 1234.567 -> too many).
    - One separator followed by exactly three digits after 1-3 digits (1.234, 12,500) is
      ambiguous. It groups thousands only when the same file (any amount column) shows the
      other separator as decimal separator, or this one grouping thousands elsewhere, and
      never this one as a decimal separator. Otherwise it is read as a decimal separator,
      which for a two-decimal currency such as EUR is an error ("ambiguous amount") rather
      than a silent guess that could be off by a factor of a thousand.
    - More decimals than the currency has (2 for EUR) is an error; amounts are rounded to
      the currency's minor unit only when they come from XLSX number cells (float noise).
    Thousands groups must be three digits. Money is always Decimal, never float.

Dates
    2026-03-01, 01-03-2026, 1-3-2026, 01/03/2026 (day before month, Dutch practice), or an
    XLSX date cell. Anything else is an error.

Every problem becomes one line `file:line: column: what is wrong`; after MAX_PROBLEMS lines
the rest is only counted.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation
from typing import TypeVar

from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from adapters.files.client import Cell
from adapters.files.client import Table
from connector.domain import KIND_UNKNOWN_TAG
from connector.domain import Address
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import currency_exponent
from connector.domain import is_currency_code

T = TypeVar("T")

MAX_PROBLEMS = 50
FILE_COLUMN = "(file)"  # the column of a problem with the file as a whole


# Columns ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """Normalised header texts that match, best first."""
        return tuple(dict.fromkeys(normalise_header(h) for h in (self.name, *self.aliases)))


_DEBTOR_CODE_ALIASES = (
    "debiteurnummer",
    "debiteurnr",
    "debiteur",
    "klantnummer",
    "relatienummer",
    "customer_code",
    "customer_id",
)

ITEM_COLUMNS: tuple[Column, ...] = (
    Column(
        "invoice_number",
        ("factuurnummer", "factuurnr", "factuur", "invoice", "invoice_no"),
        required=True,
    ),
    Column("debtor_code", _DEBTOR_CODE_ALIASES, required=True),
    Column("due_date", ("vervaldatum", "vervaldag"), required=True),
    Column(
        "open_amount",
        ("openstaand", "openstaand_bedrag", "saldo", "outstanding", "open"),
        required=True,
    ),
    Column("invoice_date", ("factuurdatum", "datum", "date")),
    Column("amount", ("bedrag", "factuurbedrag", "totaal", "total", "invoice_amount")),
    Column("currency", ("valuta",)),
    Column("description", ("omschrijving",)),
    Column("debtor_name", ("debiteurnaam", "naam", "name", "klantnaam")),
    Column("external_id", ("id",)),
)

DEBTOR_COLUMNS: tuple[Column, ...] = (
    Column("debtor_code", _DEBTOR_CODE_ALIASES, required=True),
    Column(
        "name", ("naam", "bedrijfsnaam", "company", "company_name", "debiteurnaam"), required=True
    ),
    Column("kind", ("soort", "type")),
    Column("email", ("e_mail", "emailadres", "e_mailadres")),
    Column("phone", ("telefoon", "telefoonnummer", "tel")),
    Column("street", ("adres", "straat", "address")),
    Column("postal_code", ("postcode",)),
    Column("city", ("plaats", "woonplaats")),
    Column("country", ("land",)),
    Column("iban", ()),
    Column("vat_number", ("btw_nummer", "btw", "btw_id", "vat")),
    Column("kvk_number", ("kvk", "kvk_nummer", "coc", "chamber_of_commerce")),
    Column("language", ("taal",)),
    Column("payment_term_days", ("betalingstermijn",)),
    Column("tags", ("labels",)),
)

_HEADER_NOISE = re.compile(r"[\s\-._]+")


def normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.strip().casefold())


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each known column sits in a file."""

    index: dict[str, int]  # column name -> position
    label: dict[str, str]  # column name -> header as written, or the name when absent
    missing: tuple[Column, ...]

    def at(self, name: str) -> int:
        return self.index.get(name, -1)


def resolve_columns(header: Sequence[str], columns: Sequence[Column]) -> Layout:
    normalised = [normalise_header(h) for h in header]
    index: dict[str, int] = {}
    label: dict[str, str] = {}
    missing: list[Column] = []
    for column in columns:
        best: tuple[int, int] | None = None
        for rank, key in enumerate(column.keys):
            for position, text in enumerate(normalised):
                if text == key and (best is None or (rank, position) < best):
                    best = (rank, position)
        if best is None:
            label[column.name] = column.name
            if column.required:
                missing.append(column)
        else:
            index[column.name] = best[1]
            label[column.name] = header[best[1]]
    return Layout(index, label, tuple(missing))


# Problems --------------------------------------------------------------------------------


class Problems:
    """Problem lines, in file and line order, the first `limit` of them listed."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self.limit = limit
        self.count = 0
        self._listed: list[tuple[int, int, str]] = []
        self._files: dict[str, int] = {}

    def add(self, file: str, line: int, column: str, message: str) -> None:
        self.count += 1
        order = self._files.setdefault(file, len(self._files))
        if self.count <= self.limit:
            self._listed.append((order, line, f"{file}:{line}: {column}: {message}"))

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count

    def lines(self) -> tuple[str, ...]:
        listed = [text for _, _, text in sorted(self._listed, key=lambda p: (p[0], p[1]))]
        if self.count > self.limit:
            listed.append(f"... and {self.count - self.limit} more problems not listed")
        return tuple(listed)


# Values ----------------------------------------------------------------------------------


_FAST_AMOUNT = re.compile(r"-?\d{1,15}(?:[.,]\d{1,2})?")
# Read after whitespace is collapsed to single spaces (`_read_text`): one optional space between
# tokens, never `\s*\s*` around an empty group, which backtracked cubically (issue 16.2).
_AMOUNT = re.compile(
    r"(?P<lead>[-+])? ?(?P<sym>€|[A-Za-z]{3})? ?(?P<sign>[-+])? ?"
    r"(?P<num>\d[\d.,]*)"
    r" ?(?P<tsym>€|[A-Za-z]{3})? ?(?P<trail>-)?"
)
MAX_AMOUNT_CHARS = 100  # "EUR -999.999.999.999,99" is 23; longer is not an amount
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DMY_DATE = re.compile(r"(\d{1,2})([-/])(\d{1,2})\2(\d{4})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_TAG_SPLIT = re.compile(r"[;,]")

DATE_HINT = "(expected 2026-03-01 or 01-03-2026)"
AMOUNT_HINT = "(expected an amount such as 1234,56 or 1.234,56 or 1234.56)"

_KINDS = {
    "business": DebtorKind.BUSINESS,
    "zakelijk": DebtorKind.BUSINESS,
    "b2b": DebtorKind.BUSINESS,
    "bedrijf": DebtorKind.BUSINESS,
    "consumer": DebtorKind.CONSUMER,
    "particulier": DebtorKind.CONSUMER,
    "b2c": DebtorKind.CONSUMER,
    "consument": DebtorKind.CONSUMER,
}
_LANGUAGES = {
    "nl": "nl",
    "nederlands": "nl",
    "dutch": "nl",
    "en": "en",
    "engels": "en",
    "english": "en",
}


class BadValue(ValueError):
    """A cell that cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """`1.234`: either 1234 (thousands) or 1.234 (decimals); the file decides."""

    text: str
    separator: str
    thousands: Decimal
    decimals: Decimal


def cell_text(cell: Cell) -> str:
    """A cell as stripped text (an XLSX number 1001 reads "1001", a date "2026-03-01")."""
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else str(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip()


def parse_date(text: str) -> date:
    """A date written as 2026-03-01 or 01-03-2026 / 1-3-2026 / 01/03/2026."""
    match = _ISO_DATE.fullmatch(text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _DMY_DATE.fullmatch(text)
        if match:
            return date(int(match[4]), int(match[3]), int(match[1]))
    except ValueError:
        pass
    msg = f"not a date: {text!r} {DATE_HINT}"
    raise BadValue(msg)


def date_cell(cell: Cell, cache: dict[str, date]) -> date:
    if isinstance(cell, str):
        found = cache.get(cell)
        if found is None:
            found = cache[cell] = parse_date(cell)
        return found
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    msg = f"not a date: {cell_text(cell)!r} {DATE_HINT}"
    raise BadValue(msg)


class AmountReader:
    """Reads the amounts of one file and remembers how that file writes its separators."""

    def __init__(self) -> None:
        self.decimal_separators: set[str] = set()
        self.thousands_separators: set[str] = set()
        self._quanta: dict[str, tuple[int, Decimal]] = {}

    def quantum(self, currency: str) -> tuple[int, Decimal]:
        found = self._quanta.get(currency)
        if found is None:
            exponent = currency_exponent(currency)
            found = self._quanta[currency] = (exponent, Decimal(1).scaleb(-exponent))
        return found

    def read(self, cell: Cell, currency: str) -> Decimal | Ambiguous:
        """The amount in a cell (text or XLSX number) of an item in `currency`."""
        exponent, quantum = self.quantum(currency)
        if isinstance(cell, str):
            if exponent >= 2 and _FAST_AMOUNT.fullmatch(cell):
                if "," in cell:
                    self.decimal_separators.add(",")
                    cell = cell.replace(",", ".")
                elif "." in cell:
                    self.decimal_separators.add(".")
                return Decimal(cell).quantize(quantum)
            return self._read_text(cell, currency, exponent, quantum)
        if isinstance(cell, int | float) and not isinstance(cell, bool):
            if isinstance(cell, float) and not math.isfinite(cell):
                msg = f"not an amount: {cell!r} {AMOUNT_HINT}"
                raise BadValue(msg)
            return Decimal(str(cell)).quantize(quantum, rounding=ROUND_HALF_UP)
        msg = f"not an amount: {cell_text(cell)!r} {AMOUNT_HINT}"
        raise BadValue(msg)

    def resolve(self, value: Ambiguous, currency: str) -> Decimal:
        """The value of an ambiguous amount, given what the whole file showed."""
        other = "," if value.separator == "." else "."
        if value.separator not in self.decimal_separators and (
            other in self.decimal_separators or value.separator in self.thousands_separators
        ):
            return value.thousands
        exponent, quantum = self.quantum(currency)
        if exponent >= 3:
            return value.decimals.quantize(quantum)
        msg = (
            f"ambiguous amount: {value.text!r} (thousands or decimals? write it with "
            f"{exponent} decimals, such as 1.234,00 or 1234.00)"
        )
        raise BadValue(msg)

    def _read_text(
        self, text: str, currency: str, exponent: int, quantum: Decimal
    ) -> Decimal | Ambiguous:
        if len(text) > MAX_AMOUNT_CHARS:
            msg = (
                f"not an amount: {len(text)} characters, {text[:20]!r}... (an amount has at "
                f"most {MAX_AMOUNT_CHARS}; is this the right column?)"
            )
            raise BadValue(msg)
        match = _AMOUNT.fullmatch(" ".join(text.split()))
        if match is None:
            msg = f"not an amount: {text!r} {AMOUNT_HINT}"
            raise BadValue(msg)
        signs = [s for s in (match["lead"], match["sign"], match["trail"]) if s]
        symbols = [s for s in (match["sym"], match["tsym"]) if s]
        if len(signs) > 1 or len(symbols) > 1:
            msg = f"not an amount: {text!r} {AMOUNT_HINT}"
            raise BadValue(msg)
        if (
            symbols
            and symbols[0].upper() != currency
            and not (symbols[0] == "€" and currency == "EUR")
        ):
            msg = f"amount {text!r} is not in {currency}, the currency of this item"
            raise BadValue(msg)
        negative = bool(signs) and signs[0] == "-"
        number: str = match["num"]
        dots, commas = number.count("."), number.count(",")
        if dots and commas:
            decimal_sep = "." if number.rfind(".") > number.rfind(",") else ","
            thousands_sep = "," if decimal_sep == "." else "."
            whole, fraction = number.rsplit(decimal_sep, 1)
            if decimal_sep in whole or not fraction:
                msg = f"not an amount: {text!r} {AMOUNT_HINT}"
                raise BadValue(msg)
            digits = _grouped(whole, thousands_sep, text)
            self.thousands_separators.add(thousands_sep)
            self.decimal_separators.add(decimal_sep)
        elif dots or commas:
            separator = "." if dots else ","
            if dots + commas > 1:
                digits, fraction = _grouped(number, separator, text), ""
                self.thousands_separators.add(separator)
            else:
                whole, fraction = number.split(separator)
                if not fraction:
                    msg = f"not an amount: {text!r} {AMOUNT_HINT}"
                    raise BadValue(msg)
                if len(fraction) == 3 and len(whole) <= 3 and whole[0] != "0":
                    sign = "-" if negative else ""
                    return Ambiguous(
                        text,
                        separator,
                        thousands=Decimal(f"{sign}{whole}{fraction}").quantize(quantum),
                        decimals=Decimal(f"{sign}{whole}.{fraction}"),
                    )
                digits = whole
                self.decimal_separators.add(separator)
        else:
            digits, fraction = number, ""
        if len(fraction) > exponent:
            msg = f"too many decimals: {text!r} ({currency} amounts have {exponent})"
            raise BadValue(msg)
        sign = "-" if negative else ""
        try:
            return Decimal(f"{sign}{digits}.{fraction or '0'}").quantize(quantum)
        except InvalidOperation:  # absurdly long numbers
            msg = f"not an amount: {text!r} {AMOUNT_HINT}"
            raise BadValue(msg) from None


def _grouped(whole: str, separator: str, text: str) -> str:
    """The digits of `1.234.567` when the groups after the first are three digits each."""
    groups = whole.split(separator)
    first, rest = groups[0], groups[1:]
    if (
        not (1 <= len(first) <= 3 and first.isdigit())
        or (first[0] == "0" and rest)
        or any(len(g) != 3 or not g.isdigit() for g in rest)
    ):
        msg = f"not an amount: {text!r} (thousands must be grouped by three: 1.234.567,89)"
        raise BadValue(msg)
    return "".join(groups)


def parse_currency(text: str) -> str:
    code = text.upper()
    if not is_currency_code(code):
        msg = f"not a currency code: {text!r} (expected a 3-letter code such as EUR)"
        raise BadValue(msg)
    return code


def parse_iban(text: str) -> str:
    try:
        return str(stdnum_iban.validate(text))
    except ValidationError:
        msg = f"not a valid IBAN: {text!r}"
        raise BadValue(msg) from None


def parse_email(text: str) -> str:
    if len(text) > 254:  # RFC 5321: an address (a path without its <>) has at most 254
        msg = f"not an email address: {len(text)} characters, {text[:20]!r}... (at most 254)"
        raise BadValue(msg)
    if not _EMAIL.fullmatch(text):
        msg = f"not an email address: {text!r}"
        raise BadValue(msg)
    return text


def parse_kind(text: str) -> DebtorKind:
    kind = _KINDS.get(text.casefold())
    if kind is None:
        msg = f"unknown kind: {text!r} (expected business or consumer, zakelijk or particulier)"
        raise BadValue(msg)
    return kind


def parse_language(text: str) -> str:
    language = _LANGUAGES.get(text.casefold())
    if language is None:
        msg = f"unknown language: {text!r} (expected nl or en)"
        raise BadValue(msg)
    return language


def parse_days(cell: Cell) -> int:
    if isinstance(cell, int) and not isinstance(cell, bool) and cell >= 0:
        return cell
    if isinstance(cell, float) and cell.is_integer() and cell >= 0:
        return int(cell)
    text = cell_text(cell)
    if text.isascii() and text.isdigit():
        return int(text)
    msg = f"not a whole number of days: {text!r} (expected 0 or more, such as 30)"
    raise BadValue(msg)


def parse_tags(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in _TAG_SPLIT.split(text) if t.strip()))


# Files -----------------------------------------------------------------------------------


@dataclass
class ParsedItems:
    open_items: list[OpenItem] = field(default_factory=list)
    # debtor code -> name (the code when the file has no name), for an administration
    # without a debtors file
    debtor_names: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    opened: int = 0  # open items found (also when they are not kept)
    # how the file writes its separators: hand it to a later read of part of the file
    amounts: AmountReader = field(default_factory=lambda: AmountReader())


def _missing_columns(table: Table, file: str, layout: Layout, problems: Problems) -> bool:
    for column in layout.missing:
        expected = ", ".join((column.name, *column.aliases))
        problems.add(
            file,
            table.header_line,
            column.name,
            f"missing required column (expected a header such as {expected})",
        )
    return bool(layout.missing)


def parse_items(
    table: Table,
    file: str,
    problems: Problems,
    *,
    currency: str,
    debtor_codes: Container[str] | None = None,
    debtors_file: str = "",
    keep: bool = True,
    amounts: AmountReader | None = None,
) -> ParsedItems:
    """The items of an items file; `debtor_codes` are the debtors file's codes, if there is one.

    Items with a zero open amount are settled and left out; negative ones are credit notes.
    `keep=False` checks the file and counts its open items without keeping them (a large
    export is then read again part by part); `amounts` is the reader of an earlier read of the
    whole file, so that a part's ambiguous amounts are read as the whole file shows.
    """
    result = ParsedItems()
    layout = resolve_columns(table.header, ITEM_COLUMNS)
    if _missing_columns(table, file, layout, problems):
        return result
    amounts = result.amounts = amounts or AmountReader()
    dates: dict[str, date] = {}
    label = layout.label
    i_number, i_code = layout.at("invoice_number"), layout.at("debtor_code")
    i_due, i_open = layout.at("due_date"), layout.at("open_amount")
    i_date, i_amount = layout.at("invoice_date"), layout.at("amount")
    i_currency, i_description = layout.at("currency"), layout.at("description")
    i_name, i_id = layout.at("debtor_name"), layout.at("external_id")
    width = max(layout.index.values()) + 1
    open_items = result.open_items
    names = result.debtor_names
    seen: dict[str, int] = {}
    # (index in open_items or -1, line, column name, value, currency)
    pending: list[tuple[int, int, str, Ambiguous, str]] = []
    id_column = "external_id" if i_id >= 0 else "invoice_number"
    what = "id" if i_id >= 0 else "invoice number"
    # The common case, a plain amount in the administration's currency, is read inline
    # (the same as AmountReader.read, which reads everything else).
    exponent, quantum = amounts.quantum(currency)
    default_quantum = quantum if exponent >= 2 else None
    fast_amount = _FAST_AMOUNT.fullmatch
    comma_decimals = point_decimals = False
    rows = 0

    def read_amount(
        cell: Cell, row_currency: str, column: str, line: int
    ) -> Decimal | Ambiguous | None:
        try:
            return amounts.read(cell, row_currency)
        except BadValue as exc:
            problems.add(file, line, label[column], str(exc))
            return None

    for line, row in table.rows:
        rows += 1
        if len(row) < width:
            row = [*row, *([""] * (width - len(row)))]
        ok = True
        cell = row[i_number]
        number = cell.strip() if type(cell) is str else cell_text(cell)
        if not number:
            problems.add(
                file, line, label["invoice_number"], "empty; an invoice number is required"
            )
            ok = False
        cell = row[i_code]
        code = cell.strip() if type(cell) is str else cell_text(cell)
        if not code:
            problems.add(file, line, label["debtor_code"], "empty; a debtor code is required")
            ok = False
        elif debtor_codes is not None and code not in debtor_codes:
            problems.add(
                file, line, label["debtor_code"], f"unknown debtor {code!r}: not in {debtors_file}"
            )
            ok = False

        external_id = number
        if i_id >= 0:
            cell = row[i_id]
            external_id = (cell.strip() if type(cell) is str else cell_text(cell)) or number
        if external_id:
            first_line = seen.get(external_id)
            if first_line is None:
                seen[external_id] = line
            else:
                problems.add(
                    file,
                    line,
                    label[id_column],
                    f"duplicate {what} {external_id!r} (also on line {first_line})",
                )
                ok = False

        row_currency, row_quantum = currency, default_quantum
        if i_currency >= 0:
            text = cell_text(row[i_currency])
            if text and text != currency:
                try:
                    row_currency = parse_currency(text)
                except BadValue as exc:
                    problems.add(file, line, label["currency"], str(exc))
                    ok = False
                if row_currency != currency:
                    row_quantum = None

        cell = row[i_due]
        if type(cell) is str:
            cell = cell.strip()
            due = dates.get(cell)
        else:
            due = None
        if due is None:
            if cell == "":
                problems.add(file, line, label["due_date"], "empty; a due date is required")
                ok = False
            else:
                try:
                    due = date_cell(cell, dates)
                except BadValue as exc:
                    problems.add(file, line, label["due_date"], str(exc))
                    ok = False

        invoice_date: date | None = None
        if i_date >= 0:
            cell = row[i_date]
            if type(cell) is str:
                cell = cell.strip()
                invoice_date = dates.get(cell)
            if invoice_date is None and cell != "":
                try:
                    invoice_date = date_cell(cell, dates)
                except BadValue as exc:
                    problems.add(file, line, label["invoice_date"], str(exc))
                    ok = False

        cell = row[i_open]
        open_value: Decimal | Ambiguous | None = None
        if type(cell) is str:
            cell = cell.strip()
            if row_quantum is not None and fast_amount(cell):
                if "," in cell:
                    comma_decimals = True
                    cell = cell.replace(",", ".")
                elif "." in cell:
                    point_decimals = True
                open_value = Decimal(cell)
                if len(cell) < 4 or cell[-3] != ".":
                    open_value = open_value.quantize(row_quantum)
        if open_value is None:
            if cell == "":
                problems.add(file, line, label["open_amount"], "empty; an open amount is required")
                ok = False
            else:
                open_value = read_amount(cell, row_currency, "open_amount", line)
                ok = ok and open_value is not None

        amount_value: Decimal | Ambiguous | None = None
        if i_amount >= 0:
            cell = row[i_amount]
            if type(cell) is str:
                cell = cell.strip()
                if row_quantum is not None and fast_amount(cell):
                    if "," in cell:
                        comma_decimals = True
                        cell = cell.replace(",", ".")
                    elif "." in cell:
                        point_decimals = True
                    amount_value = Decimal(cell)
                    if len(cell) < 4 or cell[-3] != ".":
                        amount_value = amount_value.quantize(row_quantum)
            if amount_value is None and cell != "":
                amount_value = read_amount(cell, row_currency, "amount", line)
                ok = ok and amount_value is not None

        if debtor_codes is None and code and not names.get(code):
            name = ""
            if i_name >= 0:
                cell = row[i_name]
                name = cell.strip() if type(cell) is str else cell_text(cell)
            names[code] = name

        if not ok or due is None or open_value is None or not open_value:
            # A bad or settled line; still say when an amount is ambiguous, unless the
            # rest of the file settles it.
            if isinstance(open_value, Ambiguous):
                pending.append((-1, line, "open_amount", open_value, row_currency))
            if isinstance(amount_value, Ambiguous):
                pending.append((-1, line, "amount", amount_value, row_currency))
            continue

        index = result.opened
        result.opened += 1
        if isinstance(open_value, Ambiguous):
            pending.append((index, line, "open_amount", open_value, row_currency))
            open_money = Money(open_value.thousands, row_currency)  # until the file is read
        else:
            open_money = Money(open_value, row_currency)
        original: Money | None = None
        if isinstance(amount_value, Ambiguous):
            pending.append((index, line, "amount", amount_value, row_currency))
            original = Money(amount_value.thousands, row_currency)
        elif amount_value is not None:
            # most open items are unpaid: share the value instead of building it twice
            same = amount_value == open_money.amount
            original = open_money if same else Money(amount_value, row_currency)
        if not keep:
            continue
        description = ""
        if i_description >= 0:
            cell = row[i_description]
            description = cell.strip() if type(cell) is str else cell_text(cell)
        open_items.append(
            OpenItem(
                external_id, number, code, invoice_date, due, open_money, original, description
            )
        )

    result.rows = rows
    if comma_decimals:
        amounts.decimal_separators.add(",")
    if point_decimals:
        amounts.decimal_separators.add(".")
    for index, line, name, value, row_currency in pending:
        try:
            resolved = amounts.resolve(value, row_currency)
        except BadValue as exc:
            problems.add(file, line, label[name], str(exc))
            continue
        if index >= 0 and keep:
            item = open_items[index]
            money = Money(resolved, row_currency)
            if name == "open_amount":
                open_items[index] = dataclasses.replace(item, open_amount=money)
            else:
                open_items[index] = dataclasses.replace(item, amount=money)
    return result


@dataclass
class ParsedDebtors:
    debtors: list[Debtor] = field(default_factory=list)
    # every code in the file, also of rows with problems (None: the file has no code column)
    codes: set[str] | None = None


def parse_debtors(table: Table, file: str, problems: Problems) -> ParsedDebtors:
    """The debtors of a debtors file, in file order."""
    layout = resolve_columns(table.header, DEBTOR_COLUMNS)
    if _missing_columns(table, file, layout, problems):
        return ParsedDebtors(codes=None if "debtor_code" not in layout.index else set())
    label = layout.label
    positions = [(column.name, layout.at(column.name)) for column in DEBTOR_COLUMNS]
    present = [(name, i) for name, i in positions if i >= 0]
    width = max(i for _, i in present) + 1
    result = ParsedDebtors(codes=set())
    debtors = result.debtors
    seen: dict[str, int] = {}

    for line, row in table.rows:
        if len(row) < width:
            row = [*row, *([""] * (width - len(row)))]
        raw = {name: row[i] for name, i in present}
        text = {name: cell_text(cell) for name, cell in raw.items()}
        before = problems.count
        ok = True
        code = text["debtor_code"]
        if not code:
            problems.add(file, line, label["debtor_code"], "empty; a debtor code is required")
            ok = False
        elif code in seen:
            problems.add(
                file,
                line,
                label["debtor_code"],
                f"duplicate debtor code {code!r} (also on line {seen[code]})",
            )
            ok = False
        else:
            seen[code] = line
        name = text["name"]
        if not name:
            problems.add(file, line, label["name"], "empty; a debtor name is required")
            ok = False

        def report(key: str, message: str, line: int = line) -> None:
            problems.add(file, line, label[key], message)

        kind = _optional(text, "kind", parse_kind, DebtorKind.CONSUMER, report)  # 13.1
        email = _optional(text, "email", parse_email, "", report)
        iban = _optional(text, "iban", parse_iban, "", report)
        language = _optional(text, "language", parse_language, "nl", report)
        no_tags: tuple[str, ...] = ()
        tags = _optional(text, "tags", parse_tags, no_tags, report)
        if not text.get("kind"):
            # Taken as a consumer (13.1), but never silently: tagged, and counted by the sync.
            tags = (*tags, KIND_UNKNOWN_TAG)
        payment_term_days: int | None = None
        if text.get("payment_term_days"):
            try:
                payment_term_days = parse_days(raw["payment_term_days"])
            except BadValue as exc:
                report("payment_term_days", str(exc))
        if not ok or problems.count != before:
            continue
        country = text.get("country", "")
        debtors.append(
            Debtor(
                code=code,
                name=name,
                kind=kind,
                email=email,
                phone=text.get("phone", ""),
                address=Address(
                    street=text.get("street", ""),
                    postal_code=text.get("postal_code", ""),
                    city=text.get("city", ""),
                    country=country.upper() if len(country) == 2 else country,
                ),
                iban=iban,
                vat_number=_compact(text.get("vat_number", "")).upper(),
                kvk_number=_compact(text.get("kvk_number", "")),
                language=language,
                payment_term_days=payment_term_days,
                tags=tags,
            )
        )
    result.codes = set(seen)
    return result


def _optional(
    text: dict[str, str],
    key: str,
    parse: Callable[[str], T],
    default: T,
    report: Callable[[str, str], None],
) -> T:
    value = text.get(key, "")
    if not value:
        return default
    try:
        return parse(value)
    except BadValue as exc:
        report(key, str(exc))
        return default


def _compact(text: str) -> str:
    return "".join(text.split()).replace(".", "")


def derived_debtors(names: dict[str, str]) -> list[Debtor]:
    """Debtors for an administration without a debtors file: code and name from the items.

    Their kind is not known (taken as business): they are tagged `kind-unknown`."""
    return [
        Debtor(code=code, name=name or code, tags=(KIND_UNKNOWN_TAG,))
        for code, name in names.items()
    ]
