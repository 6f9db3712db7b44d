"""Signing in to Moneybird, and the `[ledgers.moneybird]` settings.

OAuth2 authorization code (developer.moneybird.com/authentication): the authorize and token
endpoints on moneybird.com, the client authenticating with `client_id` and `client_secret` in
the token request's body (Moneybird's own CLI does exactly that), scopes space-separated.
`sales_invoices` covers what this connector reads and writes: contacts, sales invoices,
external sales invoices, their payments and notes. Moneybird documents no PKCE, so none is
sent. Access tokens "currently do not expire"; when a token answer carries `expires_in` the
core refreshes before expiry, otherwise on a 401. No revocation endpoint is documented.

Every URL is a setting with the real default, so the same code runs against a test server:

    [ledgers.moneybird]
    client_id = "..."                         # the secret: CONNECTOR_MONEYBIRD_CLIENT_SECRET
    api_url = "https://moneybird.com/api/v2"
    rate_limit_requests = 150                 # Moneybird: 150 requests per 5 minutes
    rate_limit_window_seconds = 300
    open_items_since = "2000-01-01"           # the oldest invoice date that is still read
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from datetime import date
from typing import Any

from connector.errors import ConfigError
from connector.ports import OAuthSpec

logger = logging.getLogger(__name__)

AUTHORIZE_URL = "https://moneybird.com/oauth/authorize"
TOKEN_URL = "https://moneybird.com/oauth/token"  # noqa: S105 - a URL, not a secret
API_URL = "https://moneybird.com/api/v2"

OAUTH_SPEC = OAuthSpec(
    authorize_url=AUTHORIZE_URL,
    token_url=TOKEN_URL,
    scopes=("sales_invoices",),
    pkce=False,
    refresh_leeway_seconds=60.0,
    revoke_url=None,
    token_auth="client_secret_post",  # noqa: S106 - a method, not a secret
)

# What `manual_payment_action` may be on a payment (openapi: sales invoice payments).
PAYMENT_ACTIONS = frozenset(
    {
        "private_payment",
        "payment_without_proof",
        "cash_payment",
        "rounding_error",
        "bank_transfer",
        "balance_settlement",
        "invoices_settlement",
    }
)

# Keys of `[ledgers.moneybird]` that belong to the core's OAuth handling, not to the adapter.
_OAUTH_KEYS = frozenset(
    {
        "client_id",
        "authorize_url",
        "token_url",
        "revoke_url",
        "scopes",
        "refresh_leeway_seconds",
        "min_token_age_seconds",
        "keepalive_seconds",
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """The adapter's settings, checked.

    - `api_url`: the API root, up to and including `/api/v2`.
    - `rate_limit_requests` per `rate_limit_window_seconds`: the client never sends more.
    - `max_wait_seconds`: the longest a single request waits for the rate limit (a 429's
      Retry-After); longer, and the call fails with `RateLimited` for the caller to retry.
    - `max_attempts`: tries per request for 429, 5xx and network failures.
    - `timeout_seconds`: connect and read timeout of one HTTP request.
    - `open_items_since`: the oldest invoice date read (Moneybird's `period` filter defaults
      to this year; we always send an explicit period from this date).
    - `payment_action`, `payment_financial_account_id`: optional fields of written payments.
    - `dispute_assignee_id`: the Moneybird user who gets the dispute to-do (optional).
    """

    api_url: str = API_URL
    rate_limit_requests: int = 150
    rate_limit_window_seconds: float = 300.0
    max_wait_seconds: float = 330.0
    max_attempts: int = 5
    timeout_seconds: float = 30.0
    open_items_since: date = date(2000, 1, 1)
    payment_action: str | None = None
    payment_financial_account_id: str | None = None
    dispute_assignee_id: str | None = None


def _where(key: str) -> str:
    return f"[ledgers.moneybird] {key}"


def _number(config: Mapping[str, Any], key: str, default: float, *, integer: bool) -> Any:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{_where(key)}: expected a number > 0, got {value!r}"
        raise ConfigError(msg)
    if integer:
        if int(value) != value:
            msg = f"{_where(key)}: expected a whole number, got {value!r}"
            raise ConfigError(msg)
        return int(value)
    return float(value)


def _optional_id(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        msg = f"{_where(key)}: expected a Moneybird id (digits), got {value!r}"
        raise ConfigError(msg)
    return text


def _api_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        msg = f"{_where('api_url')}: expected an http(s) URL, got {value!r}"
        raise ConfigError(msg)
    return value.rstrip("/")


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """`[ledgers.moneybird]` plus the connection's config, checked.

    Raises:
        ConfigError: a setting has the wrong type or value.
    """
    known = {f.name for f in fields(Settings)} | _OAUTH_KEYS
    unknown = sorted(k for k in config if k not in known)
    if unknown:
        logger.warning("[ledgers.moneybird]: ignoring unknown settings %s", ", ".join(unknown))
    since_raw = config.get("open_items_since", "2000-01-01")
    try:
        since = since_raw if isinstance(since_raw, date) else date.fromisoformat(str(since_raw))
    except ValueError:
        msg = f"{_where('open_items_since')}: expected a date like 2000-01-01, got {since_raw!r}"
        raise ConfigError(msg) from None
    action = config.get("payment_action") or None
    if action is not None and action not in PAYMENT_ACTIONS:
        msg = (
            f"{_where('payment_action')}: expected one of {', '.join(sorted(PAYMENT_ACTIONS))}, "
            f"got {action!r}"
        )
        raise ConfigError(msg)
    return Settings(
        api_url=_api_url(config.get("api_url", API_URL)),
        rate_limit_requests=_number(config, "rate_limit_requests", 150, integer=True),
        rate_limit_window_seconds=_number(config, "rate_limit_window_seconds", 300, integer=False),
        max_wait_seconds=_number(config, "max_wait_seconds", 330, integer=False),
        max_attempts=_number(config, "max_attempts", 5, integer=True),
        timeout_seconds=_number(config, "timeout_seconds", 30, integer=False),
        open_items_since=since,
        payment_action=action,
        payment_financial_account_id=_optional_id(config, "payment_financial_account_id"),
        dispute_assignee_id=_optional_id(config, "dispute_assignee_id"),
    )
