"""Adyen notification items: the HMAC signing string, and items -> PaymentEvents (pure).

Signing string (research §2.3; Adyen's own libraries, `HMACValidator.getDataToSign` in
adyen-java-api-library, `hmacValidator.ts` in adyen-node-api-library, `util.py` in
adyen-python-api-library): the eight fields

    pspReference:originalReference:merchantAccountCode:merchantReference:
    amount.value:amount.currency:eventCode:success

joined by ":", a missing field as the empty string, the values as they are. Only that string
is accepted (issue 15.4). The research (after hookdeck) escaped `\\` and `:` inside values
first, which Adyen's libraries do only for key-value (HPP) signing; accepting that form too
let a genuine signature over merchantReference `INV-1\\:INV-2` also validate `INV-1:INV-2`,
and merchantReference is what matching uses.

Signed fields win (issue 16.8). Only the eight fields above are signed; everything else in
the item (`additionalData`, `eventDate`, ...) can be changed by whoever relays it, so it is a
hint a person may read and never drives matching or booking:

- the references hold the signed `psp_reference` and `invoice_number` (merchantReference);
  `additionalData.metadata.*`, the card holder or shopper name and `eventDate` are kept under
  `unsigned.<name>` (`unsigned.invoice_number`, `unsigned.payer_name`, `unsigned.event_date`),
  which no matching rule reads, so they can never replace the signed reference;
- `occurred_at` is the moment we received the item, not the unsigned `eventDate`;
- `payer_name` stays empty (it would feed the debtor-and-amount match).

Mapping (research §2.3 and §2.6):

| eventCode (success)                                       | PaymentEventKind    |
|-----------------------------------------------------------|---------------------|
| AUTHORISATION (true); with manual capture CAPTURE (true)  | PAID                |
| AUTHORISATION (false); with manual capture CAPTURE_FAILED | FAILED              |
| CANCELLATION, TECHNICAL_CANCEL, OFFER_CLOSED (true)       | FAILED              |
| CANCEL_OR_REFUND (true), modification.action = cancel     | FAILED              |
| CANCEL_OR_REFUND (true), otherwise; REFUND (true)         | REFUNDED            |
| NOTIFICATION_OF_CHARGEBACK, REQUEST_FOR_INFORMATION       | DISPUTE_OPENED      |
| CHARGEBACK, SECOND_CHARGEBACK                             | CHARGED_BACK        |
| CHARGEBACK_REVERSED, PREARBITRATION_WON                   | CHARGEBACK_REVERSED |

Anything else (REFUND_FAILED, REFUNDED_REVERSED, PREARBITRATION_LOST, NOTIFICATION_OF_FRAUD,
...) gives no event. `event_id` is `pspReference:eventCode:success` (the usual convention;
Adyen documents no id of its own). `payment_id` is `originalReference` when present (a
modification or dispute names the payment there), else `pspReference`, so a refund or a
chargeback finds the payment it undoes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.provider_amounts import usable_money
from connector.domain import Money
from connector.domain import currency_exponent
from connector.domain import is_currency_code
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

PROVIDER = "adyen"
SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "amount.value",
    "amount.currency",
    "eventCode",
    "success",
)


class MappingError(ValueError):
    """The item does not have the shape Adyen documents."""


def _field(item: Mapping[str, Any], name: str) -> str:
    if name.startswith("amount."):
        amount = item.get("amount")
        value = amount.get(name[len("amount.") :]) if isinstance(amount, Mapping) else None
    else:
        value = item.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    msg = f"{name} is not a plain value"
    raise MappingError(msg)


def signing_string(item: Mapping[str, Any]) -> str:
    """The signing string exactly as Adyen's libraries build it (no escaping)."""
    return ":".join(_field(item, name) for name in SIGNED_FIELDS)


def hmac_signature(item: Mapping[str, Any]) -> str | None:
    additional = item.get("additionalData")
    value = additional.get("hmacSignature") if isinstance(additional, Mapping) else None
    return value if isinstance(value, str) and value else None


def minor_to_money(amount: object) -> Money:
    if not isinstance(amount, Mapping):
        msg = "the item has no amount"
        raise MappingError(msg)
    value, currency = amount.get("value"), amount.get("currency")
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"amount.value is not a whole number of minor units: {value!r}"
        raise MappingError(msg)
    if not isinstance(currency, str) or not is_currency_code(currency):
        msg = f"amount.currency is not a currency code: {currency!r}"
        raise MappingError(msg)
    # an exact shift of the exponent (scaleb would round 10^40 to the context's precision)
    sign, digits, exponent = Decimal(value).as_tuple()
    assert isinstance(exponent, int)
    major = Decimal((sign, digits, exponent - currency_exponent(currency)))
    return usable_money(major, currency, "amount.value")


_ALWAYS: dict[str, PaymentEventKind] = {
    "NOTIFICATION_OF_CHARGEBACK": PaymentEventKind.DISPUTE_OPENED,
    "REQUEST_FOR_INFORMATION": PaymentEventKind.DISPUTE_OPENED,
    "CHARGEBACK": PaymentEventKind.CHARGED_BACK,
    "SECOND_CHARGEBACK": PaymentEventKind.CHARGED_BACK,
    "CHARGEBACK_REVERSED": PaymentEventKind.CHARGEBACK_REVERSED,
    "PREARBITRATION_WON": PaymentEventKind.CHARGEBACK_REVERSED,
}
_ON_SUCCESS: dict[str, PaymentEventKind] = {
    "CANCELLATION": PaymentEventKind.FAILED,
    "TECHNICAL_CANCEL": PaymentEventKind.FAILED,
    "OFFER_CLOSED": PaymentEventKind.FAILED,
    "REFUND": PaymentEventKind.REFUNDED,
}


def kind_of(item: Mapping[str, Any], *, manual_capture: bool) -> PaymentEventKind | None:
    code = item.get("eventCode")
    success = _field(item, "success") == "true"
    additional = item.get("additionalData")
    additional = additional if isinstance(additional, Mapping) else {}
    if code in _ALWAYS:
        return _ALWAYS[code]
    if code == "AUTHORISATION":
        if not success:
            return PaymentEventKind.FAILED
        return None if manual_capture else PaymentEventKind.PAID
    if manual_capture and code == "CAPTURE":
        return PaymentEventKind.PAID if success else PaymentEventKind.FAILED
    if manual_capture and code == "CAPTURE_FAILED":
        return PaymentEventKind.FAILED
    if not success:
        return None
    if code == "CANCEL_OR_REFUND":
        action = additional.get("modification.action")
        return PaymentEventKind.FAILED if action == "cancel" else PaymentEventKind.REFUNDED
    if isinstance(code, str):
        return _ON_SUCCESS.get(code)
    return None


def item_event(
    item: Mapping[str, Any], fallback: datetime, *, manual_capture: bool = False
) -> PaymentEvent | None:
    """The PaymentEvent a verified item stands for, or None.

    Raises:
        MappingError: the item lacks what Adyen documents.
    """
    psp = _field(item, "pspReference")
    code = _field(item, "eventCode")
    if not psp or not code:
        msg = "the item has no pspReference or eventCode"
        raise MappingError(msg)
    kind = kind_of(item, manual_capture=manual_capture)
    if kind is None:
        return None
    original = _field(item, "originalReference")
    merchant_reference = _field(item, "merchantReference")
    amount = minor_to_money(item.get("amount"))
    references = {**unsigned_hints(item), "psp_reference": psp}  # signed keys last: they win
    if merchant_reference:
        references["invoice_number"] = merchant_reference
    return PaymentEvent(
        provider=PROVIDER,
        event_id=f"{psp}:{code}:{_field(item, 'success')}",
        kind=kind,
        payment_id=original or psp,
        amount=amount,
        occurred_at=fallback,  # when we received it; eventDate is not signed
        description=merchant_reference,
        references=references,
    )


UNSIGNED = "unsigned."


def unsigned_hints(item: Mapping[str, Any]) -> dict[str, str]:
    """What the item says outside its signature, each under `unsigned.<name>` (never matched)."""
    hints: dict[str, str] = {}
    additional = item.get("additionalData")
    if isinstance(additional, Mapping):
        for key, value in additional.items():
            if isinstance(key, str) and key.startswith("metadata.") and isinstance(value, str):
                hints[UNSIGNED + key[len("metadata.") :]] = value
        holder = additional.get("cardHolderName") or additional.get("shopperName")
        if isinstance(holder, str) and holder:
            hints[UNSIGNED + "payer_name"] = holder
    event_date = item.get("eventDate")
    if isinstance(event_date, str) and event_date:
        hints[UNSIGNED + "event_date"] = event_date
    return hints
