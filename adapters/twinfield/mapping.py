"""Twinfield's XML answers -> the connector's domain. Pure functions, no I/O.

Codes are kept exactly as Twinfield sends them (leading zeros included: "0042" is not 42).
Amounts become Decimal from their text, never through a float. Dates come as yyyymmdd.

Shapes (element names from Twinfield's documentation and php-twinfield's mappers):

- offices: `<offices><office name=".." shortname="..">CODE</office>...</offices>`
- a debtor: `<dimension status="active"><code/><name/><financials><duedays/></financials>
  <addresses><address default="true">..field4 (VAT), field5 (KvK)..</address></addresses>
  <banks><bank default="true"><iban/></bank></banks><creditmanagement><sendreminder/>
  <reminderemail/><comment/>..</creditmanagement></dimension>`: `<creditmanagement>` is a
  direct child of `<dimension>`, beside `<financials>` (php-twinfield's captured real answer
  `customerGetResponse.xml` and its `CustomersDocument.php`; go-twinfield, murb/twinfield)
- browse 100: `<browse><th>..</th><tr><key><office/><code/><number/><line/></key>
  <td field="fin.trs.line.dim2">..</td>...</tr></browse>`
- a transaction: `<transaction location="final"><header><code/><number/><freetext1/>
  </header><lines><line id="2" type="detail"><dim2/><matchstatus/>..</line></lines>`
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation

from adapters.twinfield import documents as d
from adapters.twinfield.documents import Element
from connector.domain import Address
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import ItemKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import is_currency_code
from connector.errors import LedgerError

AVAILABLE = "available"  # matchstatus of a line that is still open
REMINDER_TAG = "twinfield-reminders"  # Twinfield sends its own reminders to this debtor
REMINDER_EMAIL_TAG = "twinfield-reminders-email"
HIDDEN_TAG = "twinfield-hidden"  # the customer is hidden (archived) in Twinfield
REMINDER_SETTINGS = ("true", "email", "false")


def _text(element: Element | None, path: str) -> str:
    if element is None:
        return ""
    found = element.findtext(path)
    return (found or "").strip()


def parse_date(text: str) -> date | None:
    """yyyymmdd (Twinfield's form), or ISO yyyy-mm-dd with or without a time."""
    value = text.strip()
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{8}", value):
            return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        if re.match(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value[:10])
        if re.match(r"\d{14}", value):  # yyyymmddhhmmss
            return datetime.strptime(value[:8], "%Y%m%d").date()  # noqa: DTZ007 - a date only
    except ValueError:
        return None
    return None


def parse_amount(text: str, where: str) -> Decimal:
    """A Twinfield value ("1234.56", "-121.00") as a Decimal.

    Raises:
        LedgerError: not a number.
    """
    value = text.strip().replace(" ", "")
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        msg = f"Twinfield sent {text!r} as an amount for {where}"
        raise LedgerError(msg) from None
    if not amount.is_finite():
        msg = f"Twinfield sent {text!r} as an amount for {where}"
        raise LedgerError(msg)
    return amount


# --- offices -------------------------------------------------------------------------------


def offices(root: Element) -> list[Administration]:
    """The offices of `<list><type>offices</type></list>`, in Twinfield's order."""
    found: list[Administration] = []
    seen: set[str] = set()
    for element in root.iter("office"):
        code = (element.text or "").strip()
        if not code or code in seen:
            continue
        seen.add(code)
        name = (element.get("name") or element.get("shortname") or code).strip()
        found.append(Administration(external_id=code, name=name))
    return found


# --- debtors -------------------------------------------------------------------------------


def _default(elements: list[Element]) -> Element | None:
    for element in elements:
        if element.get("default") == "true":
            return element
    return elements[0] if elements else None


CREDIT = "creditmanagement"  # a child of <dimension> itself


def reminder_setting(dimension: Element) -> str:
    """Twinfield's own reminders for the customer: "true", "email" or "false"."""
    value = _text(dimension, f"{CREDIT}/sendreminder").lower()
    return value if value in REMINDER_SETTINGS else "false"


def credit_comment(dimension: Element) -> str:
    return dimension.findtext(f"{CREDIT}/comment") or ""


def credit_block(dimension: Element) -> list[tuple[str, str]]:
    """Every child of the customer's `<creditmanagement>` as read, in order (name, text).

    A dispute note writes the whole block back with only the comment changed: whether
    Twinfield keeps children that an update leaves out is not documented.
    """
    block = dimension.find(CREDIT)
    if block is None:
        return []
    return [(str(child.tag), child.text or "") for child in block if isinstance(child.tag, str)]


def debtor(dimension: Element, default_kind: DebtorKind = DebtorKind.CONSUMER) -> Debtor | None:
    """A customer (dimension DEB), or None for one that is deleted.

    A hidden (archived) customer is still a debtor while lines of it are open: it comes
    with the tag `twinfield-hidden`, so that a policy can leave it alone.
    """
    status = (dimension.get("status") or "active").lower()
    if status == "deleted":
        return None
    code = _text(dimension, "code")
    if not code:
        return None
    address = _default(dimension.findall("addresses/address"))
    bank = _default(dimension.findall("banks/bank"))
    vat = _text(address, "field4")
    kvk = _text(address, "field5")
    street = " ".join(p for p in (_text(address, "field2"), _text(address, "field3")) if p)
    email = (
        _text(dimension, f"{CREDIT}/reminderemail")
        or _text(address, "email")
        or _text(dimension, "financials/ebillmail")
    )
    term: int | None = None
    days = _text(dimension, "financials/duedays")
    if days.isdigit():
        term = int(days)
    iban = (_text(bank, "iban") or _text(bank, "accountnumber")).replace(" ", "").upper()
    setting = reminder_setting(dimension)
    tags: tuple[str, ...] = ()
    if setting == "true":
        tags = (REMINDER_TAG,)
    elif setting == "email":
        tags = (REMINDER_TAG, REMINDER_EMAIL_TAG)
    if status != "active":
        tags = (*tags, HIDDEN_TAG)
    return Debtor(
        code=code,
        name=_text(dimension, "name") or _text(address, "name") or code,
        kind=DebtorKind.BUSINESS if vat or kvk else default_kind,
        email=email,
        phone=_text(address, "telephone"),
        address=Address(
            street=street,
            postal_code=_text(address, "postcode"),
            city=_text(address, "city"),
            country=_text(address, "country").upper(),
        ),
        iban=iban,
        vat_number=vat.replace(" ", "").upper(),
        kvk_number=kvk.replace(" ", ""),
        payment_term_days=term,
        tags=tags,
    )


# --- browse --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrowseRow:
    """One transaction line of a browse: its key and its fields by name."""

    code: str
    number: str
    line: str
    fields: Mapping[str, str]

    @property
    def external_id(self) -> str:
        return external_id(self.code, self.number, self.line)

    def get(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    @property
    def is_available(self) -> bool:
        return self.get(d.F_MATCHSTATUS).lower() == AVAILABLE


def external_id(code: str, number: str, line: str) -> str:
    """The item's key in the store: daybook, transaction number and line ("VRK:2025001:1")."""
    return f"{code}:{number}:{line}"


def split_external_id(value: str) -> tuple[str, str, str]:
    """The daybook, number and line of an item's key.

    Raises:
        LedgerError: not a Twinfield item key.
    """
    parts = value.split(":")
    if len(parts) != 3 or not all(parts):
        msg = f"{value!r} is not a Twinfield item key (daybook:number:line)"
        raise LedgerError(msg)
    return parts[0], parts[1], parts[2]


def browse_rows(root: Element) -> Iterator[BrowseRow]:
    """The rows of a browse answer, each line once (a browse may repeat a line per regime)."""
    seen: set[tuple[str, str, str]] = set()
    for tr in root.iter("tr"):
        key = tr.find("key")
        code, number, line = _text(key, "code"), _text(key, "number"), _text(key, "line")
        fields = {td.get("field", ""): (td.text or "") for td in tr.iter("td")}
        code = code or fields.get(d.F_CODE, "").strip()
        number = number or fields.get(d.F_NUMBER, "").strip()
        if not (code and number and line) or (code, number, line) in seen:
            continue
        seen.add((code, number, line))
        yield BrowseRow(code, number, line, fields)


def open_item(
    row: BrowseRow, currency: str = "EUR", bank_daybooks: Collection[str] = ()
) -> OpenItem | None:
    """The row as an open item, or None when it is matched or nothing is open on it.

    The amount is in the transaction's currency (`openvaluesigned` with `curcode`); without
    those, the base amount (`openbasevaluesigned`) in the administration's currency.

    What it is: a credit (negative) line on a bank or cash daybook (`bank_daybooks`) is a
    payment received and not yet matched, an unapplied payment: its reference is the
    booking ("BNK 202600012") in `description`, and its invoice number only the one the
    payment named (never the transaction number). Any other credit line is a credit note,
    any debit line an invoice.
    """
    if not row.is_available:
        return None
    where = f"{row.external_id}"
    item_currency = row.get(d.F_CURRENCY).upper()
    if is_currency_code(item_currency) and row.get(d.F_OPEN):
        open_amount = parse_amount(row.get(d.F_OPEN), where)
        total_text = row.get(d.F_VALUE)
    else:
        item_currency = currency
        open_amount = parse_amount(row.get(d.F_OPEN_BASE) or "0", where)
        total_text = row.get(d.F_BASE_VALUE)
    if open_amount == 0:
        return None
    invoice_date = parse_date(row.get(d.F_DATE))
    due = parse_date(row.get(d.F_DUE)) or invoice_date
    if due is None:
        msg = f"Twinfield line {where} has neither a due date nor a date"
        raise LedgerError(msg)
    total = Money(parse_amount(total_text, where), item_currency) if total_text else None
    kind = ItemKind.INVOICE if open_amount > 0 else ItemKind.CREDIT_NOTE
    invoice_number = row.get(d.F_INVOICE) or row.number
    description = ""
    if open_amount < 0 and row.code in bank_daybooks:
        kind = ItemKind.UNAPPLIED_PAYMENT
        invoice_number = row.get(d.F_INVOICE)
        description = f"{row.code} {row.number}"
    return OpenItem(
        external_id=row.external_id,
        invoice_number=invoice_number,
        debtor_code=row.get(d.F_DEBTOR),
        invoice_date=invoice_date,
        due_date=due,
        open_amount=Money(open_amount, item_currency),
        amount=total,
        description=description,
        kind=kind,
    )


# --- transactions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionLine:
    id: str
    type: str
    debtor: str
    value: Decimal | None
    matchstatus: str
    invoice_number: str
    description: str


@dataclass(frozen=True, slots=True)
class Transaction:
    code: str
    number: str
    location: str  # "final" or "temporary" (provisional)
    reference: str  # header freetext1: our idempotency key, for payments we booked
    lines: tuple[TransactionLine, ...]

    def detail_for(self, debtor_code: str) -> TransactionLine | None:
        for line in self.lines:
            if line.type == "detail" and line.debtor == debtor_code:
                return line
        return None


def transaction(root: Element) -> Transaction:
    """A transaction as read, or as answered after booking it.

    Raises:
        LedgerError: no transaction number in the answer.
    """
    element = root if root.tag == "transaction" else root.find(".//transaction")
    if element is None:
        msg = "Twinfield's answer holds no transaction"
        raise LedgerError(msg)
    header = element.find("header")
    number = _text(header, "number")
    if not number:
        msg = "Twinfield's transaction answer has no number"
        raise LedgerError(msg)
    lines = []
    for line in element.iterfind("lines/line"):
        value_text = _text(line, "value")
        sign = -1 if _text(line, "debitcredit") == "credit" else 1
        lines.append(
            TransactionLine(
                id=line.get("id", ""),
                type=line.get("type", ""),
                debtor=_text(line, "dim2"),
                value=sign * parse_amount(value_text, number) if value_text else None,
                matchstatus=_text(line, "matchstatus").lower(),
                invoice_number=_text(line, "invoicenumber"),
                description=_text(line, "description"),
            )
        )
    return Transaction(
        code=_text(header, "code"),
        number=number,
        location=(element.get("location") or "final").lower(),
        reference=_text(header, "freetext1"),
        lines=tuple(lines),
    )
