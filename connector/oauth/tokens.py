"""Access tokens that are refreshed once, under a lock, and never lost.

`ConnectionTokens` is the core's `AccessTokens` for one connection. It hands out the access
token it holds until that token is due (the ledger's leeway before expiry, but never before
its minimum age). Then, inside the per-connection lock (`records.read_grant(lock=True)`
within `Store.begin(immediate=True)`):

1. re-read the stored tokens: another process may have refreshed already; then use theirs;
2. refresh only if the stored token is still due;
3. persist the new pair (and a refresh token that came with an error) before the lock is
   released, then use it.

A refresh whose answer is lost (sent, then no response) is checked exactly once, inside the
same lock, with the same refresh token: a provider that never saw it answers normally, one
that rotated it refuses it. `invalid_grant`, "old refresh token used" or an expired refresh
token (Exact's "The refresh token expired at ...") marks the connection
`reconnect_required`, removes the dead refresh token and raises `ReconnectRequired`; from
then on nothing calls the token endpoint for it until a person connects again.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Connection

from connector.errors import AuthError
from connector.errors import ConnectorError
from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.oauth import records
from connector.oauth.client import Clock
from connector.oauth.client import FailureKind
from connector.oauth.client import OAuthClient
from connector.oauth.client import TokenFailure
from connector.oauth.client import TokenSet
from connector.oauth.client import utcnow
from connector.oauth.records import StoredGrant
from connector.ports import OAuthSpec
from connector.store import Store
from connector.vault import Vault

logger = logging.getLogger(__name__)


def reconnect_message(name: str, ledger: str, why: str) -> str:
    return (
        f"connection {name!r} must be connected again: {why}; "
        f"run: connector connect {ledger} --name {name}"
    )


def refresh_at(tokens: TokenSet, spec: OAuthSpec) -> datetime | None:
    """When `tokens` should be refreshed; None: never by age (it does not expire)."""
    if tokens.expires_at is None:
        return None
    early = tokens.expires_at - timedelta(seconds=spec.refresh_leeway_seconds)
    oldest = tokens.obtained_at + timedelta(seconds=spec.min_token_age_seconds)
    return min(tokens.expires_at, max(early, oldest))


def is_due(tokens: TokenSet, spec: OAuthSpec, now: datetime) -> bool:
    at = refresh_at(tokens, spec)
    return at is not None and now >= at


def _too_young(tokens: TokenSet, spec: OAuthSpec, now: datetime) -> bool:
    return now < tokens.obtained_at + timedelta(seconds=spec.min_token_age_seconds)


class ConnectionTokens:
    """The `AccessTokens` port for one stored connection (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        client: OAuthClient,
        connection_id: int,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._vault = vault
        self._client = client
        self._spec = client.spec
        self.connection_id = connection_id
        self._clock = clock
        self._cached: TokenSet | None = None
        self._mutex = threading.Lock()  # one refresh attempt per process at a time

    def __repr__(self) -> str:
        return f"ConnectionTokens(connection={self.connection_id}, ledger={self._client.ledger!r})"

    # --- the port ------------------------------------------------------------------------

    def access_token(self) -> str:
        with self._mutex:
            cached = self._cached
            if cached is not None and not is_due(cached, self._spec, self._clock()):
                return cached.access_token
            # Due, or first use: a plain read first. Usually another process has refreshed
            # already, or the stored token is still good; then no lock is needed.
            stored = self._usable(self._read(lock=False))
            if not is_due(stored, self._spec, self._clock()):
                self._cached = stored
                return stored.access_token
            self._cached, _ = self._locked(rejected=None)
            return self._cached.access_token

    def rejected(self, access_token: str) -> str:
        with self._mutex:
            self._cached, _ = self._locked(rejected=access_token)
            return self._cached.access_token

    # --- keep-alive ----------------------------------------------------------------------

    def refresh_if_idle(self, idle_since: datetime) -> bool:
        """Refresh when the refresh token was last used before `idle_since`; True if done."""
        with self._mutex:
            self._cached, refreshed = self._locked(rejected=None, idle_since=idle_since)
            return refreshed

    # --- internals -----------------------------------------------------------------------

    def _read(self, *, lock: bool) -> StoredGrant | None:
        with self._store.begin(immediate=lock) as conn:
            return records.read_grant(conn, self.connection_id, self._vault, lock=lock)

    def _usable(self, grant: StoredGrant | None) -> TokenSet:
        if grant is None:
            msg = f"connection {self.connection_id} no longer exists; see: connector connections"
            raise ReconnectRequired(msg)
        if grant.status == records.RECONNECT_REQUIRED:
            raise ReconnectRequired(
                grant.status_reason
                or reconnect_message(grant.name, grant.ledger, "its grant is no longer valid")
            )
        if grant.tokens is None:
            why = "it was disconnected" if grant.status == records.DISCONNECTED else "no tokens"
            raise ReconnectRequired(reconnect_message(grant.name, grant.ledger, why))
        return grant.tokens

    def _locked(
        self, *, rejected: str | None, idle_since: datetime | None = None
    ) -> tuple[TokenSet, bool]:
        """The tokens to use, and whether they were refreshed just now (under the lock)."""
        failure: ConnectorError | None = None
        with self._store.begin(immediate=True) as conn:
            grant = records.read_grant(conn, self.connection_id, self._vault, lock=True)
            tokens = self._usable(grant)
            assert grant is not None
            now = self._clock()
            if not self._should_refresh(grant, tokens, now, rejected, idle_since):
                return tokens, False
            tokens, failure = self._refresh(conn, grant, tokens, now)
        if failure is not None:
            raise failure
        return tokens, True

    def _should_refresh(
        self,
        grant: StoredGrant,
        tokens: TokenSet,
        now: datetime,
        rejected: str | None,
        idle_since: datetime | None,
    ) -> bool:
        if idle_since is not None:
            idle = grant.refreshed_at is None or grant.refreshed_at < idle_since
            return idle and not _too_young(tokens, self._spec, now)
        if rejected is None:
            return is_due(tokens, self._spec, now)
        if tokens.access_token != rejected:
            return False  # already replaced by someone else: use the new one
        if _too_young(tokens, self._spec, now) and tokens.refresh_token is not None:
            wait = (tokens.obtained_at - now).total_seconds() + self._spec.min_token_age_seconds
            msg = (
                f"connection {grant.name!r}: {grant.ledger} refused an access token that it "
                f"does not allow to be refreshed yet; try again in {wait:.0f} s"
            )
            raise AuthError(msg)
        return True

    def _refresh(
        self, conn: Connection, grant: StoredGrant, tokens: TokenSet, now: datetime
    ) -> tuple[TokenSet, ConnectorError | None]:
        if tokens.refresh_token is None:
            why = f"{grant.ledger} gave no refresh token and the access token has run out"
            return tokens, self._dead(conn, grant, why, now)
        try:
            new = self._client.refresh(tokens.refresh_token)
        except TokenFailure as failure:
            if failure.kind is not FailureKind.UNKNOWN_OUTCOME:
                return tokens, self._failed(conn, grant, failure, now, lost=None)
            logger.warning(
                "connection %s: %s; checking once with the same refresh token",
                grant.connection_id,
                failure.summary,
            )
            try:
                new = self._client.refresh(tokens.refresh_token)
            except TokenFailure as second:
                return tokens, self._failed(conn, grant, second, now, lost=failure)
            logger.warning(
                "connection %s: the check succeeded; the lost refresh had not been processed",
                grant.connection_id,
            )
        records.save_tokens(conn, grant.connection_id, new, self._vault, now, refreshed=True)
        logger.info(
            "connection %s: access token refreshed (refresh %s, valid until %s)",
            grant.connection_id,
            grant.refresh_count + 1,
            new.expires_at.isoformat() if new.expires_at else "no expiry",
        )
        return new, None

    def _failed(
        self,
        conn: Connection,
        grant: StoredGrant,
        failure: TokenFailure,
        now: datetime,
        *,
        lost: TokenFailure | None,
    ) -> ConnectorError:
        if failure.refresh_token is not None:
            # The provider rotated even though it reports an error: keep the new token,
            # the old one no longer works.
            records.save_refresh_token(
                conn, grant.connection_id, failure.refresh_token, self._vault, now
            )
            logger.warning(
                "connection %s: kept the new refresh token that came with an error",
                grant.connection_id,
            )
        who = f"connection {grant.name!r}"
        if failure.kind is FailureKind.DEAD_GRANT:
            if lost is not None:
                why = (
                    f"the answer to a token refresh was lost ({lost.summary}) and "
                    f"{grant.ledger} has since refused the refresh token ({failure.error})"
                )
            else:
                why = f"{grant.ledger} refuses the refresh token ({failure.summary})"
            return self._dead(conn, grant, why, now)
        if failure.kind is FailureKind.RATE_LIMITED:
            msg = f"{who}: {failure.summary}; try again later"
            return RateLimited(msg, retry_after=failure.retry_after)
        if failure.kind is FailureKind.UNKNOWN_OUTCOME:
            msg = (
                f"{who}: {failure.summary}, twice; nothing was stored and the next use checks again"
            )
            return AuthError(msg)
        if failure.kind is FailureKind.UNAVAILABLE:
            return AuthError(f"{who}: {failure.summary}; try again later")
        return AuthError(f"{who}: {failure.summary}")

    def _dead(
        self, conn: Connection, grant: StoredGrant, why: str, now: datetime
    ) -> ReconnectRequired:
        message = reconnect_message(grant.name, grant.ledger, why)
        records.set_status(conn, grant.connection_id, records.RECONNECT_REQUIRED, message, now)
        records.forget_refresh_token(conn, grant.connection_id, now)
        logger.error("connection %s: %s", grant.connection_id, message)
        return ReconnectRequired(message)
