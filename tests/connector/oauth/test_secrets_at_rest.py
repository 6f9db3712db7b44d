"""No token, code, verifier or secret in plain text in the store or in the logs.

A whole life of a connection runs here — sign-in, refreshes, a refresh token kept from an
error answer, a lost answer that ends in reconnect_required, connecting again, a hosted
sign-in left pending, key rotation — and then every value the fake server issued (and the
client secret, the PKCE verifiers, the states and the vault keys) is searched for in the
raw store (the SQLite file and its WAL, or every row on PostgreSQL) and in everything that
was logged at DEBUG (the autouse fixture in conftest.py checks the logs).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.oauth import flow
from connector.store.schema import connection_tokens
from connector.store.tables import all_metadata
from connector.vault import new_key
from connector.vault import rotate_stored
from tests.fakes.oauth_ledger import NAME
from tests.fakes.oauth_support import connect
from tests.fakes.oauth_support import environ
from tests.fakes.oauth_support import leaks
from tests.fakes.oauth_support import stored_text


def test_the_store_holds_ciphertext_only(make_oauth, server, clock, store, store_url, key):
    oauth = make_oauth(clock=clock)
    connection = connect(oauth)
    tokens = oauth.tokens(connection)
    for _ in range(3):
        clock.advance(600)
        tokens.access_token()
    clock.advance(600)
    server.rate_limit_next_refresh = True
    with pytest.raises(RateLimited):
        tokens.access_token()
    tokens.access_token()
    clock.advance(600)
    server.drop_next_refresh = True
    with pytest.raises(ReconnectRequired):
        tokens.access_token()
    connect(oauth)  # connect again after reconnect_required
    pending, _browser = flow.begin_hosted(oauth, NAME, "other", "http://localhost/cb")
    newer = new_key()
    rotated = make_oauth(clock=clock, env={**environ(server, f"{newer},{key}")})
    with store.begin(immediate=True) as conn:
        assert rotate_stored(conn, rotated.vault, all_metadata()) == 2

    assert len(server.issued) >= 14 and server.refreshes
    text = stored_text(store_url)
    with store.begin() as conn:
        ciphertext = conn.execute(select(connection_tokens.c.access_token_enc)).scalar_one()
    assert ciphertext.startswith("gAAAAA") and ciphertext in text  # the scan sees the store
    secrets = [
        *server.issued,
        pending.state,
        pending.code_verifier,
        key,
        newer,
        *[r.get("code_verifier", "") for r in server.token_requests],
    ]
    assert leaks(secrets, text) == []


def test_the_scan_would_find_a_token_written_in_plain_text(make_oauth, server, store, store_url):
    """The control: the same scan finds a token that is stored without the vault."""
    oauth = make_oauth()
    connection = connect(oauth)
    token = server.issued[-2]
    assert leaks([token], stored_text(store_url)) == []
    from sqlalchemy import update

    from connector.store.schema import connections

    with store.begin() as conn:
        conn.execute(
            update(connections)
            .where(connections.c.id == connection.id)
            .values(status_reason=f"oops {token}")
        )
    assert leaks([token], stored_text(store_url)) == [token[:6] + "..."]
