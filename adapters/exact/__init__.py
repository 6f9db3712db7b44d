"""The Exact Online ledger.

Registered as the `exact` entry point of `dunning_connector.ledgers`. The core signs in with
`OAUTH_SPEC` and hands the connection's tokens to `create_ledger(config, tokens=...)`;
`config` is the `[ledgers.exact]` table plus the connection's own config (see
`adapters.exact.auth.settings_from`). `WEBHOOKS` verifies Exact's webhook deliveries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.exact.auth import OAUTH_SPEC
from adapters.exact.auth import settings_from
from adapters.exact.ledger import ExactLedger
from adapters.exact.webhooks import WEBHOOKS
from connector.ports import AccessTokens

__all__ = ["OAUTH_SPEC", "WEBHOOKS", "ExactLedger", "create_ledger"]


def create_ledger(config: Mapping[str, Any], *, tokens: AccessTokens) -> ExactLedger:
    """The Exact ledger for one connection.

    Raises:
        ConfigError: a `[ledgers.exact]` setting is wrong.
    """
    return ExactLedger(settings_from(config), tokens)
