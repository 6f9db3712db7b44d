"""The Moneybird ledger: contacts and unpaid (external) sales invoices over Moneybird's API.

Registered as the `moneybird` entry point of `dunning_connector.ledgers`. It signs in with
OAuth2 (`OAUTH_SPEC`), the core hands the factory the connection's tokens, and Moneybird's
webhooks are verified by `WEBHOOKS`. Settings: `[ledgers.moneybird]`, see `adapters.moneybird.auth`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.moneybird.auth import OAUTH_SPEC
from adapters.moneybird.auth import settings_from_config
from adapters.moneybird.client import MoneybirdClient
from adapters.moneybird.ledger import MoneybirdLedger
from adapters.moneybird.webhooks import WEBHOOKS
from connector.ports import AccessTokens

__all__ = ["OAUTH_SPEC", "WEBHOOKS", "MoneybirdLedger", "create_ledger"]


def create_ledger(config: Mapping[str, Any], *, tokens: AccessTokens) -> MoneybirdLedger:
    """The Moneybird ledger for one connection.

    Raises:
        ConfigError: a `[ledgers.moneybird]` setting is wrong.
    """
    settings = settings_from_config(config)
    return MoneybirdLedger(MoneybirdClient(settings, tokens), settings)
