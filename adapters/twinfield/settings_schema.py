"""The keys of `[ledgers.twinfield]`, for the core's up-front config check (`connector.config`).

Exactly what `adapters.twinfield.auth.TwinfieldSettings.from_config` reads, plus the core's
OAuth keys.
"""

from __future__ import annotations

from connector.config.base import OAuthLedgerSection
from connector.config.base import PositiveInt
from connector.config.base import Seconds
from connector.config.base import Url
from connector.config.base import at_least
from connector.config.base import choice


class TwinfieldLedgerSettings(OAuthLedgerSection):
    validation_url: Url | None = None
    credits_per_minute: at_least(3) | None = None  # type: ignore[valid-type]
    finder_page_size: PositiveInt | None = None
    history_years: PositiveInt | None = None
    attempts: PositiveInt | None = None
    full_sync_hours: Seconds | None = None
    timeout_seconds: Seconds | None = None
    max_wait_seconds: Seconds | None = None
    payment_daybook: str | None = None
    receivables_account: str | None = None
    certified: bool | None = None  # Twinfield-certified app: 500 credits a minute, else 25
    bank_account: str | None = None  # the bank G/L account for the payment's total line
    debtor_full_days: Seconds | None = None  # a complete debtor pass after this many days
    default_debtor_kind: choice("business", "consumer") | None = None  # type: ignore[valid-type]


SETTINGS_SCHEMA = TwinfieldLedgerSettings
