"""The Twinfield ledger (Wolters Kluwer): OpenID Connect sign-in, SOAP and ProcessXml.

Registered as the `twinfield` entry point of `dunning_connector.ledgers`. The core signs in
with `OAUTH_SPEC` and hands the connection's tokens to `create_ledger`; `[ledgers.twinfield]`
settings (see `adapters.twinfield.auth.TwinfieldSettings`) reach it in `config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from adapters.twinfield.auth import OAUTH_SPEC
from adapters.twinfield.auth import ClusterResolver
from adapters.twinfield.auth import TwinfieldSettings
from adapters.twinfield.client import TwinfieldClient
from adapters.twinfield.ledger import TwinfieldLedger
from connector.ports import AccessTokens

__all__ = ["OAUTH_SPEC", "TwinfieldLedger", "create_ledger"]


def create_ledger(config: Mapping[str, Any], *, tokens: AccessTokens) -> TwinfieldLedger:
    """The Twinfield ledger for one connection.

    Raises:
        ConfigError: a `[ledgers.twinfield]` setting is wrong.
    """
    settings = TwinfieldSettings.from_config(config)
    session = requests.Session()
    resolver = ClusterResolver(
        settings.validation_url, session, timeout=min(settings.timeout_seconds, 30.0)
    )
    client = TwinfieldClient(
        tokens,
        resolver,
        session,
        credits_per_minute=settings.credits_per_minute,
        timeout=settings.timeout_seconds,
        attempts=settings.attempts,
        max_wait=settings.max_wait_seconds,
    )
    return TwinfieldLedger(client, settings)
