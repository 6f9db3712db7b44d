"""Buckaroo: push messages, JSON (HMAC in the Authorization header) and form (`brq_signature`).

`create_provider` is the `buckaroo` entry point of `dunning_connector.providers`. Config:
`timestamp_tolerance` (seconds the JSON push's timestamp may differ from now; default 300,
0 switches the check off). The tenant's secret key(s) come with each call; the HTTP edge
passes the URL Buckaroo called in the `X-Connector-Request-Url` header (`REQUEST_URL_HEADER`),
because the JSON push signs it. No HTTP client is needed: the push carries the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from adapters.buckaroo.provider import DEFAULT_TOLERANCE
from adapters.buckaroo.provider import BuckarooProvider
from connector.errors import ConfigError
from connector.payments.model import REQUEST_URL_HEADER

__all__ = ["REQUEST_URL_HEADER", "BuckarooProvider", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> BuckarooProvider:
    """The Buckaroo push verifier and parser.

    Raises:
        ConfigError: `timestamp_tolerance` is not a whole number of seconds >= 0.
    """
    tolerance = config.get("timestamp_tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        msg = f"buckaroo timestamp_tolerance must be seconds (0 for none), got {tolerance!r}"
        raise ConfigError(msg)
    return BuckarooProvider(timestamp_tolerance=tolerance)


if TYPE_CHECKING:  # mypy checks that the class fills the core's port
    from connector.ports import PaymentProvider

    def _fills_the_port(provider: BuckarooProvider) -> PaymentProvider:
        return provider
