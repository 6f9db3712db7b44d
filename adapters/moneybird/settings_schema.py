"""The keys of `[ledgers.moneybird]`, for the core's up-front config check (`connector.config`).

Exactly what `adapters.moneybird.auth.settings_from_config` reads, plus the core's OAuth keys.
"""

from __future__ import annotations

from connector.config.base import DateValue
from connector.config.base import OAuthLedgerSection
from connector.config.base import PositiveNumber
from connector.config.base import Url


class MoneybirdLedgerSettings(OAuthLedgerSection):
    api_url: Url | None = None
    rate_limit_requests: PositiveNumber | None = None
    rate_limit_window_seconds: PositiveNumber | None = None
    max_wait_seconds: PositiveNumber | None = None
    max_attempts: PositiveNumber | None = None
    timeout_seconds: PositiveNumber | None = None
    open_items_since: DateValue | None = None
    payment_action: str | None = None
    payment_financial_account_id: str | int | None = None
    dispute_assignee_id: str | int | None = None


SETTINGS_SCHEMA = MoneybirdLedgerSettings
