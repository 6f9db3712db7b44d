"""The ProcessXml request documents, built with lxml (never by pasting strings).

Pure functions: values in, an `lxml` element out. The element names are Twinfield's
(developers portal, php-twinfield's documents); see `mapping` for the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from typing import TypeAlias

from lxml import etree

from connector.domain import Money
from connector.domain import format_amount

# lxml.etree._Element: lxml ships no type information, so the alias is Any to mypy.
Element: TypeAlias = Any

BROWSE_CUSTOMER_TRANSACTIONS = "100"
MATCHCODE_CUSTOMERS = "170"

# The browse 100 fields the adapter reads (all in browse 100's own definition).
F_YEARPERIOD = "fin.trs.head.yearperiod"
F_CODE = "fin.trs.head.code"
F_NUMBER = "fin.trs.head.number"
F_STATUS = "fin.trs.head.status"
F_DATE = "fin.trs.head.date"
F_CURRENCY = "fin.trs.head.curcode"
F_DEBTOR = "fin.trs.line.dim2"
F_VALUE = "fin.trs.line.valuesigned"
F_BASE_VALUE = "fin.trs.line.basevaluesigned"
F_OPEN_BASE = "fin.trs.line.openbasevaluesigned"
F_OPEN = "fin.trs.line.openvaluesigned"
F_INVOICE = "fin.trs.line.invnumber"
F_DUE = "fin.trs.line.datedue"
F_MATCHSTATUS = "fin.trs.line.matchstatus"
F_MATCHDATE = "fin.trs.line.matchdate"
F_MODIFIED = "fin.trs.line.modified"

VISIBLE_FIELDS = (
    F_YEARPERIOD,
    F_CODE,
    F_NUMBER,
    F_STATUS,
    F_DATE,
    F_CURRENCY,
    F_DEBTOR,
    F_VALUE,
    F_BASE_VALUE,
    F_OPEN_BASE,
    F_OPEN,
    F_INVOICE,
    F_DUE,
    F_MATCHSTATUS,
    F_MATCHDATE,
    F_MODIFIED,
)


@dataclass(frozen=True, slots=True)
class Filter:
    """A browse column filter: `equal` uses `low` only; `between` both."""

    field: str
    operator: str
    low: str
    high: str = ""


def _add(parent: Element, name: str, text: str | None = None, **attributes: str) -> Element:
    child = etree.SubElement(parent, name, **attributes)
    if text is not None:
        child.text = text
    return child


def twinfield_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def list_offices() -> Element:
    root = etree.Element("list")
    _add(root, "type", "offices")
    return root


def read_dimension(office: str, code: str, dimtype: str = "DEB") -> Element:
    root = etree.Element("read")
    _add(root, "type", "dimensions")
    _add(root, "office", office)
    _add(root, "dimtype", dimtype)
    _add(root, "code", code)
    return root


def read_transaction(office: str, code: str, number: str) -> Element:
    root = etree.Element("read")
    _add(root, "type", "transaction")
    _add(root, "office", office)
    _add(root, "code", code)
    _add(root, "number", number)
    return root


def browse(filters: Sequence[Filter], code: str = BROWSE_CUSTOMER_TRANSACTIONS) -> Element:
    """`<columns code="100">`: every field in `VISIBLE_FIELDS` shown, `filters` applied."""
    by_field = {f.field: f for f in filters}
    root = etree.Element("columns", code=code)
    fields = list(VISIBLE_FIELDS) + [f.field for f in filters if f.field not in VISIBLE_FIELDS]
    for name in fields:
        column = _add(root, "column")
        _add(column, "field", name)
        _add(column, "visible", "true")
        found = by_field.get(name)
        if found is not None:
            _add(column, "ask", "true")
            _add(column, "operator", found.operator)
            _add(column, "from", found.low)
            _add(column, "to", found.high or found.low)
    return root


@dataclass(frozen=True, slots=True)
class Payment:
    """A customer payment booked on a bank (or cash) daybook."""

    office: str
    daybook: str
    day: date
    debtor: str
    receivables_account: str
    amount: Money  # positive: money received
    invoice_number: str
    reference: str  # our idempotency key, kept in the header's freetext1
    description: str
    bank_account: str = ""  # the total line's dim1; empty: the daybook's own account


def bank_transaction(payment: Payment) -> Element:
    """A final bank transaction: the total line (bank +) and one detail line that credits
    the customer and names the invoice; `freetext1` carries our idempotency key."""
    root = etree.Element("transaction", destiny="final", raisewarning="false")
    header = _add(root, "header")
    _add(header, "office", payment.office)
    _add(header, "code", payment.daybook)
    _add(header, "date", twinfield_date(payment.day))
    _add(header, "currency", payment.amount.currency)
    _add(header, "freetext1", payment.reference)
    lines = _add(root, "lines")
    value = format_amount(payment.amount.amount, payment.amount.currency)
    total = _add(lines, "line", type="total", id="1")
    if payment.bank_account:
        _add(total, "dim1", payment.bank_account)
    _add(total, "value", value)
    _add(total, "debitcredit", "debit")
    detail = _add(lines, "line", type="detail", id="2")
    _add(detail, "dim1", payment.receivables_account)
    _add(detail, "dim2", payment.debtor)
    _add(detail, "value", value)
    _add(detail, "debitcredit", "credit")
    _add(detail, "invoicenumber", payment.invoice_number)
    _add(detail, "description", payment.description[:40])
    return root


@dataclass(frozen=True, slots=True)
class MatchLine:
    code: str
    number: str
    line: str
    value: Money | None = None  # a partial match: signed as the line (negative on credits)


def match(office: str, day: date, lines: Sequence[MatchLine]) -> Element:
    """A customer match set (matchcode 170)."""
    root = etree.Element("match")
    match_set = _add(root, "set")
    _add(match_set, "office", office)
    _add(match_set, "matchcode", MATCHCODE_CUSTOMERS)
    _add(match_set, "matchdate", twinfield_date(day))
    holder = _add(match_set, "lines")
    for item in lines:
        line = _add(holder, "line")
        _add(line, "transcode", item.code)
        _add(line, "transnumber", item.number)
        _add(line, "transline", item.line)
        if item.value is not None:
            _add(line, "matchvalue", format_amount(item.value.amount, item.value.currency))
    return root


def dimension_credit(
    office: str, code: str, name: str, block: Sequence[tuple[str, str]], comment: str
) -> Element:
    """Update the customer's `<creditmanagement>` (a child of `<dimension>`): every child of
    the block as read (`block`), in its order, with only the comment replaced. Attributes of
    the read (`name`, `locked`, `modified`) describe the value and are not sent back."""
    root = etree.Element("dimension")
    _add(root, "office", office)
    _add(root, "type", "DEB")
    _add(root, "code", code)
    _add(root, "name", name)
    credit = _add(root, "creditmanagement")
    written = False
    for tag, text in block:
        if tag == "comment":
            _add(credit, "comment", comment)
            written = True
        else:
            _add(credit, tag, text.strip())
    if not written:
        _add(credit, "comment", comment)
    return root
