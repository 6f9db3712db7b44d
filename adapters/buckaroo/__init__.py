"""Buckaroo: push messages, JSON (HMAC in the Authorization header) and form (`brq_signature`).

`create_provider` is the `buckaroo` entry point of `dunning_connector.providers`. Config
(`[providers.buckaroo]`):

- `public_base_url`: the scheme and host (and any path prefix) of the push URL Buckaroo was
  given, e.g. "https://pay.example.nl". The JSON push signs its URL; the path comes from the
  request (the edge passes it in `X-Connector-Request-Url`, `REQUEST_URL_HEADER`), the host
  never does. Required for JSON pushes; form pushes do not sign the URL.
- `timestamp_tolerance`: 0 (the default, no replay window; see `adapters.buckaroo.provider`)
  or at least four days (Buckaroo re-attempts a push for three days).

The tenant's secret key(s) come with each call. No HTTP client is needed: the push carries
the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from adapters.buckaroo.provider import DEFAULT_TOLERANCE
from adapters.buckaroo.provider import MIN_TOLERANCE
from adapters.buckaroo.provider import BuckarooProvider
from connector.errors import ConfigError
from connector.payments.model import REQUEST_URL_HEADER

__all__ = ["REQUEST_URL_HEADER", "BuckarooProvider", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> BuckarooProvider:
    """The Buckaroo push verifier and parser.

    Raises:
        ConfigError: `timestamp_tolerance` is neither 0 nor at least four days, or
            `public_base_url` is not an http(s) URL without query or fragment.
    """
    tolerance = config.get("timestamp_tolerance", DEFAULT_TOLERANCE)
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int)
        or (tolerance != 0 and tolerance < MIN_TOLERANCE)
    ):
        msg = (
            f"buckaroo timestamp_tolerance must be 0 (no window) or at least {MIN_TOLERANCE} "
            f"seconds (Buckaroo re-attempts a push for 3 days), got {tolerance!r}"
        )
        raise ConfigError(msg)
    base = config.get("public_base_url")
    if base is not None:
        parts = urlsplit(base) if isinstance(base, str) else None
        if (
            parts is None
            or parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.query
            or parts.fragment
        ):
            msg = (
                "buckaroo public_base_url must be the http(s) address Buckaroo was given, "
                f"such as https://pay.example.nl, got {base!r}"
            )
            raise ConfigError(msg)
    return BuckarooProvider(timestamp_tolerance=tolerance, public_base_url=base)


if TYPE_CHECKING:  # mypy checks that the class fills the core's port
    from connector.ports import PaymentProvider

    def _fills_the_port(provider: BuckarooProvider) -> PaymentProvider:
        return provider
