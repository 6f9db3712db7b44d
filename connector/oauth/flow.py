"""The authorization-code flow, the same for the CLI and the hosted app.

`begin` makes the authorize URL (a fresh `state`, and an S256 PKCE challenge where the ledger
takes one). `complete` checks the answer — an error from the provider, then the state, in
constant time — exchanges the code, and stores the connection with its tokens encrypted, in
one transaction. `discover` then asks the ledger which administrations the grant reaches.

The hosted app cannot keep the state in memory between two requests, so `begin_hosted`
stores the sign-in (state hashed, verifier encrypted, bound to the browser by a cookie) and
`resume_hosted` takes it back exactly once.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from connector.errors import AuthError
from connector.errors import ConfigError
from connector.oauth import records
from connector.oauth.client import TokenFailure
from connector.oauth.service import OAuthLedgers
from connector.store import records as store_records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord
from connector.sync import discover as sync_discover

PENDING_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Authorization:
    """A sign-in in progress. `url` is where the user approves it."""

    ledger: str
    name: str
    redirect_uri: str
    url: str = field(repr=False)
    state: str = field(repr=False)
    code_verifier: str | None = field(repr=False)


def _printable(value: str, limit: int = 120) -> str:
    return "".join(ch for ch in value if ch.isprintable())[:limit]


def _check_name(oauth: OAuthLedgers, name: str, ledger: str) -> None:
    if not name.strip() or len(name) > 100:
        msg = f"a connection name must be 1 to 100 characters, got {name!r}"
        raise ConfigError(msg)
    with oauth.store.begin() as conn:
        existing = {c.name: c.ledger for c in store_records.list_connections(conn)}
    if existing.get(name, ledger) != ledger:
        msg = (
            f"a connection named {name!r} already exists for the {existing[name]} ledger; "
            "choose another --name"
        )
        raise ConfigError(msg)


def begin(oauth: OAuthLedgers, ledger: str, name: str, redirect_uri: str) -> Authorization:
    """Start a sign-in; everything that can be checked before the browser opens, is.

    Raises:
        ConfigError: not an OAuth ledger, client id or secret or vault key missing, or the
            name belongs to a connection of another ledger.
    """
    client = oauth.client(ledger)
    oauth.vault  # noqa: B018 - a missing or wrong key must stop us before the browser opens
    _check_name(oauth, name, ledger)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if client.spec.pkce else None
    url = client.authorization_url(redirect_uri, state, verifier)
    return Authorization(ledger, name, redirect_uri, url, state, verifier)


def raise_if_denied(ledger: str, params: Mapping[str, str]) -> None:
    """The provider's own "no" (access_denied, an expired login, ...).

    Raises:
        AuthError: the callback carries an error.
    """
    error = params.get("error")
    if error:
        description = _printable(params.get("error_description", ""))
        detail = _printable(error, 60) + (f": {description}" if description else "")
        msg = f"{ledger} did not grant access ({detail}); nothing was stored"
        raise AuthError(msg)


def complete(
    oauth: OAuthLedgers, auth: Authorization, params: Mapping[str, str]
) -> ConnectionRecord:
    """Check the callback, exchange the code and store the connection and its tokens.

    Raises:
        AuthError: denied, a state that does not match, no code, or the code was refused.
    """
    raise_if_denied(auth.ledger, params)
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode("utf-8"), auth.state.encode("utf-8")):
        msg = (
            f"the answer from {auth.ledger} does not belong to this sign-in (wrong state); "
            "nothing was stored; start again"
        )
        raise AuthError(msg)
    code = params.get("code", "")
    if not code:
        msg = f"the answer from {auth.ledger} carries no authorization code; start again"
        raise AuthError(msg)
    client = oauth.client(auth.ledger)
    try:
        tokens = client.exchange(code, auth.redirect_uri, auth.code_verifier)
    except TokenFailure as failure:
        msg = (
            f"{auth.ledger} did not accept the authorization ({failure.summary}); "
            "it may have expired; nothing was stored; start again"
        )
        raise AuthError(msg) from None
    now = oauth.clock()
    with oauth.store.begin() as conn:
        # Connecting again keeps the connection's own config; only the grant is new.
        before = {c.name: c for c in store_records.list_connections(conn)}.get(auth.name)
        config = before.config if before is not None and before.ledger == auth.ledger else {}
        connection = store_records.save_connection(
            conn, name=auth.name, ledger=auth.ledger, config=config, now=now
        )
        records.save_tokens(conn, connection.id, tokens, oauth.vault, now, refreshed=False)
        records.set_status(conn, connection.id, records.ACTIVE, "", now)
    oauth.forget(connection.id)
    return connection


def discover(oauth: OAuthLedgers, connection: ConnectionRecord) -> list[AdministrationRecord]:
    """Ask the ledger which administrations the connection reaches, and record them."""
    return sync_discover(oauth.store, connection, oauth.open_ledger(connection))


# --- the hosted flow ---------------------------------------------------------------------


def begin_hosted(
    oauth: OAuthLedgers, ledger: str, name: str, redirect_uri: str
) -> tuple[Authorization, str]:
    """Start a sign-in from a browser; returns it and the secret for the browser's cookie."""
    auth = begin(oauth, ledger, name, redirect_uri)
    browser_secret = secrets.token_urlsafe(32)
    now = oauth.clock()
    with oauth.store.begin() as conn:
        records.save_pending(
            conn,
            state=auth.state,
            ledger=ledger,
            name=name,
            redirect_uri=redirect_uri,
            code_verifier=auth.code_verifier,
            browser_secret=browser_secret,
            vault=oauth.vault,
            now=now,
            expires_at=now + PENDING_LIFETIME,
        )
    return auth, browser_secret


def resume_hosted(
    oauth: OAuthLedgers, ledger: str, params: Mapping[str, str], browser_secret: str | None
) -> Authorization:
    """The sign-in a hosted callback belongs to (used up by this call).

    Raises:
        AuthError: no such sign-in (unknown state, used before, other ledger), expired, or
            started in another browser.
    """
    state = params.get("state", "")
    if not state:
        msg = f"the answer from {ledger} has no state; start again"
        raise AuthError(msg)
    with oauth.store.begin() as conn:
        # Used up only by the browser that started it: a request without its cookie cannot
        # spoil someone else's sign-in.
        pending = records.take_pending(conn, state, browser_secret or "", oauth.vault)
    if pending is None or pending.ledger != ledger:
        msg = "this sign-in is unknown or was already completed; start again"
        raise AuthError(msg)
    if not pending.same_browser:
        msg = "this sign-in was started in another browser; start again from that one"
        raise AuthError(msg)
    if pending.expires_at < oauth.clock():
        msg = "this sign-in took longer than 10 minutes; start again"
        raise AuthError(msg)
    return Authorization(
        ledger, pending.name, pending.redirect_uri, "", state, pending.code_verifier
    )
