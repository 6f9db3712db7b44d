"""Exact Online's wire format -> domain objects. Pure: no I/O, no clock.

Values
    - Dates come as `/Date(ms)/` (an optional `+hhmm` offset after the number is ignored).
      Exact writes the wall-clock time of the administration as if it were UTC (so a due
      date is midnight UTC of that day); `odata_date` therefore takes the UTC date of the
      number and `odata_datetime` reads it as Europe/Amsterdam wall time.
    - Amounts are JSON numbers; the client parses them straight into Decimal
      (`json.loads(..., parse_float=Decimal)`), and `amount` refuses a float so a binary
      fraction can never creep in.
    - Codes (`Code`, `AccountCode`) are fixed-width, left-padded with spaces to 18
      characters; `code` trims them. A `$filter` on a code must use the padded form
      (`padded_code`).
    - Base and foreign currency stay apart: `TermAmounts` keeps `AmountDC` (the division's
      currency) and `AmountFC` (the entry's currency) as two Money values, never summed or
      converted. `ReceivablesList.Amount` is in the row's `CurrencyCode`, the currency the
      debtor owes in.

Open items
    `read/financial/ReceivablesList` has one row per open payment term, and a receipt not
    yet matched is a payment term too. Exact's reference: `InvoiceNumber` is, "for sales
    entry, ... the entrynumber. For the cashflow entry, it will be entrynumber of an invoice
    which this collection is for"; `EntryNumber` is the row's own entry. So one open item is
    one invoice (or credit note) of one account together with the receipts linked to it:
    the key is `"{InvoiceNumber}:{AccountId}"`, or `"{EntryNumber}:{AccountId}"` for a
    receipt linked to no invoice. For an invoice that is the same key as before (the two
    numbers are equal), so stored invoice keys stay; only receipts that used to be items of
    their own change, and `CURSOR_PREFIX` moved to v2 so that every connection's next read
    is complete and closes them. Its open amount is the sum of the group's rows (the
    invoice less what was received on it); its due date is the earliest due date of the
    invoice's own rows. A group that sums to zero is settled, not open.

Cursors
    The ledger's cursors are JSON objects behind a version prefix; `encode_cursor` and
    `decode_cursor` keep them opaque to the core.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain import Address
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import is_currency_code
from connector.kinds import kind_from_registration

Row = Mapping[str, Any]

CODE_WIDTH = 18
EXACT_TIMEZONE = ZoneInfo("Europe/Amsterdam")
CURSOR_PREFIX = "exact:v2:"  # v1 keyed receipts by their own entry: read everything again
DIVISION_ACTIVE = 1  # system/Divisions Status: 0 inactive, 1 active, 2 archived
LINE_TYPE_RECEIVABLE = 20  # payment terms: 20 receipt (receivable), 22 payment (payable)
STATUS_MATCHED = 50  # payment terms: 20 open, 30 selected, 40 processed, 50 matched

_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


class MappingError(ValueError):
    """A value from Exact that cannot be read; the message names the field."""


# --- values ------------------------------------------------------------------------------


def _millis(value: object, field: str) -> int:
    if not isinstance(value, str):
        msg = f"{field}: expected /Date(ms)/, got {value!r}"
        raise MappingError(msg)
    match = _DATE.match(value)
    if match is None:
        msg = f"{field}: expected /Date(ms)/, got {value!r}"
        raise MappingError(msg)
    return int(match.group(1))


def odata_date(value: object, field: str = "date") -> date:
    """The calendar date of a `/Date(ms)/` value."""
    return datetime.fromtimestamp(_millis(value, field) / 1000, UTC).date()


def odata_datetime(value: object, field: str = "datetime") -> datetime:
    """An aware datetime from a `/Date(ms)/` value (Exact's wall time, Europe/Amsterdam)."""
    naive = datetime.fromtimestamp(_millis(value, field) / 1000, UTC).replace(tzinfo=None)
    return naive.replace(tzinfo=EXACT_TIMEZONE)


def optional_date(value: object, field: str = "date") -> date | None:
    return None if value is None else odata_date(value, field)


def to_odata_date(day: date) -> str:
    """The `/Date(ms)/` form of a date (midnight UTC of that day), as Exact writes it."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp()) * 1000})/"


def iso_date(day: date) -> str:
    """A date as Exact takes it in a POST body: zone-less ISO 8601 (a "Z" would shift it)."""
    return f"{day.isoformat()}T00:00:00"


def amount(value: object, field: str = "amount") -> Decimal:
    """A Decimal from a JSON number already parsed as Decimal (or an int or a string)."""
    if isinstance(value, bool | float):
        msg = f"{field}: got a float ({value!r}); amounts must be parsed as Decimal"
        raise MappingError(msg)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            msg = f"{field}: not a number: {value!r}"
            raise MappingError(msg) from None
    else:
        msg = f"{field}: not a number: {value!r}"
        raise MappingError(msg)
    if not result.is_finite():
        msg = f"{field}: not a finite number: {value!r}"
        raise MappingError(msg)
    return result


def code(value: object) -> str:
    """An Exact code without its padding ("            1068" -> "1068")."""
    return value.strip() if isinstance(value, str) else ""


def padded_code(value: str) -> str:
    """A code as Exact stores it: right-aligned in 18 characters."""
    return value.strip().rjust(CODE_WIDTH)


def text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def guid(value: object, field: str = "ID") -> str:
    """A GUID in Exact's lower-case form, checked."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        msg = f"{field}: not a GUID: {value!r}"
        raise MappingError(msg) from None


def currency(value: object, default: str) -> str:
    found = text(value).upper()
    return found if is_currency_code(found) else default


def timestamp(value: object, field: str = "Timestamp") -> int:
    """A sync `Timestamp` (a row version; no relation to a time)."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        msg = f"{field}: not a row version: {value!r}"
        raise MappingError(msg)
    try:
        number = int(value)
    except (ValueError, ArithmeticError):
        msg = f"{field}: not a row version: {value!r}"
        raise MappingError(msg) from None
    return number


# --- OData literals for $filter ---------------------------------------------------------


def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def odata_guid(value: str) -> str:
    return f"guid'{guid(value)}'"


def any_of(clauses: Iterable[str]) -> str:
    return " or ".join(f"({c})" if " " in c else c for c in clauses)


# --- administrations and debtors ----------------------------------------------------------


def administration(row: Row) -> Administration:
    division = row.get("Code")
    if isinstance(division, bool) or not isinstance(division, int):
        msg = f"Code: not a division number: {division!r}"
        raise MappingError(msg)
    name = text(row.get("Description")) or f"Exact division {division}"
    country = text(row.get("Country")).upper()
    return Administration(
        external_id=str(division),
        name=name,
        currency=currency(row.get("Currency"), "EUR"),
        country=country if len(country) == 2 and country.isalpha() else "NL",
    )


def is_debtor(row: Row) -> bool:
    """An account that is a customer (Status C) or marked as a sales relation."""
    return text(row.get("Status")).upper() == "C" or row.get("IsSales") is True


def _language(value: object) -> str:
    found = text(value).lower()
    return found[:2] if len(found) >= 2 and found[:2].isalpha() else "nl"


def _payment_days(value: object) -> int | None:
    # Exact's payment condition is a code; the common codes are the number of days
    # ("14", "30"). Anything else is not guessed.
    found = text(value)
    return int(found) if found.isdigit() and len(found) <= 3 else None


def debtor(row: Row) -> Debtor:
    found = code(row.get("Code"))
    if not found:
        msg = f"account {row.get('ID')!r}: no Code"
        raise MappingError(msg)
    street = " ".join(
        part for part in (text(row.get("AddressLine1")), text(row.get("AddressLine2"))) if part
    )
    tags: list[str] = []
    if row.get("Blocked") is True:
        tags.append("blocked")
    condition = text(row.get("PaymentConditionSales"))
    if condition:
        tags.append(f"payment-condition:{condition}")
    vat, kvk = text(row.get("VATNumber")), text(row.get("ChamberOfCommerce"))
    return Debtor(
        code=found,
        name=text(row.get("Name")) or found,
        # Accounts carry no person/company flag: a VAT or KvK number makes a business.
        kind=kind_from_registration(vat, kvk),
        email=text(row.get("Email")),
        phone=text(row.get("Phone")),
        address=Address(
            street=street,
            postal_code=text(row.get("Postcode")),
            city=text(row.get("City")),
            country=text(row.get("Country")).upper(),
        ),
        vat_number=vat,
        kvk_number=kvk,
        language=_language(row.get("Language")),
        payment_term_days=_payment_days(condition),
        tags=tuple(tags),
    )


# --- open items ----------------------------------------------------------------------------


def item_key(entry_number: object, account: object) -> str:
    if isinstance(entry_number, bool) or not isinstance(entry_number, int | str):
        msg = f"EntryNumber: not an entry number: {entry_number!r}"
        raise MappingError(msg)
    entry = str(entry_number).strip()
    if not entry.isdigit():
        msg = f"EntryNumber: not an entry number: {entry_number!r}"
        raise MappingError(msg)
    return f"{int(entry)}:{guid(account, 'AccountId')}"


def parse_item_key(key: str) -> tuple[int, str] | None:
    """(entry number, account GUID) of an item key; None for a key that is not ours."""
    entry, sep, account = key.partition(":")
    if not sep or not entry.isdigit():
        return None
    try:
        return int(entry), str(uuid.UUID(account))
    except ValueError:
        return None


def invoice_of(row: Row, number_field: str = "InvoiceNumber") -> object:
    """The entry a payment-term row belongs to: its invoice, else its own entry."""
    number = row.get(number_field)
    if number in (None, 0, "") or isinstance(number, bool):
        return row.get("EntryNumber")
    return number


def receivable_key(row: Row) -> str:
    return item_key(invoice_of(row), row.get("AccountId"))


def items_from_receivables(rows: Iterable[Row], default_currency: str) -> list[OpenItem]:
    """Group ReceivablesList rows (one per open payment term) into one item per invoice
    and account; a group that sums to zero is settled and left out."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(receivable_key(row), []).append(row)
    items = [_item(key, group, default_currency) for key, group in groups.items()]
    return [item for item in items if item.open_amount.amount != 0]


def _item(key: str, rows: list[Row], default_currency: str) -> OpenItem:
    number = key.partition(":")[0]
    own = [r for r in rows if str(r.get("EntryNumber")).strip() == number] or rows
    first = own[0]
    currencies = {currency(r.get("CurrencyCode"), default_currency) for r in rows}
    if len(currencies) != 1:
        msg = f"item {key}: payment terms in more than one currency ({sorted(currencies)})"
        raise MappingError(msg)
    total = sum((amount(r.get("Amount"), "Amount") for r in rows), Decimal(0))
    due = min(odata_date(r.get("DueDate"), "DueDate") for r in own)
    invoice_dates = [optional_date(r.get("InvoiceDate"), "InvoiceDate") for r in own]
    known_dates = [d for d in invoice_dates if d is not None]
    invoice_number = number
    description = text(first.get("Description"))
    your_ref = text(first.get("YourRef"))
    if your_ref and your_ref not in description:
        description = f"{description} (your ref {your_ref})" if description else your_ref
    return OpenItem(
        external_id=key,
        invoice_number=invoice_number,
        debtor_code=code(first.get("AccountCode")),
        invoice_date=min(known_dates) if known_dates else None,
        due_date=due,
        open_amount=Money(total, currencies.pop()),
        description=description,
    )


@dataclass(frozen=True, slots=True)
class TermAmounts:
    """A payment term's amounts: the division's currency and the entry's, kept apart."""

    base: Money  # AmountDC
    foreign: Money  # AmountFC


def term_amounts(row: Row, division_currency: str) -> TermAmounts:
    return TermAmounts(
        base=Money(amount(row.get("AmountDC"), "AmountDC"), division_currency),
        foreign=Money(
            amount(row.get("AmountFC"), "AmountFC"),
            currency(row.get("Currency"), division_currency),
        ),
    )


@dataclass(frozen=True, slots=True)
class TermChange:
    """What a changed payment term says about the open items: which one to re-read."""

    key: str
    account: str
    timestamp: int


def term_change(row: Row) -> TermChange | None:
    """The item a payment-terms sync row concerns; None for payables and lines without
    an entry (nothing the connector keeps)."""
    if row.get("LineType") not in (None, LINE_TYPE_RECEIVABLE):
        return None
    account = row.get("Account")
    if account is None or row.get("EntryNumber") in (None, 0):
        return None
    return TermChange(
        key=item_key(invoice_of(row), account),
        account=guid(account, "Account"),
        timestamp=timestamp(row.get("Timestamp")),
    )


# --- cursors -------------------------------------------------------------------------------


def encode_cursor(state: Mapping[str, int]) -> str:
    return CURSOR_PREFIX + json.dumps(dict(sorted(state.items())), separators=(",", ":"))


def decode_cursor(cursor: str | None, keys: Iterable[str]) -> dict[str, int] | None:
    """The cursor's row versions, or None when there is none (or it is not ours: then the
    sync starts over with a complete read rather than guess)."""
    if cursor is None or not cursor.startswith(CURSOR_PREFIX):
        return None
    try:
        data = json.loads(cursor[len(CURSOR_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    state: dict[str, int] = {}
    for key in keys:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
        state[key] = value
    return state
