"""Adyen: standard webhooks with Basic auth and an HMAC signature on every notification item.

`create_provider` is the `adyen` entry point of `dunning_connector.providers`. Config:
`capture` ("auto", the default: a successful AUTHORISATION is the payment; "manual": the
CAPTURE is) and `require_basic_auth` (default true). The tenant's HMAC keys and
`basic:<user>:<password>` credentials come with each call. No HTTP client is needed: Adyen
sends everything in the notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from adapters.adyen.provider import AdyenProvider
from connector.errors import ConfigError

__all__ = ["AdyenProvider", "create_provider"]


def create_provider(config: Mapping[str, Any]) -> AdyenProvider:
    """The Adyen webhook verifier and parser.

    Raises:
        ConfigError: `capture` is not "auto" or "manual", or `require_basic_auth` not a bool.
    """
    capture = config.get("capture", "auto")
    if capture not in ("auto", "manual"):
        msg = f'adyen capture must be "auto" or "manual", got {capture!r}'
        raise ConfigError(msg)
    require = config.get("require_basic_auth", True)
    if not isinstance(require, bool):
        msg = f"adyen require_basic_auth must be true or false, got {require!r}"
        raise ConfigError(msg)
    return AdyenProvider(manual_capture=capture == "manual", require_basic_auth=require)


if TYPE_CHECKING:  # mypy checks that the class fills the core's port
    from connector.ports import PaymentProvider

    def _fills_the_port(provider: AdyenProvider) -> PaymentProvider:
        return provider
