"""Buckaroo's push side: the JSON push (HMAC in `Authorization`) and the form push.

JSON push (research §2.4, after buckaroo-it/BuckarooSDK_PHP `Handlers/HMAC/Validator.php`,
`Hmac.php`; vector BUCKAROO-JSON-01):

    Authorization: hmac <websiteKey>:<base64 signature>:<nonce>:<unix timestamp>
    signature = base64(HMAC-SHA256(secret key, websiteKey + "POST" + uri' + timestamp + nonce
                                   + base64(MD5(raw body))))

where uri' is the push URL without its scheme (regex `^[^:/.]*[:/]+`), PHP-`urlencode`d and
lower-cased. The raw body is what is hashed (the SDK hashes the string it is given; the
research marks this unconfirmed, and it is the only reading that survives re-serialising).

The push URL is the configured `public_base_url` (the address Buckaroo was given, e.g.
`https://pay.example.nl`) followed by the path and query of the request, which the HTTP edge
passes in the `X-Connector-Request-Url` header. The scheme and host are never taken from the
request: they come from the client's `Host` header, which anyone can set (issue 16.11).
Without `public_base_url` a JSON push is refused with a line saying to set it.

Replay window: none by default. Buckaroo's docs (docs.buckaroo.io/docs/integration-push-messages)
promise 11 re-attempts spread over 3 days, plus manual re-sends from the Plaza, and do not say
whether a re-attempt is signed anew; none of Buckaroo's own SDKs checks the timestamp
(PHP `Handlers/HMAC/Validator.php`, .NET `Connection/SignatureCalculationService.cs`
`VerifySignature`, Node `Handlers/Reply/ReplyHandler.ts`). A 300-second window would refuse
every re-attempt for ever if they reuse the first header, and the event ids are idempotent
(a replay is stored once), so the window is off. `timestamp_tolerance` may switch one on, but
only one that covers the retry schedule (at least `MIN_TOLERANCE`, four days).

Form push (`src/Handlers/Reply/HttpPost.php`; vector BUCKAROO-POST-01): the fields whose
lower-cased prefix before the first "_" is `brq`, `add` or `cust`, except `brq_signature`,
sorted by name case-insensitively, concatenated as `name=value` (value URL-decoded, then HTML-
entity decoded) without separators, then the secret key; `brq_signature` is the hex digest of
that with the hash the merchant chose in the Plaza: SHA-1 (40 hex digits), SHA-256 (64) or
SHA-512 (128), told apart by the length of what was received (Buckaruby `Signature.generate`
offers the same three). Two sort orders are in use and both are accepted: the PHP SDK's
`strcmp` of the lower-cased names (bytes: digits < `_` < letters) and BPE 3.0's documented
order (chapter 4 "Digital Signature", quoted in Buckaruby's `CHAR_ORDER`: symbols first, then
digits, then letters, case-insensitive; `a_a, a0, a0a, a1a, aaA, aab, aba, aCa`). They differ
only when two names share a prefix and then differ in `_` against a digit. Field names that
collide when lower-cased are refused, as the SDK does. The form push carries no send
timestamp, so there is no replay window beyond the idempotent ids.

Secrets: the tenant's Buckaroo secret key(s) (several during a rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from adapters.buckaroo.mapping import PROVIDER
from adapters.buckaroo.mapping import MappingError
from adapters.buckaroo.mapping import Push
from adapters.buckaroo.mapping import form_push
from adapters.buckaroo.mapping import json_push
from adapters.buckaroo.mapping import push_events
from connector.errors import EventUnusable
from connector.errors import WebhookRejected
from connector.payments.model import REQUEST_URL_HEADER
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply

DEFAULT_TOLERANCE = 0  # no replay window (see the module docstring)
MIN_TOLERANCE = 4 * 24 * 3600  # Buckaroo re-attempts for 3 days; a window must cover that
_DIGESTS = {40: hashlib.sha1, 64: hashlib.sha256, 128: hashlib.sha512}
_SCHEME = re.compile(r"^[^:/.]*[:/]+", re.IGNORECASE)
_SIGNED_PREFIXES = ("brq", "add", "cust")
_URLENCODE_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    found = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted]
    return ", ".join(str(v) for v in found) if found else None


def php_urlencode(text: str) -> str:
    """PHP's `urlencode`: alphanumerics and -_. kept, space as +, everything else %XX."""
    out = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in _URLENCODE_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def signing_uri(url: str) -> str:
    """uri' of the HMAC: the URL without scheme, urlencoded, lower-cased."""
    return php_urlencode(_SCHEME.sub("", url, count=1)).lower()


def json_signature(
    body: bytes, secret: str, website_key: str, url: str, nonce: str, timestamp: str
) -> str:
    content = base64.b64encode(hashlib.md5(body).digest()).decode("ascii") if body else ""  # noqa: S324 - Buckaroo's scheme
    data = f"{website_key}POST{signing_uri(url)}{timestamp}{nonce}{content}"
    digest = hmac.new(secret.encode("utf-8"), data.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def php_order(name: str) -> bytes:
    """The PHP SDK's order: `strcmp(strtolower(a), strtolower(b))`, bytes, ASCII lowering."""
    return name.encode("utf-8", "surrogatepass").lower()


def bpe_order(name: str) -> tuple[tuple[int, int], ...]:
    """BPE 3.0's order: symbols (`_`) first, then digits, then letters case-insensitively."""
    ranks = []
    for char in name.lower():
        if char.isascii() and char.isdigit():
            ranks.append((1, ord(char)))
        elif char.isascii() and char.isalpha():
            ranks.append((2, ord(char)))
        else:
            ranks.append((0, ord(char)))
    return tuple(ranks)


SORT_ORDERS: tuple[Callable[[str], Any], ...] = (php_order, bpe_order)


def form_signing_strings(fields: Sequence[tuple[str, str]], secret: str) -> list[str]:
    """The string the form push signs, in each sort order (once if the orders agree)."""
    signed = [
        (name, value)
        for name, value in fields
        if name.lower() != "brq_signature" and name.lower().split("_", 1)[0] in _SIGNED_PREFIXES
    ]
    found: list[str] = []
    for order in SORT_ORDERS:
        ordered = sorted(signed, key=lambda pair: order(pair[0]))  # noqa: B023 - used at once
        data = "".join(f"{name}={html.unescape(value)}" for name, value in ordered)
        data += secret.strip()
        if data not in found:
            found.append(data)
    return found


def form_signature(
    fields: Sequence[tuple[str, str]], secret: str, digest: Callable[..., Any] = hashlib.sha1
) -> str:
    """The hex `brq_signature` of the form fields (already URL-decoded), PHP SDK order."""
    data = form_signing_strings(fields, secret)[0]
    return str(digest(data.encode("utf-8", "surrogatepass")).hexdigest())


def _any_matches(expected: Sequence[str], received: str) -> bool:
    got = received.encode("utf-8", "surrogatepass")
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(candidate.encode("ascii"), got)
    return matched


def signed_url(public_base_url: str, request_url: str) -> str:
    """The configured public base URL plus the path and query of the request."""
    parts = urlsplit(request_url)
    path = parts.path or "/"
    return public_base_url.rstrip("/") + path + (f"?{parts.query}" if parts.query else "")


class BuckarooProvider:
    """The `buckaroo` payment provider (see the module docstring)."""

    name = PROVIDER

    def __init__(
        self, *, timestamp_tolerance: int = DEFAULT_TOLERANCE, public_base_url: str | None = None
    ) -> None:
        self.timestamp_tolerance = timestamp_tolerance
        self.public_base_url = public_base_url

    def parse_webhook(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
    ) -> Sequence[PaymentEvent]:
        usable = [s for s in secrets if s.strip()]
        if not usable:
            msg = "no Buckaroo secret key is configured"
            raise WebhookRejected(msg, status=401)
        authorization = header(headers, "Authorization")
        if body.lstrip()[:1] == b"{":
            push = self._json(body, authorization, usable, now, header(headers, REQUEST_URL_HEADER))
        else:
            push = self._form(body, usable)
        fallback = _clock(now)
        try:
            return push_events(push, fallback)
        except (MappingError, ValueError) as exc:
            msg = f"a signed Buckaroo push that cannot be used: {exc}"
            raise EventUnusable(msg) from exc

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="", content_type="text/plain")

    def _json(
        self,
        body: bytes,
        authorization: str | None,
        secrets: Sequence[str],
        now: float,
        request_url: str | None,
    ) -> Push:
        scheme, _, value = (authorization or "").strip().partition(" ")
        parts = value.strip().split(":")
        if scheme.lower() != "hmac" or len(parts) != 4 or not all(parts):
            msg = "the Authorization header is not a Buckaroo hmac header"
            raise WebhookRejected(msg, status=401)
        website_key, signature, nonce, timestamp = parts
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            msg = "the Buckaroo hmac header has no valid timestamp"
            raise WebhookRejected(msg, status=401)
        tolerance = self.timestamp_tolerance
        if tolerance and not abs(now - int(timestamp)) <= tolerance:
            msg = f"the Buckaroo timestamp is outside the {tolerance}-second tolerance"
            raise WebhookRejected(msg, status=401)
        if not self.public_base_url:
            msg = (
                "Buckaroo signs the push URL: set [providers.buckaroo] public_base_url to the "
                "address Buckaroo was given (e.g. https://pay.example.nl)"
            )
            raise WebhookRejected(msg, status=401)
        if not request_url:
            msg = f"the push URL is unknown (the edge must pass {REQUEST_URL_HEADER})"
            raise WebhookRejected(msg, status=401)
        try:
            url = signed_url(self.public_base_url, request_url)
        except ValueError as exc:  # urlsplit: e.g. an unbalanced "[" in the host
            msg = "the push URL cannot be read"
            raise WebhookRejected(msg, status=401) from exc
        expected = [json_signature(body, s, website_key, url, nonce, timestamp) for s in secrets]
        if not _any_matches(expected, signature):
            msg = "the Buckaroo signature does not match the body"
            raise WebhookRejected(msg, status=401)
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            msg = "a signed Buckaroo push that is not valid JSON"
            raise EventUnusable(msg) from exc
        if not isinstance(data, dict):
            msg = "a signed Buckaroo push that is not a JSON object"
            raise EventUnusable(msg)
        return self._mapped(json_push, data)

    def _form(self, body: bytes, secrets: Sequence[str]) -> Push:
        try:
            text = body.decode("utf-8")
            fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            msg = "the body is neither a JSON push nor a form push"
            raise WebhookRejected(msg, status=400) from exc
        names = [name.lower() for name, _ in fields]
        if len(set(names)) != len(names):
            msg = "the form push repeats a field (names are compared case-insensitively)"
            raise WebhookRejected(msg, status=400)
        received = dict(zip(names, (value for _, value in fields), strict=True))
        signature = received.get("brq_signature", "").strip().lower()
        if not signature:
            msg = "the form push has no brq_signature"
            raise WebhookRejected(msg, status=401)
        digest = _DIGESTS.get(len(signature))
        if digest is None:
            msg = "the brq_signature is not a SHA-1, SHA-256 or SHA-512 hex digest"
            raise WebhookRejected(msg, status=401)
        expected = [
            digest(data.encode("utf-8", "surrogatepass")).hexdigest()
            for secret in secrets
            for data in form_signing_strings(fields, secret)
        ]
        if not _any_matches(expected, signature):
            msg = "the brq_signature does not match the fields"
            raise WebhookRejected(msg, status=401)
        return self._mapped(form_push, dict(fields))

    @staticmethod
    def _mapped(parse: Callable[[Any], Push], data: Any) -> Push:
        try:
            push = parse(data)
        except (MappingError, ValueError, TypeError, AttributeError) as exc:
            msg = f"a signed Buckaroo push that cannot be used: {exc}"
            raise EventUnusable(msg) from exc
        return push


def _clock(now: float) -> datetime:
    try:
        return datetime.fromtimestamp(now, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)
