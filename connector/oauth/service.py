"""`OAuthLedgers`: what the CLI and the HTTP app need to run ledgers that sign in.

Built once by a composition root from the settings, the store and the environment (for the
vault key and the client secrets). The vault is opened on first need, so the files ledger
and the demo work without `CONNECTOR_SECRET_KEY`; when it is opened it is checked against
every stored token, so a wrong key is a configuration error at the start, not a surprise in
the middle of a sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from connector import registry
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.oauth import records
from connector.oauth.client import Clock
from connector.oauth.client import OAuthClient
from connector.oauth.client import TokenFailure
from connector.oauth.client import utcnow
from connector.oauth.config import client_credentials
from connector.oauth.config import resolve_spec
from connector.oauth.tokens import ConnectionTokens
from connector.ports import Ledger
from connector.ports import OAuthLedgerFactory
from connector.ports import OAuthSpec
from connector.settings import Settings
from connector.store import Store
from connector.store import records as store_records
from connector.store.records import ConnectionRecord
from connector.store.tables import all_metadata
from connector.vault import Vault
from connector.vault import stored_ciphertexts


class OAuthLedgers:
    """Specs, clients, tokens and ledger instances for stored connections."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        environ: Mapping[str, str],
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self._environ = environ
        self.clock = clock
        self._vault: Vault | None = None
        self._tokens: dict[int, ConnectionTokens] = {}

    def __repr__(self) -> str:
        return f"OAuthLedgers(store={self.store.describe()!r})"

    @property
    def vault(self) -> Vault:
        """The vault, checked against the stored tokens when first opened.

        Raises:
            ConfigError: no key, a malformed key, or keys that cannot open the stored tokens.
        """
        if self._vault is None:
            vault = Vault.from_environ(self._environ)
            with self.store.begin() as conn:
                vault.check(stored_ciphertexts(conn, all_metadata()))
            self._vault = vault
        return self._vault

    def section(self, ledger: str) -> Mapping[str, Any]:
        return self.settings.section("ledgers", ledger)

    def spec(self, ledger: str) -> OAuthSpec | None:
        """The ledger's OAuth spec with its settings applied; None if it does not sign in."""
        declared = registry.ledger_oauth_spec(ledger)
        if declared is None:
            return None
        return resolve_spec(ledger, declared, self.section(ledger))

    def require_spec(self, ledger: str) -> OAuthSpec:
        spec = self.spec(ledger)
        if spec is None:
            msg = f"the {ledger} ledger does not sign in with OAuth"
            raise ConfigError(msg)
        return spec

    def client(self, ledger: str) -> OAuthClient:
        """A client for the ledger's authorization server, with the connector's credentials.

        Raises:
            ConfigError: not an OAuth ledger, or the client id or secret is missing.
        """
        spec = self.require_spec(ledger)
        credentials = client_credentials(ledger, self.section(ledger), self._environ)
        return OAuthClient(ledger, spec, credentials, clock=self.clock)

    def tokens(self, connection: ConnectionRecord) -> ConnectionTokens:
        """The connection's access tokens (one instance per connection, reused)."""
        found = self._tokens.get(connection.id)
        if found is None:
            client = self.client(connection.ledger)
            found = ConnectionTokens(
                self.store, self.vault, client, connection.id, clock=self.clock
            )
            self._tokens[connection.id] = found
        return found

    def forget(self, connection_id: int) -> None:
        """Drop what is cached for a connection (after it was connected again)."""
        self._tokens.pop(connection_id, None)

    def ledger_config(self, connection: ConnectionRecord) -> dict[str, Any]:
        """What an OAuth ledger's factory gets: its `[ledgers.NAME]` table (without the
        client id) plus the connection's own config."""
        config = {k: v for k, v in self.section(connection.ledger).items() if k != "client_id"}
        config.update(connection.config)
        return config

    def open_ledger(self, connection: ConnectionRecord) -> Ledger:
        """The ledger behind a stored connection, ready to use.

        Raises:
            ReconnectRequired: an OAuth connection that needs a person to connect again.
            ConfigError: the ledger or its settings are missing or wrong.
        """
        if self.spec(connection.ledger) is None:
            return registry.ledger_factory(connection.ledger)(connection.config)
        tokens = self.tokens(connection)
        factory = registry.ledger_factory(connection.ledger)
        oauth_factory: OAuthLedgerFactory = factory  # type: ignore[assignment]
        return oauth_factory(self.ledger_config(connection), tokens=tokens)


@dataclass(frozen=True, slots=True)
class KeepAliveResult:
    connection_id: int
    name: str
    ledger: str
    outcome: str  # "refreshed", "not due", or the error


def keep_alive(oauth: OAuthLedgers) -> list[KeepAliveResult]:
    """Refresh every active OAuth connection whose refresh token has been idle for longer
    than its ledger's `keepalive_seconds` (Exact's die after about 30 days unused)."""
    results: list[KeepAliveResult] = []
    now = oauth.clock()
    with oauth.store.begin() as conn:
        connections = store_records.list_connections(conn)
        overview = records.token_overview(conn)
    if overview:
        oauth.vault  # noqa: B018 - a key that cannot open the stored tokens stops us here
    for connection in connections:
        tokens_info = overview.get(connection.id)
        if connection.status != records.ACTIVE or tokens_info is None:
            continue
        spec = oauth.spec(connection.ledger)
        if spec is None or spec.keepalive_seconds is None:
            continue
        idle_since = now - timedelta(seconds=spec.keepalive_seconds)
        if tokens_info.refreshed_at >= idle_since:
            outcome = "not due"
        else:
            try:
                done = oauth.tokens(connection).refresh_if_idle(idle_since)
                outcome = "refreshed" if done else "not due"
            except ConnectorError as exc:
                outcome = str(exc)
        results.append(KeepAliveResult(connection.id, connection.name, connection.ledger, outcome))
    return results


@dataclass(frozen=True, slots=True)
class Disconnected:
    connection: ConnectionRecord
    revocation: str  # what happened at the provider, in words


def disconnect(oauth: OAuthLedgers, connection: ConnectionRecord) -> Disconnected:
    """Revoke the grant where the ledger offers revocation, delete the tokens, and mark the
    connection `disconnected`. Its administrations and their history stay in the store.

    This runs under the connection's refresh lock, so a refresh elsewhere either finished
    before (and its tokens are revoked here) or finds the connection disconnected after.
    """
    now = oauth.clock()
    spec = oauth.spec(connection.ledger)
    ledger = connection.ledger
    revocation = "no tokens were stored"
    with oauth.store.begin(immediate=True) as conn:
        if spec is not None:
            revocation = _revoke(oauth, connection, spec, conn)
        records.delete_tokens(conn, connection.id)
        records.set_status(conn, connection.id, records.DISCONNECTED, "disconnected", now)
    oauth.forget(connection.id)
    if spec is not None and not revocation.startswith("revoked"):
        revocation += f"; withdraw the connector's access in {ledger} yourself"
    return Disconnected(connection, revocation)


def _revoke(
    oauth: OAuthLedgers, connection: ConnectionRecord, spec: OAuthSpec, conn: Connection
) -> str:
    ledger = connection.ledger
    try:
        grant = records.read_grant(conn, connection.id, oauth.vault, lock=True)
    except ConfigError as exc:  # a lost key must not keep anyone from disconnecting
        return f"the tokens could not be decrypted, so they were deleted unrevoked ({exc})"
    if grant is None or grant.tokens is None:
        return "no tokens were stored"
    if spec.revoke_url is None:
        return f"{ledger} offers no revocation"
    token = grant.tokens.refresh_token or grant.tokens.access_token
    hint = "refresh_token" if grant.tokens.refresh_token else "access_token"
    try:
        oauth.client(ledger).revoke(token, hint)
    except TokenFailure as failure:
        return f"could not revoke at {ledger}: {failure.summary}"
    except ConfigError as exc:
        return f"could not revoke at {ledger}: {exc}"
    return f"revoked at {ledger}"
