"""Helpers shared by the OAuth tests: settings for the fake server, a programmatic sign-in,
and the checks that no secret the fake issued sits in plain text in a store or a log."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import requests
from sqlalchemy import MetaData
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.engine import make_url

from connector.oauth import flow
from connector.oauth.service import OAuthLedgers
from connector.settings import Settings
from connector.store import Store
from connector.store.records import ConnectionRecord
from connector.vault import new_key
from tests.fakes.oauth_ledger import NAME
from tests.fakes.oauth_server import FakeOAuthServer

# Loggers of the fake provider itself (authlib's server side logs the tokens it issues at
# DEBUG): they are the provider's logs, not the connector's, so the leak check skips them.
PROVIDER_LOGGERS = (
    "authlib.oauth2.rfc6749.grants",
    "authlib.oauth2.rfc6749.authorization_server",
    "authlib.oauth2.rfc7009",
    "authlib.oauth2.rfc6750",
    "werkzeug",
)


class Clock:
    """A clock the test moves: the connector's idea of now (the fake server keeps real time)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def environ(server: FakeOAuthServer, key: str | None = None) -> dict[str, str]:
    return {
        "CONNECTOR_SECRET_KEY": key or new_key(),
        "CONNECTOR_TESTLEDGER_CLIENT_SECRET": server.client.client_secret,
    }


def settings(store_url: str, server: FakeOAuthServer, **overrides: object) -> Settings:
    section = {**server.settings(), **overrides}
    return Settings(database_url=store_url, raw=MappingProxyType({"ledgers": {NAME: section}}))


def follow(url: str) -> dict[str, str]:
    """What a browser would do: open the authorize URL (the fake approves at once) and
    return the query of the redirect it is sent to, without following it."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def connect(oauth: OAuthLedgers, name: str = "acme") -> ConnectionRecord:
    auth = flow.begin(oauth, NAME, name, "http://127.0.0.1:8765/callback")
    return flow.complete(oauth, auth, follow(auth.url))


def stored_text(store_url: str) -> str:
    """Everything the store holds: the SQLite file and its WAL as bytes, or every row of
    every table on PostgreSQL."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        parts = [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]
        return b"".join(parts).decode("latin-1")
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(
                repr(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()


def leaks(secrets: Iterable[str], text: str) -> list[str]:
    return [s[:6] + "..." for s in secrets if s and s in text]


def log_text(records: Iterable[logging.LogRecord]) -> str:
    return "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in records
        if not r.name.startswith(PROVIDER_LOGGERS)
    )


def open_store(store_url: str) -> Store:
    return Store(store_url)
