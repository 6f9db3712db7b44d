"""Mollie: classic webhooks (fetch the payment), signed next-gen webhooks, and payment links.

`create_provider` is the `mollie` entry point of `dunning_connector.providers`. Its config
takes `api_url` (default https://api.mollie.com) and `timeout` (seconds per API call,
default 5, well inside the 15 seconds Mollie waits). The tenant's API key and next-gen
signing secrets come with each call. `create_links` builds the payment-link side from
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
from adapters.mollie.provider import MollieProvider
from connector.errors import ConfigError

__all__ = ["MolliePaymentLinks", "MollieProvider", "create_links", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> MollieProvider:
    """The Mollie webhook verifier and parser.

    Raises:
        ConfigError: `api_url` is not an http(s) URL or `timeout` not a positive number.
    """
    api_url = config.get("api_url", DEFAULT_API_URL)
    if not isinstance(api_url, str) or not api_url.startswith(("https://", "http://")):
        msg = f"mollie api_url must be an http(s) URL, got {api_url!r}"
        raise ConfigError(msg)
    timeout = config.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        msg = f"mollie timeout must be a positive number of seconds, got {timeout!r}"
        raise ConfigError(msg)

    @lru_cache(maxsize=128)  # one client (and its connection pool) per tenant key
    def client(api_key: str) -> MollieClient:
        return MollieClient(api_key, api_url=api_url, timeout=float(timeout))

    return MollieProvider(client)


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
