"""Mollie: classic webhooks (fetch the payment), signed next-gen webhooks, and payment links.

`create_provider` is the `mollie` entry point of `dunning_connector.providers`. Its config
(`[providers.mollie]`) takes `api_url` (default https://api.mollie.com), `timeout` (seconds
per API call, default 5, well inside the 15 seconds Mollie waits), `chargeback_poll_days`
(how far back `poll` lists chargebacks for tenants on next-gen webhooks; default 120, 0 turns
polling off) and `chargeback_poll_minutes` (how often; default 60). The tenant's API key and
next-gen signing secrets come with each call. `create_links` builds the payment-link side from
`api_key`, `api_url`, `webhook_url`, `redirect_url`, `profile_id`, `expires_days`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING
from typing import Any

from adapters.mollie.client import DEFAULT_API_URL
from adapters.mollie.client import MollieClient
from adapters.mollie.links import LinkStore
from adapters.mollie.links import MolliePaymentLinks
from adapters.mollie.links import links_from_config
from adapters.mollie.provider import DEFAULT_POLL_DAYS
from adapters.mollie.provider import DEFAULT_POLL_MINUTES
from adapters.mollie.provider import MollieProvider
from connector.errors import ConfigError

__all__ = ["MolliePaymentLinks", "MollieProvider", "create_links", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> MollieProvider:
    """The Mollie webhook verifier and parser.

    Raises:
        ConfigError: `api_url` is not an http(s) URL, `timeout` not a positive number, or
            `chargeback_poll_days` / `chargeback_poll_minutes` out of range.
    """
    api_url = config.get("api_url", DEFAULT_API_URL)
    if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
        msg = f"mollie api_url must be an http(s) URL, got {api_url!r}"
        raise ConfigError(msg)
    timeout = config.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        msg = f"mollie timeout must be a positive number of seconds, got {timeout!r}"
        raise ConfigError(msg)

    days = config.get("chargeback_poll_days", DEFAULT_POLL_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 400:
        msg = f"mollie chargeback_poll_days must be 0 (off) to 400 days, got {days!r}"
        raise ConfigError(msg)
    minutes = config.get("chargeback_poll_minutes", DEFAULT_POLL_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
        msg = f"mollie chargeback_poll_minutes must be 1 to 1440, got {minutes!r}"
        raise ConfigError(msg)

    @lru_cache(maxsize=128)  # one client (and its connection pool) per tenant key
    def client(api_key: str) -> MollieClient:
        return MollieClient(api_key, api_url=api_url, timeout=float(timeout))

    return MollieProvider(client, chargeback_poll_days=days, chargeback_poll_minutes=minutes)


def create_links(config: Mapping[str, Any], store: LinkStore | None = None) -> MolliePaymentLinks:
    """Mollie payment links for dunning letters (see `adapters.mollie.links`)."""
    return links_from_config(config, store)


if TYPE_CHECKING:  # mypy checks that the classes fill the core's ports
    from connector.channels.base import PaymentLinks
    from connector.ports import PaymentProvider

    def _fills_the_ports(
        provider: MollieProvider, links: MolliePaymentLinks
    ) -> tuple[PaymentProvider, PaymentLinks]:
        return provider, links
