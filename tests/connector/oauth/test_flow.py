"""The authorization-code flow against the fake server: PKCE, state, storage, failures."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func
from sqlalchemy import select

from connector.errors import AuthError
from connector.errors import ConfigError
from connector.errors import UnknownPlugin
from connector.oauth import flow
from connector.oauth import records
from connector.store import records as store_records
from connector.store.schema import connection_tokens
from connector.store.schema import connections
from tests.fakes.oauth_ledger import NAME
from tests.fakes.oauth_support import connect
from tests.fakes.oauth_support import follow

REDIRECT = "http://127.0.0.1:8765/callback"


def _count(store, table) -> int:
    with store.begin() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_connect_sends_pkce_and_state_and_stores_the_tokens_encrypted(oauth, server, store):
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    query = dict(parse_qsl(urlsplit(auth.url).query))
    assert query["response_type"] == "code"
    assert query["client_id"] == server.client.client_id
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "read"
    assert query["state"] == auth.state and len(auth.state) >= 32
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(auth.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    # the secrets of a sign-in in progress stay out of its repr
    assert auth.state not in repr(auth) and auth.code_verifier not in repr(auth)

    connection = flow.complete(oauth, auth, follow(auth.url))
    [exchange] = server.token_requests
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code_verifier"] == auth.code_verifier
    assert connection.name == "acme" and connection.ledger == NAME
    with store.begin() as conn:
        row = conn.execute(select(connection_tokens)).one()
        grant = records.read_grant(conn, connection.id, oauth.vault)
    issued_access, issued_refresh = server.issued[-2:]
    assert row.access_token_enc != issued_access and issued_access not in row.access_token_enc
    assert grant.tokens.access_token == issued_access
    assert grant.tokens.refresh_token == issued_refresh
    assert grant.status == "active" and grant.tokens.expires_at is not None
    assert issued_access not in repr(grant) and issued_refresh not in repr(grant)

    admins = flow.discover(oauth, connection)
    assert [(a.external_id, a.name) for a in admins] == [("1001", "Bakkerij van Dijk")]


def test_a_wrong_state_stores_nothing(oauth, store):
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    answer = follow(auth.url)
    answer["state"] = answer["state"][:-2] + "xx"
    with pytest.raises(AuthError, match="does not belong to this sign-in"):
        flow.complete(oauth, auth, answer)
    assert _count(store, connections) == 0


def test_a_missing_state_is_a_wrong_state(oauth, store):
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    answer = follow(auth.url)
    del answer["state"]
    with pytest.raises(AuthError, match="wrong state"):
        flow.complete(oauth, auth, answer)
    assert _count(store, connections) == 0


def test_a_denied_authorization_says_so(oauth, server, store):
    server.deny = True
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    with pytest.raises(AuthError, match=r"did not grant access \(access_denied"):
        flow.complete(oauth, auth, follow(auth.url))
    assert _count(store, connections) == 0


def test_a_code_used_twice_is_refused(oauth, store):
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    answer = follow(auth.url)
    flow.complete(oauth, auth, answer)
    with pytest.raises(AuthError, match="did not accept the authorization.*invalid_grant"):
        flow.complete(oauth, auth, answer)


def test_the_verifier_must_match(oauth, store):
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    other = flow.begin(oauth, NAME, "acme", REDIRECT)
    answer = follow(auth.url)
    forged = flow.Authorization(NAME, "acme", REDIRECT, auth.url, auth.state, other.code_verifier)
    with pytest.raises(AuthError, match="invalid_grant"):
        flow.complete(oauth, forged, answer)
    assert _count(store, connections) == 0


def test_no_pkce_for_a_ledger_that_does_not_take_it(make_oauth, servers, monkeypatch):
    import dataclasses

    from tests.fakes import oauth_ledger

    monkeypatch.setattr(
        oauth_ledger, "OAUTH_SPEC", dataclasses.replace(oauth_ledger.OAUTH_SPEC, pkce=False)
    )
    plain = servers(require_pkce=False)
    oauth = make_oauth(plain)
    auth = flow.begin(oauth, NAME, "acme", REDIRECT)
    assert auth.code_verifier is None and "code_challenge" not in auth.url
    flow.complete(oauth, auth, follow(auth.url))
    assert "code_verifier" not in plain.token_requests[0]


def test_connecting_again_replaces_the_grant_and_reactivates(oauth, server, store):
    first = connect(oauth)
    with store.begin() as conn:
        records.set_status(conn, first.id, records.RECONNECT_REQUIRED, "dead", first_now(oauth))
        conn.execute(
            connections.update().where(connections.c.id == first.id).values(config={"x": 1})
        )
    second = connect(oauth)
    assert second.id == first.id and second.status == "active"
    assert second.config == {"x": 1}  # the connection's own config is kept
    with store.begin() as conn:
        grant = records.read_grant(conn, first.id, oauth.vault)
    assert grant.tokens.access_token == server.issued[-2]
    assert _count(store, connection_tokens) == 1


def first_now(oauth):
    return oauth.clock()


def test_a_name_of_another_ledger_is_refused_before_the_browser(oauth, store):
    with store.begin() as conn:
        store_records.save_connection(
            conn, name="acme", ledger="files", config={"path": "/x"}, now=oauth.clock()
        )
    with pytest.raises(ConfigError, match="already exists for the files ledger"):
        flow.begin(oauth, NAME, "acme", REDIRECT)


@pytest.mark.parametrize(
    ("section", "env", "message"),
    [
        pytest.param(
            {"client_id": ""}, None, r"\[ledgers.testledger\] client_id is not set", id="id"
        ),
        pytest.param(
            {},
            {"CONNECTOR_SECRET_KEY": "x"},
            "CONNECTOR_TESTLEDGER_CLIENT_SECRET is not set",
            id="secret",
        ),
        pytest.param({"token_url": "ftp://x"}, None, "token_url: expected an http", id="url"),
        pytest.param({"scopes": 3}, None, "scopes: expected a list", id="scopes"),
        pytest.param(
            {"refresh_leeway_seconds": -1}, None, "expected a number of seconds", id="leeway"
        ),
    ],
)
def test_configuration_errors_are_clear(make_oauth, server, section, env, message):
    oauth = make_oauth(env=env, **section)
    with pytest.raises(ConfigError, match=message):
        flow.begin(oauth, NAME, "acme", REDIRECT)


def test_the_vault_key_is_needed_before_the_browser_opens(make_oauth, server):
    env = {"CONNECTOR_TESTLEDGER_CLIENT_SECRET": server.client.client_secret}
    with pytest.raises(ConfigError, match="CONNECTOR_SECRET_KEY is not set"):
        flow.begin(make_oauth(env=env), NAME, "acme", REDIRECT)


def test_settings_override_the_declared_urls_and_scopes(make_oauth, server):
    oauth = make_oauth(scopes=["read", "write"], refresh_leeway_seconds=5)
    spec = oauth.spec(NAME)
    assert spec.token_url == f"{server.url}/oauth/token"
    assert spec.scopes == ("read", "write") and spec.refresh_leeway_seconds == 5
    assert "scope=read+write" in flow.begin(oauth, NAME, "acme", REDIRECT).url


def test_files_and_unknown_ledgers(oauth):
    assert oauth.spec("files") is None
    with pytest.raises(ConfigError, match="does not sign in with OAuth"):
        oauth.client("files")
    with pytest.raises(UnknownPlugin):
        oauth.spec("sap")


def test_a_spec_that_is_not_an_oauth_spec_is_a_plugin_error(oauth, monkeypatch):
    from tests.fakes import oauth_ledger

    monkeypatch.setattr(oauth_ledger, "OAUTH_SPEC", {"authorize_url": "x"})
    with pytest.raises(ConfigError, match="OAUTH_SPEC\\) is not an OAuthSpec"):
        oauth.spec(NAME)
