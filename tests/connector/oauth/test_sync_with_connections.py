"""Sync with OAuth connections: it uses the tokens, skips a dead grant and says why, and
leaves a disconnected connection (and its history) alone."""

from __future__ import annotations

import pytest

from connector.errors import ReconnectRequired
from connector.oauth.service import disconnect
from connector.store import records
from connector.sync import sync_all
from tests.fakes.oauth_support import connect


def test_sync_skips_reconnect_required_and_disconnected(make_oauth, clock, server, store):
    oauth = make_oauth(clock=clock)
    connection = connect(oauth)
    [ok] = sync_all(store, oauth.open_ledger, clock=clock)
    assert ok.ok and ok.administration == "Bakkerij van Dijk"
    calls = server.api_calls

    clock.advance(600)
    server.drop_next_refresh = True
    with pytest.raises(ReconnectRequired):
        oauth.tokens(connection).access_token()
    attempts = server.refresh_attempts

    [skipped] = sync_all(store, make_oauth(clock=clock).open_ledger, clock=clock)
    assert skipped.error.startswith("skipped: connection 'acme' must be connected again: ")
    assert "run: connector connect testledger --name acme" in skipped.error
    assert (server.refresh_attempts, server.api_calls) == (attempts, calls)
    with store.begin() as conn:
        [admin] = records.list_administrations(conn)
    assert admin.last_sync_status == "error" and admin.last_sync_error == skipped.error

    connect(oauth)  # a person connects again: sync works again
    assert [s.ok for s in sync_all(store, make_oauth(clock=clock).open_ledger, clock=clock)] == [
        True
    ]

    with store.begin() as conn:
        found = records.find_connection(conn, "acme")
    disconnect(oauth, found)
    assert sync_all(store, make_oauth(clock=clock).open_ledger, clock=clock) == []
    with store.begin() as conn:  # the history stays
        assert [a.name for a in records.list_administrations(conn)] == ["Bakkerij van Dijk"]
