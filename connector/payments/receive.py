"""Receiving one webhook delivery, independent of the HTTP framework.

    token -> endpoint (tenant) -> the provider's secrets of that tenant -> verify and parse
    on the raw body -> store the events durably -> the provider's reply

The answer is decided here: 404 for an unknown endpoint or provider (nothing leaks about
which), 401 for a bad signature, 400 for a malformed body, 503 when the store cannot take the
events (so the provider retries), 2xx only after the events are committed. Bad input never
becomes a 500.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime

from connector.errors import ConnectorError
from connector.errors import EventUnusable
from connector.errors import RetriableLedgerError
from connector.errors import StoreError
from connector.errors import UnknownPlugin
from connector.errors import WebhookRejected
from connector.payments import events as event_store
from connector.payments.writer import EventWriter
from connector.payments.writer import store_or_reject
from connector.ports import PaymentProvider
from connector.store import Store
from connector.vault import KEY_ENV
from connector.vault import UndecryptableToken
from connector.vault import Vault

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str
    content_type: str = "application/json"
    outcome: str = ""  # verified, duplicate, unusable, rejected, unknown, unavailable
    events: int = 0
    duplicates: int = 0


def error_answer(status: int, message: str, outcome: str) -> Answer:
    """A JSON error answer: {"error": message}."""
    return Answer(status, json.dumps({"error": message}), outcome=outcome)


@dataclass
class LogLimiter:
    """At most `per_minute` log lines per kind of rejection, then a count of the rest."""

    per_minute: int = 10
    clock: Callable[[], float] = time.monotonic
    _window: dict[str, tuple[float, int]] = field(default_factory=dict)

    def allow(self, kind: str) -> bool:
        now = self.clock()
        start, count = self._window.get(kind, (now, 0))
        if now - start >= 60:
            if count > self.per_minute:
                logger.warning(
                    "%d more %s webhooks were rejected in the last minute",
                    count - self.per_minute,
                    kind,
                )
            start, count = now, 0
        self._window[kind] = (start, count + 1)
        return count < self.per_minute


@dataclass
class SecretCache:
    """Endpoint and decrypted secrets per (token, provider) for `ttl` seconds.

    The receiving hot path otherwise spends most of its time looking up the same secrets;
    a secret added or removed takes effect within `ttl` seconds (a provider retries a 401).
    """

    ttl: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[float, tuple[int, str, list[str]] | None]] = field(
        default_factory=dict
    )

    def get(
        self, store: Store, vault: Vault, token: str, provider: str
    ) -> tuple[int, str, list[str]] | None:
        key = (event_store.token_hash(token), provider)
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with store.begin() as conn:
            row = event_store.secrets_for(conn, token, provider)
        found = None
        if row is not None:
            endpoint_id, name, encrypted = row
            secrets = _decrypted(vault, encrypted, provider, name)
            if encrypted and not secrets:
                # None opens: our key is wrong, not the sender; 503 so it retries.
                msg = f"{KEY_ENV} cannot decrypt any {provider} secret of endpoint {name}"
                raise UndecryptableToken(msg)
            found = (endpoint_id, name, secrets)
        if self.ttl > 0:
            if len(self._entries) > 10_000:  # unknown tokens must not grow it without bound
                self._entries.clear()
            self._entries[key] = (now, found)
        return found


def _decrypted(vault: Vault, encrypted: list[str], provider: str, endpoint: str) -> list[str]:
    """The secrets the keys can open; one that cannot be opened is logged and skipped, so a
    secret stored under another key never blocks the deliveries its neighbours verify."""
    secrets = []
    for number, ciphertext in enumerate(encrypted, start=1):
        try:
            secrets.append(vault.decrypt(ciphertext, what=f"{provider} secret {number}"))
        except UndecryptableToken as exc:
            logger.error("endpoint %s: %s; that secret is skipped", endpoint, exc)
    return secrets


def receive(
    *,
    store: Store,
    vault: Vault,
    providers: Callable[[str], PaymentProvider],
    token: str,
    provider_name: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime | None = None,
    log_limiter: LogLimiter | None = None,
    cache: SecretCache | None = None,
    writer: EventWriter | None = None,
) -> Answer:
    limiter = log_limiter or LogLimiter()
    moment = now or datetime.now(UTC)
    try:
        provider = providers(provider_name)
    except UnknownPlugin:
        return error_answer(404, "not found", "unknown")
    try:
        found = (cache or SecretCache(0)).get(store, vault, token, provider_name)
    except StoreError:
        return error_answer(503, "temporarily unavailable", "unavailable")
    except ConnectorError as exc:  # a key that cannot decrypt: our fault; the provider retries
        logger.error("a %s webhook secret cannot be used: %s", provider_name, exc)
        return error_answer(503, "temporarily unavailable", "unavailable")
    if found is None:
        return error_answer(404, "not found", "unknown")
    endpoint_id, endpoint_name, secrets = found
    if not secrets:
        if limiter.allow("unconfigured"):
            logger.warning("endpoint %s has no %s secret; rejected", endpoint_name, provider_name)
        return error_answer(401, "signature not verified", "rejected")
    try:
        events = provider.parse_webhook(body, headers, secrets, moment.timestamp())
    except EventUnusable as exc:
        # Genuinely signed, so a retry is the same event: keep it as rejected with the
        # reason for a person, and acknowledge it so the provider stops.
        if limiter.allow(f"{provider_name}-unusable"):
            logger.warning(
                "%s event for endpoint %s kept as rejected: %s", provider_name, endpoint_name, exc
            )
        try:
            with store.begin(immediate=True) as conn:
                new = event_store.store_rejected(
                    conn,
                    endpoint_id,
                    provider_name,
                    event_store.rejected_id(body),
                    str(exc),
                    moment,
                )
        except StoreError:
            return error_answer(503, "temporarily unavailable", "unavailable")
        reply = provider.reply([])
        # A retry of the same signed bytes is a duplicate, not a second unusable event.
        outcome = "unusable" if new else "duplicate"
        return Answer(reply.status, reply.body, reply.content_type, outcome=outcome)
    except WebhookRejected as exc:
        if limiter.allow(f"{provider_name}-{exc.status}"):
            logger.warning(
                "%s webhook for endpoint %s rejected (%d): %s",
                provider_name,
                endpoint_name,
                exc.status,
                exc,
            )
        status = exc.status if exc.status in (400, 401, 413) else 400
        message = "signature not verified" if status == 401 else "malformed body"
        return error_answer(status, message, "rejected")
    except RetriableLedgerError as exc:
        # e.g. Mollie classic: the payment could not be fetched yet; ask for a retry.
        logger.warning("%s webhook for endpoint %s: %s", provider_name, endpoint_name, exc)
        return error_answer(503, "temporarily unavailable", "unavailable")
    except ConnectorError as exc:  # any other failure of ours must not be a bare 500
        logger.error("%s webhook for endpoint %s failed: %s", provider_name, endpoint_name, exc)
        return error_answer(503, "temporarily unavailable", "unavailable")
    try:
        if writer is not None:
            stored = writer.store(endpoint_id, events, moment)
        else:
            stored = store_or_reject(store, endpoint_id, events, moment)
    except StoreError:  # unreachable or locked: worth the provider's retry
        return error_answer(503, "temporarily unavailable", "unavailable")
    reply = provider.reply(events)
    fresh = stored.fresh
    duplicates = fresh.count(False)
    if events and duplicates == len(events):
        outcome = "duplicate"
    elif events and stored.rejected == len(events):
        outcome = "unusable"
    else:
        outcome = "verified"
    return Answer(
        reply.status,
        reply.body,
        reply.content_type,
        outcome=outcome,
        events=len(events),
        duplicates=duplicates,
    )
