"""Stripe's webhook side: verify `Stripe-Signature` on the raw body, then map the event.

The scheme (stripe-python `WebhookSignature`, research §2.2 and vector STRIPE-01..04):
`Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, where each v1 is
hex(HMAC-SHA256(endpoint secret, f"{t}." + raw body)). Any v1 matching any configured secret
is accepted (Stripe sends one v1 per active secret while a secret is being rolled, and the
tenant may list the old and the new secret); v0 and unknown schemes are ignored. A `t` more
than `tolerance` seconds (300, as Stripe's libraries) away from `now`, in either direction,
is a replay and refused: Stripe's own library only refuses old timestamps, but a timestamp
from the future cannot come from Stripe either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from adapters.stripe.mapping import PROVIDER
from adapters.stripe.mapping import MappingError
from adapters.stripe.mapping import events_from_stripe
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE = 300
_MAX_HEADER = 8192


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name; repeated headers joined with ", "."""
    wanted = name.lower()
    found = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted]
    return ", ".join(str(v) for v in found) if found else None


def _ascii(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """(t, [v1 signatures]) from a `Stripe-Signature` value.

    Raises:
        WebhookRejected(401): no usable timestamp or no v1 signature.
    """
    if len(value) > _MAX_HEADER:
        msg = "Stripe-Signature header is too long"
        raise WebhookRejected(msg, status=401)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            if not item.isascii() or not item.isdigit() or len(item) > 12:
                msg = "Stripe-Signature has no valid timestamp"
                raise WebhookRejected(msg, status=401)
            timestamp = int(item)
        elif key == "v1" and item:
            signatures.append(item.strip())
    if timestamp is None:
        msg = "Stripe-Signature has no timestamp"
        raise WebhookRejected(msg, status=401)
    if not signatures:
        msg = "Stripe-Signature has no v1 signature"
        raise WebhookRejected(msg, status=401)
    return timestamp, signatures


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """hex(HMAC-SHA256(secret, f"{timestamp}." + body)): what Stripe puts in v1."""
    payload = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Raise WebhookRejected(401) unless some v1 is a valid signature of `body` within tolerance."""
    if signature_header is None:
        msg = "the Stripe-Signature header is missing"
        raise WebhookRejected(msg, status=401)
    timestamp, signatures = parse_signature_header(signature_header)
    if not abs(now - timestamp) <= tolerance:  # also refuses a NaN clock
        msg = f"the Stripe-Signature timestamp is outside the {tolerance}-second tolerance"
        raise WebhookRejected(msg, status=401)
    usable = [s for s in secrets if s]
    if not usable:
        msg = "no Stripe signing secret is configured"
        raise WebhookRejected(msg, status=401)
    received = [_ascii(s) for s in signatures]
    matched = False
    for secret in usable:
        expected = sign(body, secret, timestamp).encode("ascii")
        for candidate in received:
            # no early exit: the work done does not depend on which secret matched
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        msg = "no Stripe signature matches the body"
        raise WebhookRejected(msg, status=401)


def parse_json(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = "the body is not valid JSON"
        raise WebhookRejected(msg, status=400) from exc
    if not isinstance(data, dict):
        msg = "the body is not a JSON object"
        raise WebhookRejected(msg, status=400)
    return data


class StripeProvider:
    """The `stripe` payment provider (see the module docstring for the scheme)."""

    name = PROVIDER

    def __init__(self, *, tolerance: int = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance

    def parse_webhook(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
    ) -> Sequence[PaymentEvent]:
        verify(body, header(headers, SIGNATURE_HEADER), secrets, now, self.tolerance)
        event = parse_json(body)
        try:
            return list(events_from_stripe(event))
        except (MappingError, ValueError, TypeError) as exc:
            msg = f"not a usable Stripe event: {exc}"
            raise WebhookRejected(msg, status=400) from exc

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="", content_type="text/plain")
