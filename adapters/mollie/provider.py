"""Mollie's webhook side: classic (unsigned, fetch the payment) and next-gen (signed) webhooks.

Classic (research §2.1): the body is the form `id=tr_...` (or `id=pl_...` for a payment link)
and nothing else: no signature, no status. A forged call can only make us fetch, so the
payment is fetched with the tenant's API key and the events come from what Mollie reports
(`adapters.mollie.mapping`). An id Mollie does not know gives no events (Mollie recommends a
200 for unknown ids, so nothing leaks); Mollie unreachable raises `RetriableLedgerError` and
the edge answers 5xx, so Mollie calls again (10 calls over about 26 hours).

Next-gen (research §2.1, vector MOLLIE-NG-01): a JSON event with `X-Mollie-Signature:
sha256=<hex HMAC-SHA256 of the raw body, keyed with the signing secret>`. During a rotation
Mollie sends two signatures (two headers, which reach us joined by ", "); either one matching
any configured secret is enough. The `sha256=` prefix is stripped before comparing (Mollie's
own sample forgets to; a bare hex value is accepted too). The event carries no timestamp, so
there is no replay window: a replayed event gives the same event ids and is stored once.
Events with an entity snapshot (Mollie's "full" payload) are mapped from it; without one the
payment is fetched, which needs an API key among the secrets.

Secrets: the tenant's API key (`live_...`, `test_...` or an `access_...` token) and the
next-gen signing secrets, kept apart by that prefix (issue 16.11): a signature is checked only
against the signing secrets (everything that is not an API key), so knowing the API key never
lets anyone sign an event, and only an API key is ever sent to Mollie as a bearer token.

Refunds: Mollie calls a classic `webhookUrl` when a refund reaches `processing`, `refunded` or
`failed` (docs.mollie.com/overview/webhooks, "Payments API"), so a refund that goes queued ->
pending -> refunded is heard of once it is refunded: no polling is needed for it. Next-gen has
`refund.refunded`.

Chargebacks (issue 15.5): a classic `webhookUrl` is called when a chargeback is received. The
next-gen webhooks long documented no chargeback event; Mollie's changelog recently added
`chargeback.received` and `chargeback.reversed` to the Webhooks API (docs.mollie.com changelog
"Add chargeback and capture webhook event types"), only for subscriptions that select them.
So where next-gen is set up (a signing secret is stored next to the API key) `poll` lists
the account's recent chargebacks (`GET /v2/chargebacks`, newest first, with the payment
embedded, for `chargeback_poll_days`) every `chargeback_poll_minutes`, on the same event ids
as the webhooks, so whichever arrives first is stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from adapters.mollie.client import MollieClient
from adapters.mollie.mapping import PROVIDER
from adapters.mollie.mapping import MappingError
from adapters.mollie.mapping import NextGenEvent
from adapters.mollie.mapping import needs_chargebacks
from adapters.mollie.mapping import needs_refunds
from adapters.mollie.mapping import next_gen_event
from adapters.mollie.mapping import parse_time
from adapters.mollie.mapping import payment_events
from adapters.mollie.mapping import polled_chargeback_events
from adapters.mollie.mapping import snapshot_events
from connector.errors import EventUnusable
from connector.errors import LedgerError
from connector.errors import RetriableLedgerError
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mollie-Signature"
_ID = re.compile(r"[a-z]{2,5}_[A-Za-z0-9]{1,64}")
_API_KEY_PREFIXES = ("live_", "test_", "access_")
_MAX_CLASSIC_BODY = 1024
DEFAULT_POLL_DAYS = 120  # a reversal comes weeks after its chargeback
DEFAULT_POLL_MINUTES = 60

ClientFactory = Callable[[str], MollieClient]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name; repeated headers joined with ", "."""
    wanted = name.lower()
    found = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted]
    return ", ".join(str(v) for v in found) if found else None


def api_key(secrets: Sequence[str]) -> str | None:
    """The API key among the secrets (`live_`, `test_`, `access_`); never a signing secret."""
    for secret in secrets:
        if secret.startswith(_API_KEY_PREFIXES):
            return secret
    return None


def signing_secrets(secrets: Sequence[str]) -> list[str]:
    """The next-gen signing secrets: every secret that is not an API key."""
    return [s for s in secrets if s and not s.startswith(_API_KEY_PREFIXES)]


def sign(body: bytes, secret: str) -> str:
    """hex(HMAC-SHA256(secret, body)): the value after `sha256=` in X-Mollie-Signature."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature_header: str, secrets: Sequence[str]) -> None:
    """Raise WebhookRejected(401) unless a signature in the header matches a secret."""
    candidates = []
    for part in signature_header.split(","):
        value = part.strip()
        if value.lower().startswith("sha256="):
            value = value[len("sha256=") :]
        if value:
            candidates.append(value.encode("utf-8", "surrogatepass"))
    if not candidates or len(candidates) > 8:
        msg = "the X-Mollie-Signature header holds no usable signature"
        raise WebhookRejected(msg, status=401)
    usable = signing_secrets(secrets)
    if not usable:
        msg = "no Mollie signing secret is configured (the API key never checks a signature)"
        raise WebhookRejected(msg, status=401)
    matched = False
    for secret in usable:
        expected = sign(body, secret).encode("ascii")
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        msg = "no Mollie signature matches the body"
        raise WebhookRejected(msg, status=401)


def classic_id(body: bytes) -> str:
    """The `id` of a classic webhook body (`id=tr_...`).

    Raises:
        WebhookRejected(400): the body is not such a form.
    """
    if len(body) > _MAX_CLASSIC_BODY:
        msg = "a classic Mollie webhook body is a short form (id=...)"
        raise WebhookRejected(msg, status=400)
    try:
        text = body.decode("ascii")
        fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        msg = "the body is not a form with an id"
        raise WebhookRejected(msg, status=400) from exc
    ids = [value for key, value in fields if key == "id"]
    if len(ids) != 1 or not _ID.fullmatch(ids[0]):
        msg = "the body does not hold exactly one Mollie id"
        raise WebhookRejected(msg, status=400)
    return ids[0]


class MollieProvider:
    """The `mollie` payment provider (see the module docstring)."""

    name = PROVIDER

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        chargeback_poll_days: int = DEFAULT_POLL_DAYS,
        chargeback_poll_minutes: int = DEFAULT_POLL_MINUTES,
    ) -> None:
        self._client_factory = client_factory
        self.chargeback_poll_days = chargeback_poll_days
        self.chargeback_poll_minutes = chargeback_poll_minutes

    def parse_webhook(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
    ) -> Sequence[PaymentEvent]:
        fallback = _clock(now)
        signature = header(headers, SIGNATURE_HEADER)
        if signature is not None:
            verify_signature(body, signature, secrets)
            try:
                data = _json(body)
            except WebhookRejected as exc:
                msg = f"a signed Mollie event that cannot be used: {exc}"
                raise EventUnusable(msg) from exc
            return self._next_gen(data, secrets, fallback)
        if body.lstrip()[:1] in (b"{", b"["):
            msg = "a Mollie JSON event without an X-Mollie-Signature header"
            raise WebhookRejected(msg, status=401)
        resource_id = classic_id(body)
        if resource_id.startswith("tr_"):
            return self._fetched(resource_id, secrets, fallback)
        if resource_id.startswith("pl_"):
            return self._link_payments(resource_id, secrets, fallback)
        return []  # orders, subscriptions...: nothing the ledger needs

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="", content_type="text/plain")

    # --- polling -------------------------------------------------------------------------

    def poll_due(self, now: float) -> bool:
        """Whether `now` falls in the first minute of a polling interval (the payments job
        runs every minute; a skipped minute only delays the poll by one interval)."""
        if self.chargeback_poll_days == 0:
            return False
        minute = int(now // 60)
        return minute % max(1, self.chargeback_poll_minutes) == 0

    def poll(self, secrets: Sequence[str], now: float) -> Sequence[PaymentEvent]:
        """Chargebacks of the last `chargeback_poll_days` days, for a tenant on next-gen.

        Nothing (and no request) without an API key, or with only classic webhooks (no
        signing secret): the classic webhook already reports every chargeback.

        A chargeback that can never be booked (an amount out of range) is logged as an error
        with its id and skipped, so it cannot block the others on every poll.

        Raises:
            RetriableLedgerError: Mollie could not be asked; the next poll tries again.
        """
        if self.chargeback_poll_days == 0 or not signing_secrets(secrets):
            return []
        if api_key(secrets) is None:
            return []
        fallback = _clock(now)
        cutoff = now - self.chargeback_poll_days * 86400

        def recent(chargeback: Mapping[str, Any]) -> bool:
            created = parse_time(chargeback.get("createdAt"))
            return created is None or created.timestamp() >= cutoff

        client = self._client(secrets)
        try:
            chargebacks = client.recent_chargebacks(recent)
            events: list[PaymentEvent] = []
            for chargeback in chargebacks:
                try:
                    events.extend(polled_chargeback_events([chargeback], fallback))
                except EventUnusable as exc:
                    logger.error(
                        "Mollie chargeback %s cannot be booked: %s", chargeback.get("id"), exc
                    )
            return events
        except RetriableLedgerError:
            raise
        except LedgerError as exc:
            raise RetriableLedgerError(str(exc), status=exc.status) from exc
        except (MappingError, ValueError, TypeError) as exc:
            msg = f"Mollie's chargeback list is not usable: {exc}"
            raise RetriableLedgerError(msg) from exc

    # --- next-gen ------------------------------------------------------------------------

    def _next_gen(
        self, data: Mapping[str, Any], secrets: Sequence[str], fallback: datetime
    ) -> Sequence[PaymentEvent]:
        try:
            event = next_gen_event(data)
        except MappingError as exc:
            msg = f"a signed body that is not a Mollie event: {exc}"
            raise EventUnusable(msg) from exc
        family = event.type.split(".", 1)[0]
        when = event.created_at or fallback
        if family in ("payment", "refund", "chargeback"):
            if event.entity is not None:
                try:
                    return snapshot_events(event.type, event.entity, when)
                except (MappingError, ValueError) as exc:
                    msg = f"the signed {event.type} event's entity cannot be used: {exc}"
                    raise EventUnusable(msg) from exc
            return self._fetch_for(event, secrets, when)
        if event.type == "payment-link.paid" and event.entity_id.startswith("pl_"):
            if _looks_like_api_key(secrets):
                return self._link_payments(event.entity_id, secrets, when)
            return []  # payment.paid for the link's payment carries the money
        return []

    def _fetch_for(
        self, event: NextGenEvent, secrets: Sequence[str], when: datetime
    ) -> Sequence[PaymentEvent]:
        payment_id = event.payment_id
        if payment_id is None or not _looks_like_api_key(secrets):
            msg = (
                f"the {event.type} event has no entity and cannot be fetched; subscribe with "
                "the full payload or add the API key to the secrets"
            )
            raise WebhookRejected(msg, status=400)
        return self._fetched(payment_id, secrets, when)

    # --- fetching ------------------------------------------------------------------------

    def _client(self, secrets: Sequence[str]) -> MollieClient:
        key = api_key(secrets)
        if key is None:
            msg = "no Mollie API key is configured to fetch the payment"
            raise RetriableLedgerError(msg)
        return self._client_factory(key)

    def _fetched(
        self, payment_id: str, secrets: Sequence[str], fallback: datetime
    ) -> Sequence[PaymentEvent]:
        client = self._client(secrets)
        try:
            payment = client.get_payment(payment_id)
            if payment is None:
                return []  # unknown to Mollie: answer 200, change nothing
            refunds = client.list_refunds(payment_id) if needs_refunds(payment) else None
            chargebacks = (
                client.list_chargebacks(payment_id) if needs_chargebacks(payment) else None
            )
            return payment_events(payment, fallback, refunds=refunds, chargebacks=chargebacks)
        except RetriableLedgerError:
            raise
        except LedgerError as exc:
            raise RetriableLedgerError(str(exc), status=exc.status) from exc
        except (MappingError, ValueError, TypeError) as exc:
            msg = f"Mollie's answer for {payment_id} is not usable: {exc}"
            raise RetriableLedgerError(msg) from exc

    def _link_payments(
        self, link_id: str, secrets: Sequence[str], fallback: datetime
    ) -> Sequence[PaymentEvent]:
        client = self._client(secrets)
        try:
            payments = client.list_link_payments(link_id)
        except RetriableLedgerError:
            raise
        except LedgerError as exc:
            raise RetriableLedgerError(str(exc), status=exc.status) from exc
        events: list[PaymentEvent] = []
        for listed in payments or ():
            payment_id = listed.get("id")
            if isinstance(payment_id, str) and payment_id.startswith("tr_"):
                for event in self._fetched(payment_id, secrets, fallback):
                    refs = {**event.references, "payment_link_id": link_id}
                    events.append(_with_references(event, refs))
        return events


def _with_references(event: PaymentEvent, references: Mapping[str, str]) -> PaymentEvent:
    return PaymentEvent(
        provider=event.provider,
        event_id=event.event_id,
        kind=event.kind,
        payment_id=event.payment_id,
        amount=event.amount,
        occurred_at=event.occurred_at,
        description=event.description,
        references=dict(references),
        payer_name=event.payer_name,
        payer_iban=event.payer_iban,
    )


def _looks_like_api_key(secrets: Sequence[str]) -> bool:
    return any(s.startswith(_API_KEY_PREFIXES) for s in secrets)


def _clock(now: float) -> datetime:
    try:
        return datetime.fromtimestamp(now, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)


def _json(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = "the body is not valid JSON"
        raise WebhookRejected(msg, status=400) from exc
    if not isinstance(data, dict):
        msg = "the body is not a JSON object"
        raise WebhookRejected(msg, status=400)
    return data
