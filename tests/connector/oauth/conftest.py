"""Fixtures of the OAuth tests: fake authorization servers, the test ledger, OAuthLedgers.

Every test here also checks, when it ends, that no secret any fake server handed out (nor
the client secret, nor the vault key) appears in what was logged during it, at DEBUG.
"""

from __future__ import annotations

import logging

import pytest

from connector.oauth.service import OAuthLedgers
from connector.vault import new_key
from tests.fakes import oauth_ledger
from tests.fakes import oauth_support
from tests.fakes.oauth_server import FakeOAuthServer


class Servers:
    def __init__(self) -> None:
        self.made: list[FakeOAuthServer] = []

    def __call__(self, **options) -> FakeOAuthServer:
        server = FakeOAuthServer(**options).start()
        self.made.append(server)
        return server

    def secrets(self) -> list[str]:
        return [s for server in self.made for s in server.issued]


@pytest.fixture
def servers():
    made = Servers()
    yield made
    for server in made.made:
        server.stop()


@pytest.fixture
def server(servers) -> FakeOAuthServer:
    return servers()


@pytest.fixture(autouse=True)
def test_ledger(monkeypatch):
    oauth_ledger.register(monkeypatch)


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog, servers, key):
    caplog.set_level(logging.DEBUG)
    yield
    logged = oauth_support.log_text(caplog.records)
    assert oauth_support.leaks([*servers.secrets(), key], logged) == []


@pytest.fixture
def clock() -> oauth_support.Clock:
    return oauth_support.Clock()


@pytest.fixture
def make_oauth(store, store_url, server, key):
    """OAuthLedgers over the test store, pointed at `srv` (default: `server`); each one is
    what another process would have: its own caches, the same store."""

    def make(srv=None, *, env=None, clock=None, **section) -> OAuthLedgers:
        srv = srv or server
        environ = env if env is not None else oauth_support.environ(srv, key)
        settings = oauth_support.settings(store_url, srv, **section)
        if clock is None:
            return OAuthLedgers(settings, store, environ)
        return OAuthLedgers(settings, store, environ, clock=clock)

    return make


@pytest.fixture
def oauth(make_oauth) -> OAuthLedgers:
    return make_oauth()
