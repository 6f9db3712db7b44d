"""Adyen's webhook side: Basic auth on the endpoint, then an HMAC on every notification item.

A delivery is `{"live": "...", "notificationItems": [{"NotificationRequestItem": {...}}]}`
and may hold several items. Every item must carry a valid `additionalData.hmacSignature`:
base64(HMAC-SHA256(key = the hex HMAC key decoded to bytes, the signing string in UTF-8))
(see `adapters.adyen.mapping.signing_string`). One bad item refuses the whole delivery (research
vector ADYEN-04), so nothing from a forged item is ever stored; Adyen retries the delivery.

Secrets (the tenant's own; several during a rotation):

- an HMAC key: the hex string from the Customer Area (optionally written `hmac:<hex>`);
- Basic credentials: `basic:<username>:<password>` (the password may contain colons).

The `Authorization: Basic ...` header must match one of the configured credentials (compared
in constant time); with `require_basic_auth = false` in the provider config an endpoint that
has no credentials configured relies on the HMAC alone. The answer is 200 with the body
`[accepted]`: current Adyen docs ask only for a 2xx, older integrations required the body,
and both are satisfied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.adyen.mapping import PROVIDER
from adapters.adyen.mapping import MappingError
from adapters.adyen.mapping import hmac_signature
from adapters.adyen.mapping import item_event
from adapters.adyen.mapping import signing_string
from connector.errors import EventUnusable
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply

_BASIC_PREFIX = "basic:"
_HMAC_PREFIX = "hmac:"
_MAX_ITEMS = 1000


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    found = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted]
    return ", ".join(str(v) for v in found) if found else None


def hmac_keys(secrets: Sequence[str]) -> list[bytes]:
    """The HMAC keys among the secrets, hex-decoded; anything else is skipped."""
    keys = []
    for secret in secrets:
        text = secret[len(_HMAC_PREFIX) :] if secret.startswith(_HMAC_PREFIX) else secret
        if not text or secret.startswith(_BASIC_PREFIX):
            continue
        try:
            keys.append(bytes.fromhex(text.strip()))
        except ValueError:
            continue
    return keys


def basic_credentials(secrets: Sequence[str]) -> list[bytes]:
    """`username:password` of each `basic:` secret, as bytes."""
    return [s[len(_BASIC_PREFIX) :].encode("utf-8") for s in secrets if s.startswith(_BASIC_PREFIX)]


def sign(data: str, key: bytes) -> str:
    """base64(HMAC-SHA256(key, data)): what Adyen puts in additionalData.hmacSignature."""
    digest = hmac.new(key, data.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_basic_auth(value: str | None, secrets: Sequence[str], *, required: bool) -> None:
    """Raise WebhookRejected(401) unless the Authorization header names a configured user."""
    credentials = basic_credentials(secrets)
    if not credentials:
        if required:
            msg = "no Adyen Basic auth credentials are configured for this endpoint"
            raise WebhookRejected(msg, status=401)
        return
    scheme, _, token = (value or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        msg = "Basic authentication is missing"
        raise WebhookRejected(msg, status=401)
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = "the Basic credentials are not base64"
        raise WebhookRejected(msg, status=401) from exc
    matched = False
    for expected in credentials:
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        msg = "the Basic credentials do not match"
        raise WebhookRejected(msg, status=401)


def verify_item(item: Mapping[str, Any], keys: Sequence[bytes]) -> None:
    """Raise WebhookRejected(401) unless the item's hmacSignature is valid under some key."""
    received = hmac_signature(item)
    if received is None:
        msg = "a notification item has no hmacSignature"
        raise WebhookRejected(msg, status=401)
    try:
        data = signing_string(item)
    except MappingError as exc:
        msg = f"a notification item cannot be verified: {exc}"
        raise WebhookRejected(msg, status=400) from exc
    got = received.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sign(data, key).encode("ascii"), got)
    if not matched:
        msg = "a notification item's hmacSignature does not match"
        raise WebhookRejected(msg, status=401)


def notification_items(body: bytes) -> list[Mapping[str, Any]]:
    """The NotificationRequestItems of a delivery.

    Raises:
        WebhookRejected(400): the body is not an Adyen notification.
    """
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = "the body is not valid JSON"
        raise WebhookRejected(msg, status=400) from exc
    wrappers = data.get("notificationItems") if isinstance(data, dict) else None
    if not isinstance(wrappers, list) or not wrappers or len(wrappers) > _MAX_ITEMS:
        msg = "the body has no notificationItems"
        raise WebhookRejected(msg, status=400)
    items: list[Mapping[str, Any]] = []
    for wrapper in wrappers:
        item = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
        if not isinstance(item, dict):
            msg = "a notification item is not a NotificationRequestItem object"
            raise WebhookRejected(msg, status=400)
        items.append(item)
    return items


class AdyenProvider:
    """The `adyen` payment provider (see the module docstring)."""

    name = PROVIDER

    def __init__(self, *, manual_capture: bool = False, require_basic_auth: bool = True) -> None:
        self.manual_capture = manual_capture
        self.require_basic_auth = require_basic_auth

    def parse_webhook(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
    ) -> Sequence[PaymentEvent]:
        check_basic_auth(
            header(headers, "Authorization"), secrets, required=self.require_basic_auth
        )
        keys = hmac_keys(secrets)
        if not keys:
            msg = "no Adyen HMAC key is configured for this endpoint"
            raise WebhookRejected(msg, status=401)
        items = notification_items(body)
        for item in items:  # all verified before any is used
            verify_item(item, keys)
        fallback = _clock(now)
        events = []
        for item in items:
            try:
                event = item_event(item, fallback, manual_capture=self.manual_capture)
            except (MappingError, ValueError, TypeError, EventUnusable) as exc:
                # every item is signed: a retry cannot make it usable (kept as rejected)
                psp = item.get("pspReference")
                msg = f"a signed Adyen notification item ({psp!r}) that cannot be used: {exc}"
                raise EventUnusable(msg) from exc
            if event is not None:
                events.append(event)
        return events

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="[accepted]", content_type="text/plain")


def _clock(now: float) -> datetime:
    try:
        return datetime.fromtimestamp(now, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)
