"""Signing in to Twinfield: the OpenID Connect spec, the settings, and cluster discovery.

Tokens come from Wolters Kluwer's identity server (`login.twinfield.com`); the core runs the
authorization-code flow from `OAUTH_SPEC` and refreshes the tokens. What the adapter adds is
the *cluster*: every SOAP call goes to the organisation's own cluster, whose URL the access-
token validation endpoint tells (`twf.clusterUrl`). `ClusterResolver` asks once per
connection and keeps the answer for the life of the ledger object; the client asks again when
a cluster answers that it is the wrong one (fault 108) or a fresh token is refused.

What was checked against public sources, and what was chosen:

- Scopes `openid twf.user twf.organisation twf.organisationUser offline_access`: the
  developers portal lists `twf.organisationUser` as needed for web services (fault 351
  "twf.organisationUserCode claim not found" without it), `twf.organisation` carries the
  cluster URL and `offline_access` the refresh token; Wolters Kluwer's own example
  authorize URL asks for exactly these five.
- The token endpoint takes the client credentials as HTTP Basic (`client_secret_basic`).
- PKCE is not documented for Twinfield, so it is not sent.
- Refresh tokens live for years; no keep-alive is needed.
- The validation endpoint is called with `?token=` and no client credentials, as the open-
  source clients (php-twinfield, zypp-io) do: the adapter never holds the client secret.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from connector.errors import AuthError
from connector.errors import ConfigError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.ports import OAuthSpec

logger = logging.getLogger(__name__)

LOGIN = "https://login.twinfield.com/auth/authentication/connect"
AUTHORIZE_URL = f"{LOGIN}/authorize"
TOKEN_URL = f"{LOGIN}/token"
VALIDATION_URL = f"{LOGIN}/accesstokenvalidation"

SCOPES = ("openid", "twf.user", "twf.organisation", "twf.organisationUser", "offline_access")

OAUTH_SPEC = OAuthSpec(
    authorize_url=AUTHORIZE_URL,
    token_url=TOKEN_URL,
    scopes=SCOPES,
    pkce=False,
    refresh_leeway_seconds=120.0,  # access tokens live one hour
    token_auth="client_secret_basic",  # noqa: S106 - a method, not a secret
)

# The fair-use policy's tiers (see `adapters.twinfield.budget`): 25 credits a minute unless
# the app is certified (`certified = true`), 500 then.
UNCERTIFIED_PER_MINUTE = 25
CERTIFIED_PER_MINUTE = 500
DEBTOR_KINDS = ("business", "consumer")


@dataclass(frozen=True, slots=True)
class TwinfieldSettings:
    """`[ledgers.twinfield]` plus the connection's own config (see the README)."""

    validation_url: str = VALIDATION_URL
    certified: bool = False  # Wolters Kluwer certified the app: the 500-credit tier
    credits_per_minute: int = UNCERTIFIED_PER_MINUTE  # the tier, or a lower figure given
    finder_page_size: int = 25  # Wolters Kluwer's best practice for the Finder
    history_years: int = 10  # book years searched for open items
    full_sync_hours: float = 24.0  # an incremental item sync turns complete after this
    debtor_full_days: float = 7.0  # a complete debtor pass (hidden ones too) after this
    payment_daybook: str = "BNK"
    receivables_account: str = "1300"
    bank_account: str = ""  # the bank G/L account for the total line; "" = the daybook's own
    default_debtor_kind: str = "consumer"  # for a debtor without VAT or KvK number
    timeout_seconds: float = 120.0
    attempts: int = 4  # per call, for 5xx, timeouts and 429
    max_wait_seconds: float = 120.0  # longer waits become RateLimited for the caller

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TwinfieldSettings:
        """Read and check the settings; unknown keys (the OAuth ones) are ignored.

        Raises:
            ConfigError: a value of the wrong type or out of range.
        """
        values: dict[str, Any] = {}
        certified = config.get("certified", False)
        if not isinstance(certified, bool):
            msg = f"{_where('certified')}: expected true or false, got {certified!r}"
            raise ConfigError(msg)
        tier = CERTIFIED_PER_MINUTE if certified else UNCERTIFIED_PER_MINUTE
        values["certified"] = certified
        values["credits_per_minute"] = tier
        if "validation_url" in config:
            values["validation_url"] = _url("validation_url", config["validation_url"])
        for key, low in (
            ("credits_per_minute", 3),
            ("finder_page_size", 1),
            ("history_years", 1),
            ("attempts", 1),
        ):
            if key in config:
                values[key] = _integer(key, config[key], low)
        if values["credits_per_minute"] > tier:
            msg = (
                f"{_where('credits_per_minute')}: {values['credits_per_minute']} is more than "
                f"Twinfield allows this app ({tier} a minute"
                + ("" if certified else "; set certified = true once the app is certified")
                + ")"
            )
            raise ConfigError(msg)
        for key in ("full_sync_hours", "debtor_full_days", "timeout_seconds", "max_wait_seconds"):
            if key in config:
                values[key] = _number(key, config[key])
        for key in ("payment_daybook", "receivables_account", "bank_account"):
            if key in config:
                values[key] = _code(key, config[key])
        if "default_debtor_kind" in config:
            kind = config["default_debtor_kind"]
            if kind not in DEBTOR_KINDS:
                msg = (
                    f"{_where('default_debtor_kind')}: expected business or consumer, got {kind!r}"
                )
                raise ConfigError(msg)
            values["default_debtor_kind"] = kind
        return cls(**values)


def _where(key: str) -> str:
    return f"[ledgers.twinfield] {key}"


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        msg = f"{_where(key)}: expected an http(s) URL, got {value!r}"
        raise ConfigError(msg)
    return value


def _integer(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{_where(key)}: expected a whole number >= {low}, got {value!r}"
        raise ConfigError(msg)
    return value


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{_where(key)}: expected a number > 0, got {value!r}"
        raise ConfigError(msg)
    return float(value)


def _code(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 16:
        msg = f"{_where(key)}: expected a Twinfield code such as 'BNK', got {value!r}"
        raise ConfigError(msg)
    return value.strip()


class TokenRefused(Exception):  # noqa: N818 - a signal to the client, not an error for people
    """The validation endpoint does not know the token: get a newer one and ask again."""


@dataclass(frozen=True, slots=True)
class Cluster:
    url: str  # without a trailing slash, e.g. https://api.accounting2.twinfield.com
    organisation: str = ""


class ClusterResolver:
    """The connection's cluster URL, from the validation endpoint, cached until invalidated."""

    def __init__(
        self, validation_url: str, session: requests.Session, *, timeout: float = 30.0
    ) -> None:
        self.validation_url = validation_url
        self._session = session
        self._timeout = timeout
        self._cluster: Cluster | None = None
        self._lock = threading.Lock()
        self.lookups = 0  # validation calls made (for the benchmark)

    def cached(self) -> Cluster | None:
        return self._cluster

    def invalidate(self) -> None:
        with self._lock:
            self._cluster = None

    def cluster(self, access_token: str) -> Cluster:
        """The cluster for this connection, asking the validation endpoint when unknown.

        Raises:
            TokenRefused: the endpoint does not accept the token (400/401).
            RateLimited, RetriableLedgerError, AuthError: see `_lookup`.
        """
        with self._lock:
            if self._cluster is None:
                self._cluster = self._lookup(access_token)
            return self._cluster

    def _lookup(self, access_token: str) -> Cluster:
        self.lookups += 1
        try:
            response = self._session.get(
                self.validation_url, params={"token": access_token}, timeout=self._timeout
            )
        except requests.RequestException as exc:
            # Never the exception's text: it holds the URL, and so the token.
            msg = f"Twinfield's token validation could not be reached ({type(exc).__name__})"
            raise RetriableLedgerError(msg) from None
        status = response.status_code
        if status in (400, 401):
            raise TokenRefused
        if status == 429:
            msg = "Twinfield's token validation asked to slow down"
            raise RateLimited(msg, retry_after=_seconds(response.headers.get("Retry-After")))
        if status >= 500:
            msg = f"Twinfield's token validation failed ({status}); try again later"
            raise RetriableLedgerError(msg, status=status)
        try:
            body = response.json()
        except ValueError:
            body = None
        url = body.get("twf.clusterUrl") if isinstance(body, dict) else None
        if status != 200 or not isinstance(url, str) or not self._acceptable(url):
            msg = (
                "Twinfield's token validation gave no usable cluster URL "
                f"(HTTP {status}); the connection needs the twf.organisation scope: "
                "connect again"
            )
            raise AuthError(msg)
        organisation = body.get("twf.organisationCode", "") if isinstance(body, dict) else ""
        cluster = Cluster(url.rstrip("/"), str(organisation or ""))
        logger.info("Twinfield organisation %s is on cluster %s", cluster.organisation, cluster.url)
        return cluster

    def _acceptable(self, url: str) -> bool:
        """An https URL; plain http only when the validation endpoint is itself http (a test
        server), so a token is never sent in the clear to a real cluster."""
        parts = urlsplit(url)
        if not parts.netloc:
            return False
        if parts.scheme == "https":
            return True
        return parts.scheme == "http" and urlsplit(self.validation_url).scheme == "http"


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
