"""How the connector signs in to Exact Online, and the `[ledgers.exact]` settings.

OAuth2 authorization code at the country host (`api_url`, default
`https://start.exactonline.nl`): `/api/oauth2/auth` and `/api/oauth2/token`. The OAuth URLs
follow `api_url` unless `authorize_url` / `token_url` are set themselves
(`OAuthSpec.urls_follow`).

Token rules (the core applies them; this spec declares them):
- an access token lives 10 minutes and may not be refreshed before it is 570 s old, so the
  core refreshes at 570 s (`refresh_leeway_seconds=30`), never on a 401;
- every refresh rotates the refresh token; the old one is dead at once ("Old refresh token
  used"), which the core's vault handles under its per-connection lock;
- at most 200 token calls per user per day: one refresh per 9.5 minutes of use is ~150;
- an unused refresh token dies after about 30 days: the keep-alive refreshes after 25.

No scopes (an Exact app's rights come from its registration and the user's rights) and no
PKCE (Exact's authorize endpoint does not document it; it is not sent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import Any
from typing import Literal

from connector.errors import ConfigError
from connector.ports import OAuthSpec

DEFAULT_API_URL = "https://start.exactonline.nl"
AUTHORIZE_PATH = "/api/oauth2/auth"
TOKEN_PATH = "/api/oauth2/token"  # noqa: S105 - a path, not a secret

#: Exact's country hosts (the `api_url` of a tenant hosted there).
COUNTRY_HOSTS: Mapping[str, str] = MappingProxyType(
    {
        "NL": "https://start.exactonline.nl",
        "BE": "https://start.exactonline.be",
        "DE": "https://start.exactonline.de",
        "GB": "https://start.exactonline.co.uk",
        "US": "https://start.exactonline.com",
        "ES": "https://start.exactonline.es",
        "FR": "https://start.exactonline.fr",
    }
)

OAUTH_SPEC = OAuthSpec(
    authorize_url=DEFAULT_API_URL + AUTHORIZE_PATH,
    token_url=DEFAULT_API_URL + TOKEN_PATH,
    scopes=(),
    pkce=False,
    refresh_leeway_seconds=30.0,  # 600 s tokens: refresh at 570 s, the earliest allowed
    min_token_age_seconds=570.0,
    keepalive_seconds=25 * 86400.0,  # refresh tokens die after ~30 days unused
    token_auth="client_secret_post",  # noqa: S106 - a method name, not a secret
    urls_follow="api_url",
)

MatchPayments = Literal["none", "xml"]
PaymentEntry = Literal["bank", "cash"]


@dataclass(frozen=True, slots=True)
class ExactSettings:
    """`[ledgers.exact]` plus the connection's own config, checked."""

    api_url: str = DEFAULT_API_URL
    # Which divisions a connection syncs; empty: every active division the user may open.
    divisions: tuple[str, ...] = ()
    # Write-back: the bank (or cash) journal the payment entries go into, per division when
    # `payment_journals` names one, else `payment_journal`.
    payment_journal: str = ""
    payment_journals: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    payment_entry: PaymentEntry = "bank"
    match_payments: MatchPayments = "none"
    # The code of the receivables (debtors) G/L account the payment lines are booked on and
    # matches are made on, per division when `receivables_gl_codes` names one. Optional:
    # without it the account is found in Exact (see `adapters.exact.glaccounts`).
    receivables_gl_code: str = ""
    receivables_gl_codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Rate limits: what to keep free, and when to stop.
    minutely_reserve: int = 2
    daily_reserve: int = 500
    daily_budget: int | None = None  # a cap for the whole connection, spread over divisions
    breaker_errors: int = 5  # Exact blocks an endpoint after 10 errors in an hour
    breaker_window_seconds: float = 3600.0
    rate_limit_wait_seconds: float = 60.0  # a 429 without reset headers: wait this long
    max_wait_seconds: float = 120.0  # never sleep longer than this for a minutely reset
    # Re-read the whole open-items list this often; in between the sync endpoints tell what
    # changed. Weekly: Exact's fair-use text names a daily full download as excessive.
    full_sync_hours: float = 168.0
    timeout_seconds: float = 30.0
    retries: int = 4
    retry_wait_seconds: float = 1.0  # tenacity's first backoff step (with jitter)
    webhook_topics: tuple[str, ...] = ("Accounts", "FinancialTransactions")

    def journal_for(self, division: str) -> str:
        return self.payment_journals.get(division, self.payment_journal)

    def gl_code_for(self, division: str) -> str:
        return self.receivables_gl_codes.get(division, self.receivables_gl_code)


def _where(key: str) -> str:
    return f"[ledgers.exact] {key}"


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+/?$", value.strip()):
        msg = f"{_where(key)}: expected a base URL such as {DEFAULT_API_URL}, got {value!r}"
        raise ConfigError(msg)
    return value.strip().rstrip("/")


def _int(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{_where(key)}: expected a whole number >= {minimum}, got {value!r}"
        raise ConfigError(msg)
    return value


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        msg = f"{_where(key)}: expected a number of seconds >= 0, got {value!r}"
        raise ConfigError(msg)
    return float(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        msg = f"{_where(key)}: expected a string, got {value!r}"
        raise ConfigError(msg)
    return value.strip()


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        msg = f"{_where(key)}: expected one of {', '.join(choices)}, got {value!r}"
        raise ConfigError(msg)
    return str(value)


def _divisions(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v.isdigit())
        for v in value
    ):
        msg = f"{_where('divisions')}: expected a list of division numbers, got {value!r}"
        raise ConfigError(msg)
    return tuple(str(v) for v in value)


def _per_division(key: str, table: Any, what: str) -> Mapping[str, str]:
    if not isinstance(table, Mapping) or not all(
        str(k).isdigit() and isinstance(v, str) and v.strip() for k, v in table.items()
    ):
        msg = f"{_where(key)}: expected a table of division = {what} code, got {table!r}"
        raise ConfigError(msg)
    return MappingProxyType({str(k): v.strip() for k, v in table.items()})


def settings_from(config: Mapping[str, Any]) -> ExactSettings:
    """The settings from `[ledgers.exact]` and the connection's config.

    Raises:
        ConfigError: a value is missing or wrong; the message names the key.
    """
    changes: dict[str, Any] = {}
    if "api_url" in config:
        changes["api_url"] = _url("api_url", config["api_url"])
    if "divisions" in config:
        changes["divisions"] = _divisions(config["divisions"])
    for key in ("payment_journal", "receivables_gl_code"):
        if key in config:
            changes[key] = _string(key, config[key])
    for key, what in (("payment_journals", "journal"), ("receivables_gl_codes", "G/L account")):
        if key in config:
            changes[key] = _per_division(key, config[key], what)
    if "payment_gl_account" in config:
        # A GUID differs per division and cannot be checked by a person; the code can.
        msg = (
            f"{_where('payment_gl_account')} (a G/L account ID) is no longer read: the "
            f"receivables account is found in Exact; to choose it, set "
            f'{_where("receivables_gl_code")} to its code (e.g. "1300")'
        )
        raise ConfigError(msg)
    if "payment_entry" in config:
        changes["payment_entry"] = _choice(
            "payment_entry", config["payment_entry"], ("bank", "cash")
        )
    if "match_payments" in config:
        changes["match_payments"] = _choice(
            "match_payments", config["match_payments"], ("none", "xml")
        )
    for key, minimum in (
        ("minutely_reserve", 0),
        ("daily_reserve", 0),
        ("breaker_errors", 1),
        ("retries", 1),
    ):
        if key in config:
            changes[key] = _int(key, config[key], minimum)
    if "breaker_errors" in changes and changes["breaker_errors"] >= 10:
        msg = f"{_where('breaker_errors')}: must stay below 10, where Exact blocks the app"
        raise ConfigError(msg)
    if config.get("daily_budget") is not None:
        changes["daily_budget"] = _int("daily_budget", config["daily_budget"], 1)
    for key in (
        "breaker_window_seconds",
        "rate_limit_wait_seconds",
        "max_wait_seconds",
        "timeout_seconds",
        "retry_wait_seconds",
    ):
        if key in config:
            changes[key] = _seconds(key, config[key])
    if "full_sync_hours" in config:
        changes["full_sync_hours"] = _seconds("full_sync_hours", config["full_sync_hours"])
    if "webhook_topics" in config:
        topics = config["webhook_topics"]
        if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
            msg = f"{_where('webhook_topics')}: expected a list of topic names, got {topics!r}"
            raise ConfigError(msg)
        changes["webhook_topics"] = tuple(topics)
    return ExactSettings(**changes)


def oauth_urls(api_url: str) -> tuple[str, str]:
    """The authorize and token URLs at a country host."""
    base = api_url.rstrip("/")
    return base + AUTHORIZE_PATH, base + TOKEN_PATH
