"""Moneybird's JSON -> the connector's domain. Pure functions, no I/O.

Field names are Moneybird's (developer.moneybird.com, the openapi spec). Ids are bigints that
Moneybird sends as strings (sometimes as numbers): they are kept as strings. Amounts are
strings such as "363.0" and become Decimals; the client parses JSON numbers as Decimals too,
so a float never appears.

Open items are sales invoices and external sales invoices (invoices imported from other
software). The two live at different endpoints, so an item's `external_id` says which: a sales
invoice is its plain id, an external sales invoice is `ext:` + its id. An item is open while
its state is one of the unpaid states and `total_unpaid` is not zero; a credit note is open
with a negative amount.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from connector.domain import Address
from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.domain import is_currency_code

EXTERNAL_PREFIX = "ext:"
# A marker in notes this connector writes, so that a retried write finds its own note.
NOTE_MARKER = "[dunning-connector "
# The tag of a debtor whose Moneybird invoice workflow sends reminders by itself.
REMINDERS_TAG = "moneybird-reminders"
# The tag of a debtor of whom that cannot be told (the workflow came without its steps, or
# could not be read): never taken to mean "no".
REMINDERS_UNKNOWN_TAG = "moneybird-reminders-unknown"


class MappingError(ValueError):
    """A record that does not have the shape Moneybird documents; `problem` says how."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class InvoiceKind(enum.StrEnum):
    """The two kinds of open item, named after their API resource."""

    SALES = "sales_invoices"
    EXTERNAL = "external_sales_invoices"


# The unpaid states (sales invoices: the docs' filter table; external: their state enum).
OPEN_STATES: Mapping[InvoiceKind, tuple[str, ...]] = {
    InvoiceKind.SALES: ("open", "late", "reminded", "pending_payment"),
    InvoiceKind.EXTERNAL: ("open", "late", "pending_payment"),
}

# The `state` values the listings are filtered on: only values each `filter` table documents.
# External sales invoices document `all, new, open, late, paid` (their records may still be
# `pending_payment`: such a record is kept open when it is read, see `open_amount`, but it
# cannot be asked for by filter: an invoice that goes pending is re-read by id, an invoice
# that is pending from the start is found once it is open or late again).
FILTER_STATES: Mapping[InvoiceKind, tuple[str, ...]] = {
    InvoiceKind.SALES: ("open", "late", "reminded", "pending_payment"),
    InvoiceKind.EXTERNAL: ("open", "late"),
}


def external_id(kind: InvoiceKind, record_id: str) -> str:
    return record_id if kind is InvoiceKind.SALES else EXTERNAL_PREFIX + record_id


def parse_external_id(value: str) -> tuple[InvoiceKind, str]:
    """(kind, Moneybird id) of an item's `external_id`.

    Raises:
        MappingError: not an id this adapter made.
    """
    kind, record_id = (
        (InvoiceKind.EXTERNAL, value[len(EXTERNAL_PREFIX) :])
        if value.startswith(EXTERNAL_PREFIX)
        else (InvoiceKind.SALES, value)
    )
    if not record_id.isdigit():
        msg = f"{value!r} is not the id of a Moneybird invoice"
        raise MappingError(msg)
    return kind, record_id


# --- small parsers -------------------------------------------------------------------------


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def record_id(row: Mapping[str, Any]) -> str:
    value = row.get("id")
    if value is None or not str(value).isdigit():
        msg = f"a record without a valid id ({value!r})"
        raise MappingError(msg)
    return str(value)


def decimal(value: Any, field: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        msg = f"{where}: {field} is not an amount ({value!r})"
        raise MappingError(msg)
    try:
        number = Decimal(value)
    except InvalidOperation:
        msg = f"{where}: {field} is not an amount ({value!r})"
        raise MappingError(msg) from None
    if not number.is_finite():
        msg = f"{where}: {field} is not an amount ({value!r})"
        raise MappingError(msg)
    return number


def optional_date(value: Any, field: str, where: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        msg = f"{where}: {field} is not a date ({value!r})"
        raise MappingError(msg) from None


def currency(value: Any, where: str) -> str:
    code = text(value).upper() or "EUR"
    if not is_currency_code(code):
        msg = f"{where}: currency {value!r} is not an ISO 4217 code"
        raise MappingError(msg)
    return code


# --- administrations -----------------------------------------------------------------------


def administration(row: Mapping[str, Any]) -> Administration | None:
    """An administration, or None for a suspended one (nothing can be synced there)."""
    if row.get("suspended"):
        return None
    rid = record_id(row)
    return Administration(
        external_id=rid,
        name=text(row.get("name")) or rid,
        currency=currency(row.get("currency"), f"administration {rid}"),
        timezone=text(row.get("time_zone")) or "Europe/Amsterdam",
        country=text(row.get("country")).upper() or "NL",
    )


# --- workflows and debtors -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workflow:
    """An invoice workflow: the payment term and whether Moneybird sends reminders itself.

    `auto_reminders` is None when that cannot be told: the workflow came without `steps`.
    """

    id: str
    name: str
    payment_term_days: int | None
    auto_reminders: bool | None
    reminder_steps: int
    default: bool = False


def workflow(row: Mapping[str, Any]) -> Workflow:
    """A workflow from `workflow_response`: its `steps` (`workflow_step_response`: step_order,
    due_interval, reminder_text, reminder_auto_send) tell the payment term and the reminders.
    """
    raw = row.get("steps")
    if not isinstance(raw, list):
        return Workflow(
            id=record_id(row),
            name=text(row.get("name")),
            payment_term_days=None,
            auto_reminders=None,
            reminder_steps=0,
            default=bool(row.get("default")),
        )
    steps = sorted(
        (s for s in raw if isinstance(s, Mapping)), key=lambda s: int(s.get("step_order") or 0)
    )
    term = text(steps[0].get("due_interval")) if steps else ""
    reminders = [s for s in steps[1:] if s.get("reminder_text") or s.get("reminder_auto_send")]
    return Workflow(
        id=record_id(row),
        name=text(row.get("name")),
        payment_term_days=int(term) if term.isdigit() else None,
        auto_reminders=any(bool(s.get("reminder_auto_send")) for s in steps),
        reminder_steps=len(reminders),
        default=bool(row.get("default")),
    )


def invoice_workflows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Workflow]:
    """The administration's invoice workflows by id (estimate workflows are left out)."""
    return {
        flow.id: flow
        for flow in (workflow(row) for row in rows if row.get("type") == "InvoiceWorkflow")
    }


def default_workflow(workflows: Mapping[str, Workflow]) -> Workflow | None:
    return next((w for w in workflows.values() if w.default), None)


def reminder_tags(flow: Workflow | None) -> tuple[str, ...]:
    """`moneybird-reminders` when the debtor's invoice workflow sends reminders by itself,
    `moneybird-reminders-unknown` when that cannot be told (no workflow known, or one
    without its steps), nothing when it is known not to."""
    if flow is None or flow.auto_reminders is None:
        return (REMINDERS_UNKNOWN_TAG,)
    return (REMINDERS_TAG,) if flow.auto_reminders else ()


def _iban(value: Any) -> str:
    return "".join(text(value).split()).upper()


def debtor(
    row: Mapping[str, Any],
    *,
    workflows: Mapping[str, Workflow],
    language: str,
) -> Debtor:
    """A contact as a debtor: its code is Moneybird's `customer_id`."""
    rid = record_id(row)
    company = text(row.get("company_name"))
    person = " ".join(p for p in (text(row.get("firstname")), text(row.get("lastname"))) if p)
    code = text(row.get("customer_id")) or rid
    flow_id = text(row.get("invoice_workflow_id"))
    flow = workflows.get(flow_id) if flow_id else default_workflow(workflows)
    street = ", ".join(p for p in (text(row.get("address1")), text(row.get("address2"))) if p)
    return Debtor(
        code=code,
        name=company or person or code,
        kind=DebtorKind.BUSINESS if company else DebtorKind.CONSUMER,
        email=text(row.get("send_invoices_to_email")) or text(row.get("email")),
        phone=text(row.get("phone")),
        address=Address(
            street=street,
            postal_code=text(row.get("zipcode")),
            city=text(row.get("city")),
            country=text(row.get("country")).upper(),
        ),
        iban=_iban(row.get("sepa_iban")) or _iban(row.get("bank_account")),
        vat_number=text(row.get("tax_number")),
        kvk_number=text(row.get("chamber_of_commerce")),
        language=language,
        payment_term_days=flow.payment_term_days if flow else None,
        tags=reminder_tags(flow),
    )


def debtor_code(invoice: Mapping[str, Any]) -> str:
    """The debtor code of an invoice: its contact's `customer_id`."""
    contact = invoice.get("contact")
    if isinstance(contact, Mapping):
        code = text(contact.get("customer_id")) or text(contact.get("id"))
        if code:
            return code
    return text(invoice.get("contact_id"))


# --- open items ----------------------------------------------------------------------------


def open_amount(kind: InvoiceKind, row: Mapping[str, Any]) -> Decimal | None:
    """`total_unpaid` when the invoice is open, None when it is not (paid, credited to zero,
    uncollectible, draft, scheduled, deleted)."""
    if text(row.get("state")) not in OPEN_STATES[kind]:
        return None
    where = f"invoice {row.get('id')}"
    amount = decimal(row.get("total_unpaid"), "total_unpaid", where)
    return amount if amount != 0 else None


def open_item(kind: InvoiceKind, row: Mapping[str, Any]) -> OpenItem | None:
    """The invoice as an open item, or None when it is not open.

    Raises:
        MappingError: the record lacks what an open item needs.
    """
    rid = record_id(row)
    amount = open_amount(kind, row)
    if amount is None:
        return None
    where = f"{'external ' if kind is InvoiceKind.EXTERNAL else ''}invoice {rid}"
    money = currency(row.get("currency"), where)
    if kind is InvoiceKind.SALES:
        number = text(row.get("invoice_id"))
        invoiced = optional_date(row.get("invoice_date"), "invoice_date", where)
    else:
        number = text(row.get("reference")) or text(row.get("entry_number"))
        invoiced = optional_date(row.get("date"), "date", where)
    due = optional_date(row.get("due_date"), "due_date", where) or invoiced
    if due is None:
        msg = f"{where}: neither a due date nor an invoice date"
        raise MappingError(msg)
    total = row.get("total_price_incl_tax")
    return OpenItem(
        external_id=external_id(kind, rid),
        invoice_number=number or rid,
        debtor_code=debtor_code(row),
        invoice_date=invoiced,
        due_date=due,
        open_amount=Money(amount, money),
        amount=None if total is None else Money(decimal(total, "total", where), money),
        description=text(row.get("reference")) if kind is InvoiceKind.SALES else "",
    )


# --- payments and notes --------------------------------------------------------------------


def payment_with(row: Mapping[str, Any], transaction_identifier: str) -> Mapping[str, Any] | None:
    """The invoice's payment that carries our idempotency key, if it was written already."""
    for payment in row.get("payments") or []:
        if isinstance(payment, Mapping) and payment.get("transaction_identifier") == (
            transaction_identifier
        ):
            return payment
    return None


def note_marker(idempotency_key: str) -> str:
    return f"{NOTE_MARKER}{idempotency_key}]"


def notes(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [n for n in row.get("notes") or [] if isinstance(n, Mapping)]


def has_note(row: Mapping[str, Any], idempotency_key: str) -> bool:
    marker = note_marker(idempotency_key)
    return any(marker in text(n.get("note")) for n in notes(row))


def our_pause(row: Mapping[str, Any]) -> bool:
    """Whether the newest dispute note of ours says that we paused the workflow (rather
    than finding it paused already)."""
    ours = [
        n
        for n in notes(row)
        if NOTE_MARKER in text(n.get("note")) and "pause=" in text(n.get("note"))
    ]
    if not ours:
        return False
    newest = max(ours, key=lambda n: (text(n.get("created_at")), text(n.get("id"))))
    return "pause=ours" in text(newest.get("note"))
