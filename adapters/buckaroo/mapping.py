"""Buckaroo push messages (JSON and form) -> PaymentEvents: pure functions.

Status codes (Buckaroo `ResponseStatus`, research §2.4): 190 success; 490/491/492 failed,
validation failure, technical error; 690 rejected; 790-793 pending; 890/891 cancelled by the
consumer or the merchant.

| Push                                                     | PaymentEventKind |
|----------------------------------------------------------|------------------|
| 190 with AmountDebit (a payment)                         | PAID             |
| 490, 491, 492, 690, 890, 891 on a payment                | FAILED           |
| 190 with AmountCredit, a reversal (see below)            | CHARGED_BACK     |
| 190 with AmountCredit, otherwise (a refund)              | REFUNDED         |
| 790-793, failed credits, anything else                   | no event         |

Refund pushes carry `AmountCredit` / `brq_amount_credit` (research, after the Buckaroo
Shopware plugin). Telling a chargeback or SEPA reversal (storno) from a refund is not in
Buckaroo's public docs (research open point 7); we follow the Buckaruby gem: a credit whose
related transaction is a `reversal` (`brq_relatedtransaction_reversal`, or `RelationType`
"reversal" in the JSON push), or whose transaction type is one of C501, C502, C562, V111,
V131, V132, V134, V143, V144, V146, is a chargeback. Buckaroo sends no "dispute opened" or
"chargeback reversed" push that we know of.

`event_id` is `{transaction key}:{status code}`: a credit is a transaction of its own with its
own key, and the same transaction pushed twice (Buckaroo does that) gives the same id.
`payment_id` is the original payment's key for a credit (its related transaction), else the
transaction's own key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from adapters.provider_amounts import usable_money
from connector.domain import is_currency_code
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

PROVIDER = "buckaroo"
SUCCESS = 190
FAILED_CODES = frozenset({490, 491, 492, 690, 890, 891})
REVERSAL_TYPES = frozenset(
    {"C501", "C502", "C562", "V111", "V131", "V132", "V134", "V143", "V144", "V146"}
)
_BUCKAROO_TIME = ZoneInfo("Europe/Amsterdam")
_DECIMAL = re.compile(r"-?\d{1,15}(\.\d{1,6})?")


class MappingError(ValueError):
    """The push does not have the shape Buckaroo documents."""


@dataclass(frozen=True, slots=True)
class Push:
    """One push, JSON or form, in one shape."""

    key: str
    status: int
    currency: str
    debit: Decimal | None
    credit: Decimal | None
    invoice: str = ""
    description: str = ""
    transaction_type: str = ""
    related: Mapping[str, str] = field(default_factory=dict)  # relation type -> key
    references: Mapping[str, str] = field(default_factory=dict)
    payer_name: str = ""
    occurred_at: datetime | None = None


def _decimal(value: object, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        msg = f"{name} is not an amount"
        raise MappingError(msg)
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        amount = Decimal(value.strip())
    else:
        msg = f"{name} is not an amount: {value!r}"
        raise MappingError(msg)
    if not amount.is_finite():
        msg = f"{name} is not a finite amount"
        raise MappingError(msg)
    return amount


def _status(value: object) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value < 10_000:
        msg = f"the push has no status code: {value!r}"
        raise MappingError(msg)
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def local_time(value: object) -> datetime | None:
    """Buckaroo's timestamps are Dutch local time ("2024-03-01 10:05:00")."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_BUCKAROO_TIME)


def _currency(value: object) -> str:
    if not isinstance(value, str) or not is_currency_code(value.strip().upper()):
        msg = f"the push has no currency code: {value!r}"
        raise MappingError(msg)
    return value.strip().upper()


def _key(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        msg = "the push has no transaction key"
        raise MappingError(msg)
    return value.strip()


def json_push(data: Mapping[str, Any]) -> Push:
    """The `Transaction` of a JSON push.

    Raises:
        MappingError: it lacks what Buckaroo documents.
    """
    tx = data.get("Transaction")
    if not isinstance(tx, Mapping):
        msg = "the push has no Transaction"
        raise MappingError(msg)
    status = tx.get("Status")
    code = status.get("Code") if isinstance(status, Mapping) else None
    related: dict[str, str] = {}
    relations = tx.get("RelatedTransactions")
    if isinstance(relations, list):
        for relation in relations:
            if isinstance(relation, Mapping):
                kind = _text(relation.get("RelationType")).lower()
                other = _text(relation.get("RelatedTransactionKey"))
                if kind and other:
                    related[kind] = other
    references: dict[str, str] = {}
    parameters = tx.get("AdditionalParameters")
    listed = parameters.get("List") if isinstance(parameters, Mapping) else None
    if isinstance(listed, list):
        for parameter in listed:
            if isinstance(parameter, Mapping):
                name, value = _text(parameter.get("Name")), parameter.get("Value")
                if name and isinstance(value, str | int) and not isinstance(value, bool):
                    references[name] = str(value)
    order = _text(tx.get("Order"))
    if order:
        references["order"] = order
    return Push(
        key=_key(tx.get("Key")),
        status=_status(code.get("Code") if isinstance(code, Mapping) else code),
        currency=_currency(tx.get("Currency")),
        debit=_decimal(tx.get("AmountDebit"), "AmountDebit"),
        credit=_decimal(tx.get("AmountCredit"), "AmountCredit"),
        invoice=_text(tx.get("Invoice")),
        description=_text(tx.get("Description")),
        transaction_type=_text(tx.get("TransactionType")).upper(),
        related=related,
        references=references,
        payer_name=_text(tx.get("CustomerName")),
        occurred_at=local_time(status.get("DateTime") if isinstance(status, Mapping) else None),
    )


def form_push(fields: Mapping[str, str]) -> Push:
    """An HTTP-POST push (`brq_*` fields; keys compared case-insensitively).

    Raises:
        MappingError: it lacks what Buckaroo documents.
    """
    lower = {k.lower(): v for k, v in fields.items()}
    related = {
        name[len("brq_relatedtransaction_") :]: value
        for name, value in lower.items()
        if name.startswith("brq_relatedtransaction_") and value
    }
    references = {
        name[len("add_") :]: value for name, value in lower.items() if name.startswith("add_")
    }
    return Push(
        key=_key(lower.get("brq_transactions")),
        status=_status(lower.get("brq_statuscode")),
        currency=_currency(lower.get("brq_currency")),
        debit=_decimal(lower.get("brq_amount"), "brq_amount"),
        credit=_decimal(lower.get("brq_amount_credit"), "brq_amount_credit"),
        invoice=lower.get("brq_invoicenumber", ""),
        description=lower.get("brq_description", ""),
        transaction_type=lower.get("brq_transaction_type", "").upper(),
        related=related,
        references=references,
        payer_name=lower.get("brq_customer_name", ""),
        occurred_at=local_time(lower.get("brq_timestamp")),
    )


def push_events(push: Push, fallback: datetime) -> Sequence[PaymentEvent]:
    """The PaymentEvents a push stands for (see the module docstring).

    Raises:
        MappingError: a successful payment push without AmountDebit.
        EventUnusable: the amount is out of range or has more decimals than the currency.
    """
    is_credit = push.credit is not None and push.credit > 0
    if is_credit:
        if push.status != SUCCESS or push.credit is None:
            return []
        reversal = "reversal" in push.related or push.transaction_type in REVERSAL_TYPES
        kind = PaymentEventKind.CHARGED_BACK if reversal else PaymentEventKind.REFUNDED
        amount = push.credit
        payment_id = push.related.get("reversal") or push.related.get("refund") or push.key
    elif push.status == SUCCESS:
        if push.debit is None or push.debit <= 0:
            msg = "a successful payment push has no AmountDebit"
            raise MappingError(msg)
        kind, amount, payment_id = PaymentEventKind.PAID, push.debit, push.key
    elif push.status in FAILED_CODES:
        kind, amount, payment_id = PaymentEventKind.FAILED, push.debit or Decimal(0), push.key
    else:
        return []
    references = dict(push.references)
    if push.invoice:
        references["invoice_number"] = push.invoice
    references["transaction_key"] = push.key
    # signed by Buckaroo: an amount that can never be booked is unusable, not retried
    money = usable_money(amount, push.currency, f"the amount of transaction {push.key}")
    return [
        PaymentEvent(
            provider=PROVIDER,
            event_id=f"{push.key}:{push.status}",
            kind=kind,
            payment_id=payment_id,
            amount=money,
            occurred_at=push.occurred_at or fallback,
            description=" ".join(p for p in (push.invoice, push.description) if p),
            references=references,
            payer_name=push.payer_name,
        )
    ]
