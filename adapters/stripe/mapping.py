"""Stripe events -> PaymentEvents: pure functions over the parsed JSON.

Which Stripe event means what (research law-and-psp.md §2.2 and §2.6):

| Stripe event                                   | PaymentEventKind    | event_id                  |
|------------------------------------------------|---------------------|---------------------------|
| payment_intent.succeeded                       | PAID                | `{pi}:paid`               |
| checkout.session.completed (payment_status paid)| PAID               | `{pi}:paid`               |
| checkout.session.async_payment_succeeded       | PAID                | `{pi}:paid`               |
| payment_intent.payment_failed / .canceled      | FAILED              | the event id `evt_...`    |
| checkout.session.expired / .async_payment_failed | FAILED            | the event id `evt_...`    |
| charge.refunded                                | REFUNDED            | `{charge}:refunded={n}`   |
| charge.dispute.created                         | DISPUTE_OPENED      | `{dispute}:opened`        |
| charge.dispute.funds_withdrawn                 | CHARGED_BACK        | `{dispute}:charged_back`  |
| charge.dispute.closed, status lost             | CHARGED_BACK        | `{dispute}:charged_back`  |
| charge.dispute.funds_reinstated                | CHARGEBACK_REVERSED | `{dispute}:reversed`      |
| charge.dispute.closed, status won              | CHARGEBACK_REVERSED | `{dispute}:reversed`      |

(`{n}`: the charge's total refunded so far, in minor units; the event's amount is the part
refunded since `data.previous_attributes.amount_refunded`.)

Money events are keyed by the state they describe, not by the Stripe event id: a Checkout
payment raises both `checkout.session.completed` and `payment_intent.succeeded`, and a won
dispute both `funds_reinstated` and `closed`; each pair must be one event in the store, or the
payment would be applied twice. `payment_id` is the PaymentIntent id wherever Stripe gives one,
so a refund or dispute finds the payment it undoes. Any other event type gives no events.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.provider_amounts import usable_money
from connector.domain import Money
from connector.domain import currency_exponent
from connector.domain import is_currency_code
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

PROVIDER = "stripe"


class MappingError(ValueError):
    """The event does not have the shape Stripe documents."""


def minor_to_money(value: object, currency: object) -> Money:
    """Stripe's integer minor units as exact Money (12100 EUR -> 121.00; 500 JPY -> 500)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"amount is not an integer number of minor units: {value!r}"
        raise MappingError(msg)
    if not isinstance(currency, str) or not is_currency_code(currency.upper()):
        msg = f"not a currency code: {currency!r}"
        raise MappingError(msg)
    code = currency.upper()
    # an exact shift of the exponent (scaleb would round a huge value to 28 digits first)
    sign, digits, exponent = Decimal(value).as_tuple()
    assert isinstance(exponent, int)
    major = Decimal((sign, digits, exponent - currency_exponent(code)))
    return usable_money(major, code, "the amount")


def _object(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        msg = "the event has no data.object"
        raise MappingError(msg)
    return obj


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])  # an expanded object
    return ""


def _required_id(obj: Mapping[str, Any], key: str = "id") -> str:
    value = _str(obj, key)
    if not value:
        msg = f"the object has no {key}"
        raise MappingError(msg)
    return value


def _created(event: Mapping[str, Any]) -> datetime:
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        msg = "the event has no valid created timestamp"
        raise MappingError(msg)
    try:
        return datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        msg = "the event's created timestamp is out of range"
        raise MappingError(msg) from exc


def references(obj: Mapping[str, Any]) -> dict[str, str]:
    """The object's metadata (our links put our item references there) as strings."""
    metadata = obj.get("metadata")
    found: dict[str, str] = {}
    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                continue
            found[str(key)] = str(value)
    link = _str(obj, "payment_link")
    if link:
        found["payment_link_id"] = link
    return found


def _event(
    kind: PaymentEventKind,
    event_id: str,
    payment_id: str,
    amount: Money,
    occurred_at: datetime,
    obj: Mapping[str, Any],
    *,
    payer_name: str = "",
    extra_references: Mapping[str, str] | None = None,
) -> PaymentEvent:
    refs = references(obj)
    if extra_references:
        refs = {**extra_references, **refs}
    description = obj.get("description")
    return PaymentEvent(
        provider=PROVIDER,
        event_id=event_id,
        kind=kind,
        payment_id=payment_id,
        amount=amount,
        occurred_at=occurred_at,
        description=description if isinstance(description, str) else "",
        references=refs,
        payer_name=payer_name,
    )


def _payment_intent(event: Mapping[str, Any], kind_name: str) -> list[PaymentEvent]:
    obj = _object(event)
    pi = _required_id(obj)
    when = _created(event)
    if kind_name == "payment_intent.succeeded":
        received = obj.get("amount_received")
        value = received if isinstance(received, int) and received > 0 else obj.get("amount")
        amount = minor_to_money(value, obj.get("currency"))
        return [_event(PaymentEventKind.PAID, f"{pi}:paid", pi, amount, when, obj)]
    amount = minor_to_money(obj.get("amount"), obj.get("currency"))
    return [_event(PaymentEventKind.FAILED, _required_id(event), pi, amount, when, obj)]


def _session_payer(obj: Mapping[str, Any]) -> str:
    details = obj.get("customer_details")
    if isinstance(details, Mapping) and isinstance(details.get("name"), str):
        return str(details["name"])
    return ""


def _checkout_session(event: Mapping[str, Any], kind_name: str) -> list[PaymentEvent]:
    obj = _object(event)
    session = _required_id(obj)
    pi = _str(obj, "payment_intent") or session
    when = _created(event)
    amount = minor_to_money(obj.get("amount_total"), obj.get("currency"))
    extra = {"checkout_session_id": session}
    if kind_name in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("payment_status") != "paid":
            return []  # delayed methods (SEPA): async_payment_succeeded follows
        return [
            _event(
                PaymentEventKind.PAID,
                f"{pi}:paid",
                pi,
                amount,
                when,
                obj,
                payer_name=_session_payer(obj),
                extra_references=extra,
            )
        ]
    return [
        _event(
            PaymentEventKind.FAILED,
            _required_id(event),
            pi,
            amount,
            when,
            obj,
            extra_references=extra,
        )
    ]


def _charge_refunded(event: Mapping[str, Any]) -> list[PaymentEvent]:
    obj = _object(event)
    charge = _required_id(obj)
    pi = _str(obj, "payment_intent") or charge
    total = obj.get("amount_refunded")
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        # charge.refunded always carries the refunded total: without it nothing is booked,
        # and that must be seen, not acknowledged and dropped
        msg = f"charge.refunded has no positive amount_refunded: {total!r}"
        raise MappingError(msg)
    before = 0
    data = event.get("data")
    previous = data.get("previous_attributes") if isinstance(data, Mapping) else None
    if isinstance(previous, Mapping):
        earlier = previous.get("amount_refunded")
        if isinstance(earlier, int) and not isinstance(earlier, bool) and 0 <= earlier < total:
            before = earlier
    amount = minor_to_money(total - before, obj.get("currency"))
    billing = obj.get("billing_details")
    payer = billing.get("name") if isinstance(billing, Mapping) else None
    return [
        _event(
            PaymentEventKind.REFUNDED,
            f"{charge}:refunded={total}",
            pi,
            amount,
            _created(event),
            obj,
            payer_name=payer if isinstance(payer, str) else "",
            extra_references={"charge_id": charge},
        )
    ]


_DISPUTE_KINDS: dict[str, tuple[PaymentEventKind, str]] = {
    "charge.dispute.created": (PaymentEventKind.DISPUTE_OPENED, "opened"),
    "charge.dispute.funds_withdrawn": (PaymentEventKind.CHARGED_BACK, "charged_back"),
    "charge.dispute.funds_reinstated": (PaymentEventKind.CHARGEBACK_REVERSED, "reversed"),
}


def _dispute(event: Mapping[str, Any], kind_name: str) -> list[PaymentEvent]:
    obj = _object(event)
    dispute = _required_id(obj)
    if kind_name == "charge.dispute.closed":
        status = obj.get("status")
        if status == "won":
            kind, suffix = PaymentEventKind.CHARGEBACK_REVERSED, "reversed"
        elif status == "lost":
            kind, suffix = PaymentEventKind.CHARGED_BACK, "charged_back"
        elif status == "warning_closed":  # an inquiry that never became a chargeback
            return []
        else:
            msg = f"charge.dispute.closed with status {status!r} (won, lost or warning_closed)"
            raise MappingError(msg)
    else:
        kind, suffix = _DISPUTE_KINDS[kind_name]
    charge = _str(obj, "charge")
    pi = _str(obj, "payment_intent") or charge or dispute
    amount = minor_to_money(obj.get("amount"), obj.get("currency"))
    extra = {"dispute_id": dispute}
    if charge:
        extra["charge_id"] = charge
    return [
        _event(
            kind, f"{dispute}:{suffix}", pi, amount, _created(event), obj, extra_references=extra
        )
    ]


HANDLED = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)


def events_from_stripe(event: Mapping[str, Any]) -> Sequence[PaymentEvent]:
    """The PaymentEvents one Stripe event stands for (none for types we do not use).

    Raises:
        MappingError: the event lacks what Stripe documents for its type.
    """
    kind_name = event.get("type")
    if not isinstance(kind_name, str) or not isinstance(event.get("id"), str):
        msg = "the event has no id or type"
        raise MappingError(msg)
    if kind_name not in HANDLED:
        return []
    if kind_name.startswith("payment_intent."):
        return _payment_intent(event, kind_name)
    if kind_name.startswith("checkout.session."):
        return _checkout_session(event, kind_name)
    if kind_name == "charge.refunded":
        return _charge_refunded(event)
    return _dispute(event, kind_name)
