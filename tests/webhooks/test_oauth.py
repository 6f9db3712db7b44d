"""The hosted sign-in: /oauth/<ledger>/start and /oauth/<ledger>/callback on the Flask app.

Flask's test client is the accountant's browser on the app; `requests` is that browser on
the (real, loopback) fake authorization server, which approves at once and redirects back.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests

from connector.oauth.service import OAuthLedgers
from connector.store import records
from tests.fakes import oauth_ledger
from tests.fakes import oauth_support
from tests.fakes.oauth_server import FakeOAuthServer
from webhooks.app import Services
from webhooks.app import create_app

ADMIN_KEY = "correct horse battery staple"


@pytest.fixture
def server():
    with FakeOAuthServer() as fake:
        yield fake


@pytest.fixture
def services(store, store_url, server, monkeypatch):
    oauth_ledger.register(monkeypatch)
    settings = oauth_support.settings(store_url, server)
    oauth = OAuthLedgers(settings, store, oauth_support.environ(server))
    return settings, Services(store=store, oauth=oauth, admin_key=ADMIN_KEY)


@pytest.fixture
def client(services):
    settings, found = services
    return create_app(settings, found).test_client()


def _auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{key}".encode()).decode()}


def _approve(location: str) -> tuple[str, dict[str, str]]:
    """The browser at the provider: the path and query it is sent back to."""
    answer = requests.get(location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return back.path, dict(parse_qsl(back.query))


def test_an_accountant_connects_from_a_browser(client, server, store):
    start = client.get("/oauth/testledger/start?name=client-a", headers=_auth())
    assert start.status_code == 302
    location = start.headers["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    assert location.startswith(f"{server.url}/oauth/authorize?")
    assert query["redirect_uri"] == "http://localhost/oauth/testledger/callback"
    assert query["code_challenge_method"] == "S256"
    cookie = start.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/oauth/testledger/" in cookie

    path, params = _approve(location)
    page = client.get(path, query_string=params)
    assert page.status_code == 200, page.text
    assert "client-a" in page.text and "Bakkerij van Dijk (1001)" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    with store.begin() as conn:
        connection = records.find_connection(conn, "client-a")
        assert [a.name for a in records.list_administrations(conn)] == ["Bakkerij van Dijk"]
    assert connection.ledger == "testledger" and connection.status == "active"
    for secret in server.issued:
        assert secret not in page.text

    again = client.get(path, query_string=params)  # the same answer a second time
    assert again.status_code == 400 and "unknown or was already completed" in again.text


def test_start_needs_the_admin_key(client, services, store_url, server):
    assert client.get("/oauth/testledger/start").status_code == 401
    refused = client.get("/oauth/testledger/start", headers=_auth("wrong"))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    settings, found = services
    off = Services(store=found.store, oauth=found.oauth, admin_key=None)
    closed = create_app(settings, off).test_client().get("/oauth/testledger/start", headers=_auth())
    assert closed.status_code == 403 and "CONNECTOR_ADMIN_KEY" in closed.text
    assert server.authorize_requests == []


def test_a_callback_in_another_browser_is_refused(client, services, store):
    settings, found = services
    start = client.get("/oauth/testledger/start?name=client-a", headers=_auth())
    path, params = _approve(start.headers["Location"])
    other_browser = create_app(settings, found).test_client()
    page = other_browser.get(path, query_string=params)
    assert page.status_code == 400 and "started in another browser" in page.text
    with store.begin() as conn:
        assert records.list_connections(conn) == []
    # it did not spoil the sign-in for the browser that started it
    assert client.get(path, query_string=params).status_code == 200


def test_a_forged_state_is_refused(client):
    start = client.get("/oauth/testledger/start", headers=_auth())
    path, params = _approve(start.headers["Location"])
    params["state"] = "forged"
    page = client.get(path, query_string=params)
    assert page.status_code == 400 and "unknown or was already completed" in page.text


def test_a_denied_sign_in_says_so(client, server):
    server.deny = True
    start = client.get("/oauth/testledger/start", headers=_auth())
    path, params = _approve(start.headers["Location"])
    assert params["error"] == "access_denied"
    page = client.get(path, query_string=params)
    assert page.status_code == 400 and "did not grant access (access_denied" in page.text
    without_state = client.get(path, query_string={"error": "access_denied"})
    assert without_state.status_code == 400 and "did not grant access" in without_state.text


def test_configuration_problems_are_shown_not_raised(client, services):
    page = client.get("/oauth/files/start", headers=_auth())
    assert page.status_code == 400 and "does not sign in with OAuth" in page.text
    page = client.get("/oauth/sap/start", headers=_auth())
    assert page.status_code == 400 and "unknown ledger &#39;sap&#39;" in page.text


def test_a_configured_redirect_uri_is_used(services, store, store_url, server, monkeypatch):
    oauth_ledger.register(monkeypatch)
    public = "https://connector.example.nl/oauth/testledger/callback"
    settings = oauth_support.settings(store_url, server, redirect_uri=public)
    oauth = OAuthLedgers(settings, store, oauth_support.environ(server))
    app = create_app(settings, Services(store=store, oauth=oauth, admin_key=ADMIN_KEY))
    start = app.test_client().get("/oauth/testledger/start", headers=_auth())
    assert dict(parse_qsl(urlsplit(start.headers["Location"]).query))["redirect_uri"] == public


def test_the_factory_is_small_and_extensible(services):
    from flask import Blueprint

    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/extra", "extra", lambda: "hi")
    settings, found = services
    app = create_app(settings, found, blueprints=[extra])
    assert app.extensions["connector"] is found
    test = app.test_client()
    assert test.get("/extra").text == "hi"
    assert test.get("/healthz").json == {"status": "ok"}
    assert create_app(settings, found) is not app  # no module-level app


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog, server):
    import logging

    caplog.set_level(logging.DEBUG)
    yield
    assert oauth_support.leaks(server.issued, oauth_support.log_text(caplog.records)) == []
