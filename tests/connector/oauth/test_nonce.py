from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

from connector.oauth.client import ClientCredentials
from connector.oauth.client import OAuthClient
from connector.ports import OAuthSpec


def query(scopes: tuple[str, ...]) -> dict[str, list[str]]:
    spec = OAuthSpec(
        authorize_url="https://login.example/auth",
        token_url="https://login.example/token",
        scopes=scopes,
        pkce=False,
    )
    client = OAuthClient("x", spec, ClientCredentials("id", "secret"))
    return parse_qs(
        urlsplit(client.authorization_url("http://127.0.0.1:8765/callback", "st")).query
    )


def test_openid_scopes_get_an_unpredictable_nonce():
    first, second = query(("openid", "twf.user")), query(("openid", "twf.user"))
    assert len(first["nonce"][0]) >= 16 and first["nonce"] != second["nonce"]


def test_plain_oauth_gets_no_nonce():
    assert "nonce" not in query(("sales_invoices",))
