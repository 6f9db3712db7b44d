"""Stripe's webhook side: verify `Stripe-Signature` on the raw body, then map the event.

The scheme (stripe-python `WebhookSignature`, research §2.2 and vector STRIPE-01..04):
`Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, where each v1 is
hex(HMAC-SHA256(endpoint secret, f"{t}." + raw body)). Any v1 matching any configured secret
is accepted (Stripe sends one v1 per active secret while a secret is being rolled, and the
tenant may list the old and the new secret); v0 and unknown schemes are ignored.

The header is read exactly as `stripe.WebhookSignature._get_timestamp_and_signatures` reads
it (stripe-python 16): split on ",", each part split on "=" into at most three pieces, keys
compared as they are (no whitespace stripped: `t=1, v1=...` has a key " v1" that is no
signature), `t` read with Python's `int()` (which allows surrounding whitespace and a sign;
the signed payload uses the number, so that changes nothing a forger could use), and a part
named `t` or `v1` without "=" refuses the header. The body must be UTF-8, as the library
decodes it before signing. `tests/adapters/stripe/test_stripe_official_sdk.py` runs the official
verifier beside this one on the same cases.

One deliberate difference: a `t` more than `tolerance` seconds (300, as Stripe's libraries)
away from `now` is refused in either direction. Stripe's library refuses only old timestamps;
a timestamp from the future cannot come from Stripe (it signs when it sends), so we are
stricter there (issue 15.6).

A verified event that cannot be mapped (a handled type without what Stripe documents for it,
an amount out of range) raises `EventUnusable`: the edge keeps it as rejected with the reason
and acknowledges it, instead of a 400 that Stripe would retry for three days (issue 16.11).
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
from connector.errors import EventUnusable
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
    """(t, [v1 signatures]) from a `Stripe-Signature` value, read as stripe-python reads it.

    Raises:
        WebhookRejected(401): no usable timestamp or no v1 signature.
    """
    if len(value) > _MAX_HEADER:
        msg = "Stripe-Signature header is too long"
        raise WebhookRejected(msg, status=401)
    items = [part.split("=", 2) for part in value.split(",")]
    try:
        stamps = [item[1] for item in items if item[0] == "t"]
        signatures = [item[1] for item in items if item[0] == "v1"]
    except IndexError as exc:  # a "t" or "v1" part without "="
        msg = "Stripe-Signature cannot be read"
        raise WebhookRejected(msg, status=401) from exc
    if not stamps:
        msg = "Stripe-Signature has no timestamp"
        raise WebhookRejected(msg, status=401)
    try:
        timestamp = int(stamps[0])
    except ValueError as exc:
        msg = "Stripe-Signature has no valid timestamp"
        raise WebhookRejected(msg, status=401) from exc
    if not signatures:
        msg = "Stripe-Signature has no v1 signature"
        raise WebhookRejected(msg, status=401)
    return timestamp, signatures


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """hex(HMAC-SHA256(secret, f"{timestamp}." + body)): what Stripe puts in v1."""
    payload = b"%d." % timestamp + body
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
    try:
        body.decode("utf-8")  # stripe-python decodes the body before it signs it
    except UnicodeDecodeError as exc:
        msg = "the body is not UTF-8, so it cannot carry a Stripe signature"
        raise WebhookRejected(msg, status=400) from exc
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
        try:
            event = parse_json(body)
        except WebhookRejected as exc:
            msg = f"a signed Stripe event that cannot be used: {exc}"
            raise EventUnusable(msg) from exc
        try:
            return list(events_from_stripe(event))
        except (MappingError, ValueError, TypeError, EventUnusable) as exc:
            kind, event_id = event.get("type"), event.get("id")
            msg = f"a signed Stripe event ({kind!r} {event_id!r}) that cannot be used: {exc}"
            raise EventUnusable(msg) from exc

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="", content_type="text/plain")
