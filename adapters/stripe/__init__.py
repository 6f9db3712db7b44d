"""Stripe: signed webhooks (`Stripe-Signature`) and Payment Links for reminders.

`create_provider` is the `stripe` entry point of `dunning_connector.providers`. Its config
takes `tolerance` (seconds a signature's timestamp may differ from now; default 300). The
tenant's endpoint secrets (`whsec_...`, several while rolling) come with each call.
`create_links` builds the payment-link side from `api_key`, `api_url`, `redirect_url`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from adapters.stripe.links import LinkStore
from adapters.stripe.links import StripePaymentLinks
from adapters.stripe.links import links_from_config
from adapters.stripe.provider import DEFAULT_TOLERANCE
from adapters.stripe.provider import StripeProvider
from connector.errors import ConfigError

__all__ = ["StripePaymentLinks", "StripeProvider", "create_links", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> StripeProvider:
    """The Stripe webhook verifier and parser.

    Raises:
        ConfigError: `tolerance` is not a positive whole number of seconds.
    """
    tolerance = config.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance <= 0:
        msg = f"stripe tolerance must be a positive number of seconds, got {tolerance!r}"
        raise ConfigError(msg)
    return StripeProvider(tolerance=tolerance)


def create_links(config: Mapping[str, Any], store: LinkStore | None = None) -> StripePaymentLinks:
    """Stripe Payment Links for dunning letters (see `adapters.stripe.links`)."""
    return links_from_config(config, store)


if TYPE_CHECKING:  # mypy checks that the classes fill the core's ports
    from connector.channels.base import PaymentLinks
    from connector.ports import PaymentProvider

    def _fills_the_ports(
        provider: StripeProvider, links: StripePaymentLinks
    ) -> tuple[PaymentProvider, PaymentLinks]:
        return provider, links
