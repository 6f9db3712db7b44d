"""The keys of `[ledgers.exact]`, for the core's up-front config check (`connector.config`).

Exactly what `adapters.exact.auth.settings_from` reads, plus the core's OAuth keys; the
semantic checks (GUIDs, `match_payments = "xml"` needing `receivables_gl_code`) stay there.
"""

from __future__ import annotations

from connector.config.base import NonNegativeInt
from connector.config.base import OAuthLedgerSection
from connector.config.base import PositiveInt
from connector.config.base import Seconds
from connector.config.base import at_least
from connector.config.base import choice


class ExactLedgerSettings(OAuthLedgerSection):
    api_url: str | None = None  # the country host; the OAuth URLs follow it
    divisions: list[int | str] | None = None
    payment_journal: str | None = None
    payment_journals: dict[str, str] | None = None
    payment_entry: choice("bank", "cash") | None = None  # type: ignore[valid-type]
    payment_gl_account: str | None = None  # no longer read: the adapter says what to use
    match_payments: choice("none", "xml") | None = None  # type: ignore[valid-type]
    receivables_gl_code: str | None = None
    receivables_gl_codes: dict[str, str] | None = None  # per division: a G/L account code
    minutely_reserve: NonNegativeInt | None = None
    daily_reserve: NonNegativeInt | None = None
    daily_budget: PositiveInt | None = None
    breaker_errors: at_least(1) | None = None  # type: ignore[valid-type]
    breaker_window_seconds: Seconds | None = None
    rate_limit_wait_seconds: Seconds | None = None
    max_wait_seconds: Seconds | None = None
    full_sync_hours: Seconds | None = None
    timeout_seconds: Seconds | None = None
    retries: PositiveInt | None = None
    retry_wait_seconds: Seconds | None = None
    webhook_topics: list[str] | None = None


SETTINGS_SCHEMA = ExactLedgerSettings
