"""Mollie payments, refunds and chargebacks -> PaymentEvents: pure functions.

Mollie's classic webhook says only "payment tr_x changed"; the events are derived from the
payment's state as the API reports it, so each event id names a state, and a redelivery of the
same state gives the same ids while a new state (a refund, a chargeback) gives a new one:

| Payment state (GET /v2/payments/{id}) | Kind                | event_id                         |
|---------------------------------------|---------------------|----------------------------------|
| status `paid` (or `paidAt` set)       | PAID                | `{tr}:paid`                      |
| status `failed`/`canceled`/`expired`  | FAILED              | `{tr}:{status}`                  |
| each refund with status `refunded`    | REFUNDED            | `{tr}:refund:{re}`               |
| each chargeback                       | CHARGED_BACK        | `{tr}:chargeback:{chb}`          |
| each chargeback with `reversedAt`     | CHARGEBACK_REVERSED | `{tr}:chargeback:{chb}:reversed` |

`amountRefunded` and `amountChargedBack` tell whether there is anything to list; the refund
and chargeback objects give the exact amount of each step, so two partial refunds are two
events of their own amounts (not one cumulative figure). Next-gen events (`payment.paid`,
`refund.refunded`, `chargeback.received`, `chargeback.reversed`...) are mapped onto the same
ids, so a tenant with both kinds of webhook still stores each fact once. Mollie books a
chargeback at once: there is no separate "dispute opened" step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from adapters.provider_amounts import usable_money
from connector.domain import Money
from connector.domain import is_currency_code
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

PROVIDER = "mollie"
_AMOUNT = re.compile(r"-?\d{1,15}(\.\d{1,6})?")
FAILED_STATUSES = ("failed", "canceled", "expired")


class MappingError(ValueError):
    """The object does not have the shape Mollie documents."""


def parse_money(value: object) -> Money:
    """Mollie's `{"currency": "EUR", "value": "10.00"}` as exact Money (never via float)."""
    if not isinstance(value, Mapping):
        msg = "an amount is not an object"
        raise MappingError(msg)
    currency, text = value.get("currency"), value.get("value")
    if not isinstance(currency, str) or not is_currency_code(currency):
        msg = f"not a currency code: {currency!r}"
        raise MappingError(msg)
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        msg = f"an amount value is not a decimal string: {text!r}"
        raise MappingError(msg)
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise MappingError(str(exc)) from exc
    # Mollie's own figure: one that can never be booked is unusable (EventUnusable), not retried
    return usable_money(amount, currency, "the amount")


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive ones are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _id(obj: Mapping[str, Any], prefix: str, key: str = "id") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.startswith(prefix):
        msg = f"the object has no {prefix} {key}"
        raise MappingError(msg)
    return value


def _references(payment: Mapping[str, Any]) -> dict[str, str]:
    """The payment's metadata as strings (a JSON object's scalar values, or the whole string)."""
    found: dict[str, str] = {}
    metadata = payment.get("metadata")
    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                continue
            found[str(key)] = str(value)
    elif isinstance(metadata, str) and metadata:
        found["metadata"] = metadata
    link = payment.get("paymentLinkId")
    links = payment.get("_links")
    if not isinstance(link, str) and isinstance(links, Mapping):
        href = links.get("paymentLink")
        href = href.get("href") if isinstance(href, Mapping) else None
        if isinstance(href, str) and "/payment-links/" in href:
            link = href.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(link, str) and link.startswith("pl_"):
        found["payment_link_id"] = link
    return found


def _payer(payment: Mapping[str, Any]) -> tuple[str, str]:
    details = payment.get("details")
    if not isinstance(details, Mapping):
        return "", ""
    name = details.get("consumerName") or details.get("cardHolder") or ""
    account = details.get("consumerAccount") or ""
    return (name if isinstance(name, str) else "", account if isinstance(account, str) else "")


@dataclass(frozen=True, slots=True)
class _Base:
    payment_id: str
    description: str
    references: Mapping[str, str]
    payer_name: str
    payer_iban: str

    def event(
        self, kind: PaymentEventKind, event_id: str, amount: Money, when: datetime
    ) -> PaymentEvent:
        return PaymentEvent(
            provider=PROVIDER,
            event_id=event_id,
            kind=kind,
            payment_id=self.payment_id,
            amount=amount,
            occurred_at=when,
            description=self.description,
            references=dict(self.references),
            payer_name=self.payer_name,
            payer_iban=self.payer_iban,
        )


def _base(payment: Mapping[str, Any]) -> _Base:
    description = payment.get("description")
    name, iban = _payer(payment)
    return _Base(
        payment_id=_id(payment, "tr_"),
        description=description if isinstance(description, str) else "",
        references=_references(payment),
        payer_name=name,
        payer_iban=iban,
    )


def _embedded(payment: Mapping[str, Any], name: str) -> Sequence[Mapping[str, Any]] | None:
    embedded = payment.get("_embedded")
    items = embedded.get(name) if isinstance(embedded, Mapping) else None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, Mapping)]


def _positive(payment: Mapping[str, Any], key: str) -> bool:
    value = payment.get(key)
    return value is not None and parse_money(value).amount > 0


def needs_refunds(payment: Mapping[str, Any]) -> bool:
    """Mollie reports refunded money but the refunds were not embedded."""
    return _positive(payment, "amountRefunded") and _embedded(payment, "refunds") is None


def needs_chargebacks(payment: Mapping[str, Any]) -> bool:
    return _positive(payment, "amountChargedBack") and _embedded(payment, "chargebacks") is None


def refund_events(
    base: _Base, refunds: Sequence[Mapping[str, Any]], fallback: datetime
) -> list[PaymentEvent]:
    events = []
    for refund in refunds:
        if refund.get("status") != "refunded":
            continue  # queued/pending/processing may still fail; Mollie calls again when done
        refund_id = _id(refund, "re_")
        when = parse_time(refund.get("createdAt")) or fallback
        events.append(
            base.event(
                PaymentEventKind.REFUNDED,
                f"{base.payment_id}:refund:{refund_id}",
                parse_money(refund.get("amount")),
                when,
            )
        )
    return events


def chargeback_events(
    base: _Base, chargebacks: Sequence[Mapping[str, Any]], fallback: datetime
) -> list[PaymentEvent]:
    events = []
    for chargeback in chargebacks:
        chargeback_id = _id(chargeback, "chb_")
        amount = parse_money(chargeback.get("amount"))
        key = f"{base.payment_id}:chargeback:{chargeback_id}"
        when = parse_time(chargeback.get("createdAt")) or fallback
        events.append(base.event(PaymentEventKind.CHARGED_BACK, key, amount, when))
        reversed_at = parse_time(chargeback.get("reversedAt"))
        if reversed_at is not None:
            events.append(
                base.event(
                    PaymentEventKind.CHARGEBACK_REVERSED, f"{key}:reversed", amount, reversed_at
                )
            )
    return events


def payment_events(
    payment: Mapping[str, Any],
    fallback: datetime,
    *,
    refunds: Sequence[Mapping[str, Any]] | None = None,
    chargebacks: Sequence[Mapping[str, Any]] | None = None,
) -> list[PaymentEvent]:
    """Every event the payment's current state stands for (see the module docstring).

    `refunds` and `chargebacks` default to the ones embedded in the payment.

    Raises:
        MappingError: the payment lacks what Mollie documents.
    """
    base = _base(payment)
    amount = parse_money(payment.get("amount"))
    status = payment.get("status")
    events: list[PaymentEvent] = []
    paid_at = parse_time(payment.get("paidAt"))
    if status == "paid" or paid_at is not None:
        events.append(
            base.event(
                PaymentEventKind.PAID, f"{base.payment_id}:paid", amount, paid_at or fallback
            )
        )
    elif status in FAILED_STATUSES:
        when = parse_time(payment.get(f"{status}At")) or fallback
        events.append(
            base.event(PaymentEventKind.FAILED, f"{base.payment_id}:{status}", amount, when)
        )
    if refunds is None:
        refunds = _embedded(payment, "refunds") or ()
    if chargebacks is None:
        chargebacks = _embedded(payment, "chargebacks") or ()
    events.extend(refund_events(base, refunds, fallback))
    events.extend(chargeback_events(base, chargebacks, fallback))
    return events


def _bare_base(payment_id: str) -> _Base:
    return _Base(payment_id, "", {}, "", "")


def polled_chargeback_events(
    chargebacks: Sequence[Mapping[str, Any]], fallback: datetime
) -> list[PaymentEvent]:
    """Events for chargebacks from `GET /v2/chargebacks?embed=payment`, on the classic ids.

    Raises:
        MappingError: a chargeback lacks what Mollie documents.
    """
    events: list[PaymentEvent] = []
    for chargeback in chargebacks:
        embedded = chargeback.get("_embedded")
        payment = embedded.get("payment") if isinstance(embedded, Mapping) else None
        if isinstance(payment, Mapping):
            base = _base(payment)  # its metadata and description are what matching uses
        else:
            base = _bare_base(_id(chargeback, "tr_", "paymentId"))
        events.extend(chargeback_events(base, [chargeback], fallback))
    return events


def snapshot_events(
    event_type: str, entity: Mapping[str, Any], fallback: datetime
) -> list[PaymentEvent]:
    """Events from a next-gen event's `_embedded.entity` snapshot, on the classic ids.

    Raises:
        MappingError: the snapshot lacks what Mollie documents for it.
    """
    family = event_type.split(".", 1)[0]
    if family == "payment":
        return payment_events(entity, fallback)
    if family == "refund":
        base = _bare_base(_id(entity, "tr_", "paymentId"))
        return refund_events(base, [entity], fallback)
    if family == "chargeback":
        base = _bare_base(_id(entity, "tr_", "paymentId"))
        events = chargeback_events(base, [entity], fallback)
        if event_type == "chargeback.reversed":
            return [e for e in events if e.kind is PaymentEventKind.CHARGEBACK_REVERSED]
        return [e for e in events if e.kind is PaymentEventKind.CHARGED_BACK]
    return []


@dataclass(frozen=True, slots=True)
class NextGenEvent:
    id: str
    type: str
    entity_id: str
    created_at: datetime | None
    entity: Mapping[str, Any] | None

    @property
    def payment_id(self) -> str | None:
        """The payment this event is about, when the event or its snapshot names it."""
        if self.entity_id.startswith("tr_"):
            return self.entity_id
        if self.entity is not None:
            found = self.entity.get("paymentId")
            if isinstance(found, str) and found.startswith("tr_"):
                return found
        return None


def next_gen_event(data: Mapping[str, Any]) -> NextGenEvent:
    """A next-gen webhook body (`{"resource": "event", "id": "event_...", ...}`).

    Raises:
        MappingError: it is not a Mollie event.
    """
    event_id, event_type, entity_id = data.get("id"), data.get("type"), data.get("entityId")
    if not isinstance(event_id, str) or not event_id:
        msg = "the event has no id"
        raise MappingError(msg)
    if not isinstance(event_type, str) or not event_type:
        msg = "the event has no type"
        raise MappingError(msg)
    if not isinstance(entity_id, str):
        msg = "the event has no entityId"
        raise MappingError(msg)
    embedded = data.get("_embedded")
    entity = embedded.get("entity") if isinstance(embedded, Mapping) else None
    return NextGenEvent(
        id=event_id,
        type=event_type,
        entity_id=entity_id,
        created_at=parse_time(data.get("createdAt")),
        entity=entity if isinstance(entity, Mapping) else None,
    )
