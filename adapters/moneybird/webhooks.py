"""Moneybird's webhooks: verify the signature on the raw body, then hint what to re-read.

`Moneybird-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` where each v1 is
HMAC-SHA256(signing secret, "{t}.{raw body}"), one per active secret during a rotation
(developer.moneybird.com/webhooks/verifying-signatures). A delivery is accepted when any v1
matches any of the tenant's secrets (compared in constant time) and `t` is within five
minutes of now; schemes other than v1 are ignored.

The payload (`administration_id`, `entity_type`, `entity_id`, `action`, `entity`) is never
trusted as data: it only says which invoice or contact to read again through the API. A
payload without an entity (the check Moneybird makes when a webhook is registered) hints at
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Final

from adapters.moneybird.mapping import InvoiceKind
from adapters.moneybird.mapping import external_id
from connector.errors import WebhookRejected
from connector.ports import LedgerHint

SIGNATURE_HEADER: Final = "Moneybird-Signature"
TOLERANCE_SECONDS: Final = 300

_INVOICE_TYPES: Final[Mapping[str, InvoiceKind]] = {
    "SalesInvoice": InvoiceKind.SALES,
    "ExternalSalesInvoice": InvoiceKind.EXTERNAL,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The v1 signature Moneybird puts on `body` at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        msg = f"{SIGNATURE_HEADER} has no timestamp or no v1 signature"
        raise WebhookRejected(msg, status=401)
    return timestamp, signatures


def _id(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text if text.isdigit() else None


class MoneybirdWebhooks:
    """The `connector.ports.LedgerWebhooks` of Moneybird."""

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: float
    ) -> Sequence[LedgerHint]:
        header = _header(headers, SIGNATURE_HEADER)
        if not header:
            msg = f"no {SIGNATURE_HEADER} header"
            raise WebhookRejected(msg, status=401)
        timestamp, signatures = _parse(header)
        if abs(now - timestamp) > TOLERANCE_SECONDS:
            msg = f"{SIGNATURE_HEADER} timestamp is more than 5 minutes from now (a replay?)"
            raise WebhookRejected(msg, status=401)
        expected = [sign(secret, timestamp, body) for secret in secrets if secret]
        if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
            msg = f"{SIGNATURE_HEADER} does not match any signing secret"
            raise WebhookRejected(msg, status=401)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            msg = "the Moneybird webhook body is not JSON"
            raise WebhookRejected(msg, status=400) from None
        if not isinstance(payload, Mapping):
            msg = "the Moneybird webhook body is not a JSON object"
            raise WebhookRejected(msg, status=400)
        return self._hints(payload)

    @staticmethod
    def _hints(payload: Mapping[str, Any]) -> list[LedgerHint]:
        administration = _id(payload.get("administration_id"))
        entity_type = str(payload.get("entity_type") or "")
        entity_id = _id(payload.get("entity_id"))
        if administration is None or entity_id is None:
            return []  # the registration check, or nothing we read
        kind = _INVOICE_TYPES.get(entity_type)
        if kind is not None:
            return [LedgerHint(administration, "item", external_id(kind, entity_id))]
        if entity_type == "Contact":
            return [LedgerHint(administration, "debtor", entity_id)]
        if entity_type == "Payment":
            entity = payload.get("entity")
            if isinstance(entity, Mapping):
                kind = _INVOICE_TYPES.get(str(entity.get("invoice_type") or ""))
                invoice = _id(entity.get("invoice_id"))
                if kind is not None and invoice is not None:
                    return [LedgerHint(administration, "item", external_id(kind, invoice))]
        return []


WEBHOOKS: Final = MoneybirdWebhooks()
