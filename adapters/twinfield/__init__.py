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
from adapters.twinfield.budget import PROCESS_BUDGETS
from adapters.twinfield.budget import Budgets
from adapters.twinfield.client import TwinfieldClient
from adapters.twinfield.ledger import TwinfieldLedger
from connector.ports import AccessTokens

__all__ = ["OAUTH_SPEC", "TwinfieldLedger", "create_ledger"]


def create_ledger(
    config: Mapping[str, Any], *, tokens: AccessTokens, budgets: Budgets | None = None
) -> TwinfieldLedger:
    """The Twinfield ledger for one connection.

    Its credit budget is the ClientId's, shared with every other Twinfield connection of the
    process (`budgets`, by default `PROCESS_BUDGETS`). The ClientId is keyed by the identity
    server and `client_id` when the config carries it (the core keeps the client id to
    itself, and one `[ledgers.twinfield]` table is one app registration, so one ClientId).

    Raises:
        ConfigError: a `[ledgers.twinfield]` setting is wrong.
    """
    settings = TwinfieldSettings.from_config(config)
    client_id = config.get("client_id")
    key = f"{settings.validation_url}#{client_id if isinstance(client_id, str) else ''}"
    budget = (budgets or PROCESS_BUDGETS).for_client(key, settings.credits_per_minute)
    session = requests.Session()
    resolver = ClusterResolver(
        settings.validation_url, session, timeout=min(settings.timeout_seconds, 30.0)
    )
    client = TwinfieldClient(
        tokens,
        resolver,
        session,
        budget=budget,
        timeout=settings.timeout_seconds,
        attempts=settings.attempts,
        max_wait=settings.max_wait_seconds,
    )
    return TwinfieldLedger(client, settings)
