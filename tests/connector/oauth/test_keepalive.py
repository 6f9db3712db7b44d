"""The keep-alive refreshes connections whose refresh token has been idle too long."""

from __future__ import annotations

from connector.oauth import keep_alive
from connector.oauth import records
from tests.fakes.oauth_support import connect


def test_idle_connections_are_refreshed_and_others_left_alone(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=86_400)
    connection = connect(oauth)
    assert [r.outcome for r in keep_alive(oauth)] == ["not due"]
    assert server.refresh_attempts == 0
    clock.advance(86_401)
    [result] = keep_alive(oauth)
    assert (result.connection_id, result.outcome) == (connection.id, "refreshed")
    assert server.refresh_attempts == 1
    assert [r.outcome for r in keep_alive(oauth)] == ["not due"]
    assert server.refresh_attempts == 1


def test_the_keep_alive_respects_the_minimum_token_age(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=10, min_token_age_seconds=570)
    connect(oauth)
    clock.advance(60)
    assert [r.outcome for r in keep_alive(oauth)] == ["not due"]
    assert server.refresh_attempts == 0


def test_dead_and_disconnected_connections_are_skipped(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=10)
    connection = connect(oauth)
    with oauth.store.begin() as conn:
        records.set_status(conn, connection.id, records.RECONNECT_REQUIRED, "dead", clock())
    clock.advance(60)
    assert keep_alive(oauth) == []
    assert server.refresh_attempts == 0


def test_a_failed_keep_alive_is_reported_not_raised(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=10)
    connect(oauth)
    server.stop()
    clock.advance(60)
    [result] = keep_alive(oauth)
    assert "token endpoint cannot be reached" in result.outcome
