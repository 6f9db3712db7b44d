"""A ledger's OAuth settings: its declared `OAuthSpec`, overridden by `[ledgers.NAME]`.

    [ledgers.exact]
    client_id = "1b2c..."                    # required for an OAuth ledger
    authorize_url = "https://start.exactonline.de/api/oauth2/auth"   # optional overrides
    token_url = "https://start.exactonline.de/api/oauth2/token"
    revoke_url = ""                          # empty: no revocation
    scopes = ["sales_invoices"]

The client secret never goes in the file: it comes from `CONNECTOR_<NAME>_CLIENT_SECRET`
(the ledger's name upper-cased, anything but letters and digits becoming `_`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from connector.errors import ConfigError
from connector.oauth.client import ClientCredentials
from connector.ports import OAuthSpec

_URL_KEYS = ("authorize_url", "token_url")
_SECONDS_KEYS = ("refresh_leeway_seconds", "min_token_age_seconds", "keepalive_seconds")


def secret_env_name(ledger: str) -> str:
    return "CONNECTOR_" + re.sub(r"[^A-Z0-9]", "_", ledger.upper()) + "_CLIENT_SECRET"


def _where(ledger: str, key: str) -> str:
    return f"[ledgers.{ledger}] {key}"


def _url(ledger: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        msg = f"{_where(ledger, key)}: expected an http(s) URL, got {value!r}"
        raise ConfigError(msg)
    return value


def resolve_spec(ledger: str, declared: OAuthSpec, section: Mapping[str, Any]) -> OAuthSpec:
    """The declared spec with the `[ledgers.NAME]` overrides applied and checked."""
    changes: dict[str, Any] = {}
    if declared.urls_follow and section.get(declared.urls_follow):
        base = urlsplit(_url(ledger, declared.urls_follow, section[declared.urls_follow]))
        for key in (*_URL_KEYS, "revoke_url"):
            if getattr(declared, key):
                own = urlsplit(getattr(declared, key))
                changes[key] = urlunsplit((base.scheme, base.netloc, *own[2:]))
    for key in _URL_KEYS:
        if key in section:
            changes[key] = _url(ledger, key, section[key])
    if "revoke_url" in section:
        value = section["revoke_url"]
        changes["revoke_url"] = _url(ledger, "revoke_url", value) if value else None
    if "scopes" in section:
        scopes = section["scopes"]
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            msg = f"{_where(ledger, 'scopes')}: expected a list of scope names, got {scopes!r}"
            raise ConfigError(msg)
        changes["scopes"] = tuple(scopes)
    for key in _SECONDS_KEYS:
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                msg = f"{_where(ledger, key)}: expected a number of seconds >= 0, got {value!r}"
                raise ConfigError(msg)
            changes[key] = float(value)
    spec = dataclasses.replace(declared, **changes)
    for key in _URL_KEYS:
        _url(ledger, key, getattr(spec, key))
    return spec


def client_credentials(
    ledger: str, section: Mapping[str, Any], environ: Mapping[str, str]
) -> ClientCredentials:
    """The client id from `[ledgers.NAME] client_id`, the secret from the environment.

    Raises:
        ConfigError: either is missing.
    """
    client_id = section.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        msg = (
            f"{_where(ledger, 'client_id')} is not set: register the connector as an app at "
            f"{ledger} and put its client id in the config file"
        )
        raise ConfigError(msg)
    env = secret_env_name(ledger)
    secret = environ.get(env, "").strip()
    if not secret:
        msg = f"{env} is not set: the client secret of the connector's {ledger} app"
        raise ConfigError(msg)
    return ClientCredentials(client_id=client_id.strip(), client_secret=secret)
