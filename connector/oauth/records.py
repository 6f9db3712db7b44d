"""Stored tokens and hosted sign-ins in progress: the only code that reads or writes them.

Tokens go in and come out through the vault; the tables never hold one in plain text.
`lock_tokens` is the per-connection refresh lock: called inside `Store.begin(immediate=True)`
it takes a row lock (SELECT ... FOR UPDATE) on PostgreSQL, while on SQLite the immediate
transaction already holds the database's write lock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Row
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from connector.oauth.client import TokenSet
from connector.store.schema import connection_tokens
from connector.store.schema import connections
from connector.store.schema import oauth_pending
from connector.vault import Vault

ACTIVE = "active"
RECONNECT_REQUIRED = "reconnect_required"
DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class StoredGrant:
    """A connection's state and, when it has them, its decrypted tokens."""

    connection_id: int
    name: str
    ledger: str
    status: str
    status_reason: str
    tokens: TokenSet | None
    refreshed_at: datetime | None
    refresh_count: int


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _tokens(row: Row[Any], vault: Vault) -> TokenSet:
    what = f"the tokens of connection {row.connection_id}"
    refresh = row.refresh_token_enc
    return TokenSet(
        access_token=vault.decrypt(row.access_token_enc, what=what),
        refresh_token=vault.decrypt(refresh, what=what) if refresh is not None else None,
        expires_at=row.expires_at,
        obtained_at=row.obtained_at,
        token_type=row.token_type,
        scope=row.scope,
    )


def read_grant(
    conn: Connection, connection_id: int, vault: Vault, *, lock: bool = False
) -> StoredGrant | None:
    """The connection and its tokens; `lock` takes the refresh lock (see the module doc).

    The token row is locked and read on its own, and the connection read after it, so that
    on PostgreSQL both reflect whatever the previous lock holder committed.
    """
    query = select(connection_tokens).where(connection_tokens.c.connection_id == connection_id)
    if lock:
        query = query.with_for_update()
    token_row = conn.execute(query).first()
    row = conn.execute(
        select(
            connections.c.id,
            connections.c.name,
            connections.c.ledger,
            connections.c.status,
            connections.c.status_reason,
        ).where(connections.c.id == connection_id)
    ).first()
    if row is None:
        return None
    return StoredGrant(
        connection_id=row.id,
        name=row.name,
        ledger=row.ledger,
        status=row.status,
        status_reason=row.status_reason,
        tokens=_tokens(token_row, vault) if token_row is not None else None,
        refreshed_at=token_row.refreshed_at if token_row is not None else None,
        refresh_count=token_row.refresh_count if token_row is not None else 0,
    )


def save_tokens(
    conn: Connection,
    connection_id: int,
    tokens: TokenSet,
    vault: Vault,
    now: datetime,
    *,
    refreshed: bool,
) -> None:
    """Store the tokens of a new grant (`refreshed=False`) or of a refresh."""
    values: dict[str, Any] = {
        "access_token_enc": vault.encrypt(tokens.access_token),
        "refresh_token_enc": (
            vault.encrypt(tokens.refresh_token) if tokens.refresh_token is not None else None
        ),
        "token_type": tokens.token_type,
        "scope": tokens.scope,
        "expires_at": tokens.expires_at,
        "obtained_at": tokens.obtained_at,
        "refreshed_at": now,
        "updated_at": now,
    }
    if refreshed:
        values["refresh_count"] = connection_tokens.c.refresh_count + 1
        conn.execute(
            update(connection_tokens)
            .where(connection_tokens.c.connection_id == connection_id)
            .values(**values)
        )
        return
    delete_tokens(conn, connection_id)
    conn.execute(
        connection_tokens.insert().values(connection_id=connection_id, refresh_count=0, **values)
    )


def save_refresh_token(
    conn: Connection, connection_id: int, refresh_token: str, vault: Vault, now: datetime
) -> None:
    """Keep a new refresh token that arrived with an error; the access token stays."""
    conn.execute(
        update(connection_tokens)
        .where(connection_tokens.c.connection_id == connection_id)
        .values(
            refresh_token_enc=vault.encrypt(refresh_token),
            refreshed_at=now,
            updated_at=now,
            refresh_count=connection_tokens.c.refresh_count + 1,
        )
    )


def forget_refresh_token(conn: Connection, connection_id: int, now: datetime) -> None:
    """A dead refresh token is removed, so that nothing can ever try it again."""
    conn.execute(
        update(connection_tokens)
        .where(connection_tokens.c.connection_id == connection_id)
        .values(refresh_token_enc=None, updated_at=now)
    )


def delete_tokens(conn: Connection, connection_id: int) -> None:
    clause = connection_tokens.c.connection_id == connection_id
    conn.execute(delete(connection_tokens).where(clause))


def set_status(
    conn: Connection, connection_id: int, status: str, reason: str, now: datetime
) -> None:
    conn.execute(
        update(connections)
        .where(connections.c.id == connection_id)
        .values(status=status, status_reason=reason, status_changed_at=now, updated_at=now)
    )


@dataclass(frozen=True, slots=True)
class TokenOverview:
    """What may be shown about a connection's tokens: times, never the tokens."""

    connection_id: int
    expires_at: datetime | None
    refreshed_at: datetime
    refresh_count: int
    has_refresh_token: bool


def token_overview(conn: Connection) -> dict[int, TokenOverview]:
    rows = conn.execute(
        select(
            connection_tokens.c.connection_id,
            connection_tokens.c.expires_at,
            connection_tokens.c.refreshed_at,
            connection_tokens.c.refresh_count,
            connection_tokens.c.refresh_token_enc.is_not(None).label("has_refresh"),
        )
    )
    return {
        r.connection_id: TokenOverview(
            r.connection_id, r.expires_at, r.refreshed_at, r.refresh_count, bool(r.has_refresh)
        )
        for r in rows
    }


def status_changes(conn: Connection) -> dict[int, datetime | None]:
    rows = conn.execute(select(connections.c.id, connections.c.status_changed_at))
    return {r.id: r.status_changed_at for r in rows}


# --- hosted sign-ins in progress ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    ledger: str
    name: str
    redirect_uri: str
    code_verifier: str | None = field(repr=False)
    same_browser: bool
    expires_at: datetime


def save_pending(
    conn: Connection,
    *,
    state: str,
    ledger: str,
    name: str,
    redirect_uri: str,
    code_verifier: str | None,
    browser_secret: str,
    vault: Vault,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(delete(oauth_pending).where(oauth_pending.c.expires_at < now))
    conn.execute(
        oauth_pending.insert().values(
            state_hash=digest(state),
            ledger=ledger,
            name=name,
            redirect_uri=redirect_uri,
            code_verifier_enc=vault.encrypt(code_verifier) if code_verifier else None,
            browser_hash=digest(browser_secret),
            created_at=now,
            expires_at=expires_at,
        )
    )


def take_pending(conn: Connection, state: str, browser_secret: str, vault: Vault) -> Pending | None:
    """The sign-in this state belongs to. It is used up (a state is good for one callback)
    only when `browser_secret` is the one of the browser that started it."""
    key = digest(state)
    row = conn.execute(
        select(oauth_pending).where(oauth_pending.c.state_hash == key).with_for_update()
    ).first()
    if row is None:
        return None
    same_browser = hmac.compare_digest(digest(browser_secret), row.browser_hash)
    if not same_browser:
        return Pending(row.ledger, row.name, row.redirect_uri, None, False, row.expires_at)
    conn.execute(delete(oauth_pending).where(oauth_pending.c.state_hash == key))
    verifier = row.code_verifier_enc
    return Pending(
        ledger=row.ledger,
        name=row.name,
        redirect_uri=row.redirect_uri,
        code_verifier=vault.decrypt(verifier, what="a sign-in in progress") if verifier else None,
        same_browser=True,
        expires_at=row.expires_at,
    )
