"""Providers that are asked as well as heard from: the payments job polls them (issue 15.5).

Mollie's next-gen webhooks long carried no chargeback event, so a tenant set up only for
next-gen would never hear of one. A provider may therefore offer, besides the webhook port,
`poll_due(now)` and `poll(secrets, now)`: the payments job calls `poll_providers` every
minute; for each endpoint with that provider's secrets whose poll is due, the events it
returns are stored exactly as webhook events (same table, same event ids, a duplicate of a
webhook is ignored) and processed with them. A provider without `poll` is never polled.

Failures never stop the others: a secret that cannot be decrypted is skipped with an error
logged, a provider that cannot be reached is logged and asked again at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from typing import runtime_checkable

from connector.errors import ConnectorError
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.store import Store
from connector.vault import Vault

logger = logging.getLogger(__name__)


@runtime_checkable
class PollingProvider(Protocol):
    """A provider the connector asks for events, next to the webhooks it receives."""

    def poll_due(self, now: float) -> bool:
        """Whether this minute's payments job should poll (the provider paces itself)."""
        ...

    def poll(self, secrets: Sequence[str], now: float) -> Sequence[PaymentEvent]:
        """The events to store for a tenant with these secrets; empty when it needs none.

        Raises:
            ConnectorError: the provider could not be asked (it is asked again next time).
        """
        ...


@dataclass(frozen=True, slots=True)
class PollSummary:
    polled: int = 0  # endpoint-provider pairs asked
    stored: int = 0  # new events (duplicates of webhooks not counted)
    failed: int = 0


def poll_providers(
    store: Store,
    vault: Vault,
    providers: Callable[[str], object],
    provider_names: Sequence[str],
    now: datetime,
) -> PollSummary:
    """Poll every due provider for every endpoint that has its secrets, storing the events."""
    moment = now.timestamp()
    due: dict[str, PollingProvider] = {}
    for name in provider_names:
        provider = providers(name)
        if isinstance(provider, PollingProvider) and provider.poll_due(moment):
            due[name] = provider
    if not due:
        return PollSummary()
    with store.begin() as conn:
        endpoints = event_store.list_endpoints(conn)
    polled = stored = failed = 0
    for endpoint, names in endpoints:
        for name in names:
            provider = due.get(name)
            if provider is None:
                continue
            with store.begin() as conn:
                encrypted = event_store.encrypted_secrets(conn, endpoint.id, name)
            secrets = []
            for ciphertext in encrypted:
                try:
                    secrets.append(vault.decrypt(ciphertext, what=f"a {name} webhook secret"))
                except ConnectorError as exc:
                    logger.error(
                        "a %s secret of endpoint %s is skipped: %s", name, endpoint.name, exc
                    )
            polled += 1
            try:
                found = provider.poll(secrets, moment)
            except ConnectorError as exc:
                failed += 1
                logger.warning("polling %s for endpoint %s failed: %s", name, endpoint.name, exc)
                continue
            if found:
                with store.begin() as conn:
                    fresh = event_store.store_events(conn, endpoint.id, found, now)
                stored += fresh.count(True)
    return PollSummary(polled=polled, stored=stored, failed=failed)
