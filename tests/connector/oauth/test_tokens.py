"""ConnectionTokens against the fake server: refresh when due and only then, the lock,
rotation, lost answers, errors that carry a refresh token, dead grants.

The connector's clock is moved by the test (tokens live 600 s at the server, so they stay
valid there); the real-time, two-process case is in test_concurrency.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from connector.errors import AuthError
from connector.errors import RateLimited
from connector.errors import ReconnectRequired
from connector.oauth import records
from connector.oauth.client import TokenSet
from connector.oauth.tokens import is_due
from connector.oauth.tokens import refresh_at
from connector.ports import OAuthSpec
from tests.fakes.oauth_support import connect

LIFETIME = 600
LEEWAY = 0.5  # the test ledger's refresh_leeway_seconds


@pytest.fixture
def connected(make_oauth, clock):
    oauth = make_oauth(clock=clock)
    return oauth, connect(oauth)


def _grant(oauth, connection):
    with oauth.store.begin() as conn:
        return records.read_grant(conn, connection.id, oauth.vault)


def test_refresh_at_respects_leeway_and_minimum_age():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    tokens = TokenSet("a", "r", now + timedelta(seconds=600), now)
    exact = OAuthSpec(
        "https://a", "https://t", refresh_leeway_seconds=60, min_token_age_seconds=570
    )
    assert refresh_at(tokens, exact) == now + timedelta(seconds=570)  # not at 540
    loose = OAuthSpec("https://a", "https://t", refresh_leeway_seconds=60)
    assert refresh_at(tokens, loose) == now + timedelta(seconds=540)
    odd = OAuthSpec("https://a", "https://t", min_token_age_seconds=900)
    assert refresh_at(tokens, odd) == now + timedelta(seconds=600)  # never past expiry
    assert not is_due(tokens, exact, now + timedelta(seconds=569))
    assert is_due(tokens, exact, now + timedelta(seconds=570))
    assert refresh_at(TokenSet("a", None, None, now), exact) is None


def test_a_token_is_used_until_due_then_refreshed_once(connected, server, clock):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    first = tokens.access_token()
    assert [tokens.access_token() for _ in range(20)] == [first] * 20
    assert server.refresh_attempts == 0
    clock.advance(LIFETIME - LEEWAY - 1)
    assert tokens.access_token() == first
    clock.advance(2)
    second = tokens.access_token()
    assert second != first and server.refresh_attempts == 1
    assert [tokens.access_token() for _ in range(20)] == [second] * 20
    assert server.refresh_attempts == 1
    grant = _grant(oauth, connection)
    # the rotated refresh token is what is stored now
    assert grant.tokens.access_token == second == server.issued[-2]
    assert grant.tokens.refresh_token == server.issued[-1]
    assert grant.refresh_count == 1
    assert first not in repr(tokens) and second not in repr(tokens)


def test_a_refresh_by_another_process_is_used_not_repeated(connected, make_oauth, clock, server):
    oauth, connection = connected
    other = make_oauth(clock=clock)  # another process: its own cache, the same store
    mine, theirs = oauth.tokens(connection), other.tokens(connection)
    assert mine.access_token() == theirs.access_token()
    clock.advance(LIFETIME)
    refreshed = theirs.access_token()
    assert mine.access_token() == refreshed
    assert server.refresh_attempts == 1


def test_the_lock_makes_a_second_refresher_wait_and_then_reuse(
    connected, make_oauth, clock, server, store
):
    """While one holder has the lock and refreshes, another refresher waits; after the
    commit it re-reads, finds the token no longer due and does not refresh."""
    oauth, connection = connected
    waiting = make_oauth(clock=clock).tokens(connection)
    waiting.access_token()
    clock.advance(LIFETIME)
    client = oauth.client(connection.ledger)
    result: dict[str, object] = {}
    with store.begin(immediate=True) as conn:
        grant = records.read_grant(conn, connection.id, oauth.vault, lock=True)
        thread = threading.Thread(target=lambda: result.update(token=waiting.access_token()))
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second refresher did not wait for the lock"
        assert server.refresh_attempts == 0
        new = client.refresh(grant.tokens.refresh_token)
        records.save_tokens(conn, connection.id, new, oauth.vault, clock(), refreshed=True)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["token"] == new.access_token
    assert server.refresh_attempts == 1 and server.invalid_grants == 0


def test_rejected_uses_a_newer_token_or_refreshes_once(connected, make_oauth, clock, server):
    oauth, connection = connected
    other = make_oauth(clock=clock)
    mine, theirs = oauth.tokens(connection), other.tokens(connection)
    old = mine.access_token()
    clock.advance(LIFETIME)
    newer = theirs.access_token()
    assert mine.rejected(old) == newer  # someone else refreshed: no second refresh
    assert server.refresh_attempts == 1
    refreshed = mine.rejected(newer)  # the current token itself was refused: refresh
    assert refreshed not in {old, newer} and server.refresh_attempts == 2


def test_a_rejected_token_too_young_to_refresh_is_an_auth_error(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, min_token_age_seconds=570)
    connection = connect(oauth)
    tokens = oauth.tokens(connection)
    token = tokens.access_token()
    clock.advance(10)
    with pytest.raises(AuthError, match="does not allow to be refreshed yet; try again in 560 s"):
        tokens.rejected(token)
    assert server.refresh_attempts == 0
    assert _grant(oauth, connection).status == "active"


def test_a_lost_answer_after_rotation_ends_in_reconnect_required(
    connected, make_oauth, clock, server
):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    tokens.access_token()
    clock.advance(LIFETIME)
    server.drop_next_refresh = True
    with pytest.raises(ReconnectRequired) as error:
        tokens.access_token()
    message = str(error.value)
    assert message.startswith("connection 'acme' must be connected again: the answer to a token")
    assert "closed the connection without answering" in message
    assert message.endswith("run: connector connect testledger --name acme")
    # one lost request, one check with the same token: refused as reuse; nothing more
    assert server.refresh_attempts == 2 and server.dropped == 1 and server.reuse_detected == 1
    grant = _grant(oauth, connection)
    assert grant.status == "reconnect_required" and grant.status_reason == message
    assert grant.tokens.refresh_token is None  # the dead token is gone: nothing can retry it
    for source in (tokens, make_oauth(clock=clock).tokens(connection)):
        for _ in range(3):
            with pytest.raises(ReconnectRequired, match="must be connected again"):
                source.access_token()
    assert server.refresh_attempts == 2


def test_a_lost_request_the_server_never_processed_is_checked_and_recovers(
    connected, clock, server
):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    old = tokens.access_token()
    clock.advance(LIFETIME)
    server.drop_next_refresh_unprocessed = True
    new = tokens.access_token()
    assert new != old and server.refresh_attempts == 2 and len(server.refreshes) == 1
    assert _grant(oauth, connection).status == "active"


def test_a_refresh_token_that_comes_with_an_error_is_kept(connected, clock, server):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    old = tokens.access_token()
    clock.advance(LIFETIME)
    server.rate_limit_next_refresh = True
    with pytest.raises(RateLimited) as error:
        tokens.access_token()
    assert error.value.retry_after == 1
    rotated = server.issued[-1]  # the server rotated, then answered 429 with it
    grant = _grant(oauth, connection)
    assert grant.tokens.refresh_token == rotated and grant.tokens.access_token == old
    new = tokens.access_token()  # the next use refreshes with the kept token
    assert new not in {old} and server.invalid_grants == 0 and server.reuse_detected == 0
    assert _grant(oauth, connection).status == "active"


def test_a_grant_revoked_at_the_provider_needs_a_person(connected, clock, server):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    tokens.access_token()
    oauth.client(connection.ledger).revoke(_grant(oauth, connection).tokens.refresh_token)
    clock.advance(LIFETIME)
    with pytest.raises(
        ReconnectRequired, match=r"testledger refuses the refresh token .*invalid_grant"
    ):
        tokens.access_token()
    attempts = server.refresh_attempts
    with pytest.raises(ReconnectRequired):
        tokens.access_token()
    assert server.refresh_attempts == attempts == 1


def test_old_refresh_token_used_is_a_dead_grant_too(make_oauth, servers, clock, store):
    strict = servers(reuse_error="exact")
    oauth = make_oauth(strict, clock=clock)
    connection = connect(oauth)
    before = _grant(oauth, connection).tokens
    clock.advance(LIFETIME)
    oauth.tokens(connection).access_token()
    # a wrong pair ends up stored (what an unlocked refresher would do)
    with store.begin() as conn:
        records.save_tokens(conn, connection.id, before, oauth.vault, clock(), refreshed=True)
    clock.advance(LIFETIME)
    with pytest.raises(ReconnectRequired, match="Old refresh token used"):
        make_oauth(strict, clock=clock).tokens(connection).access_token()


def test_an_unreachable_token_endpoint_changes_nothing(connected, clock, server):
    oauth, connection = connected
    tokens = oauth.tokens(connection)
    token = tokens.access_token()
    before = _grant(oauth, connection)
    server.stop()
    clock.advance(LIFETIME)
    with pytest.raises(AuthError, match="token endpoint cannot be reached") as error:
        tokens.access_token()
    assert not isinstance(error.value, ReconnectRequired)
    after = _grant(oauth, connection)
    assert after.status == "active" and after.tokens == before.tokens
    assert token == before.tokens.access_token


def test_a_disconnected_connection_has_no_tokens(connected, clock):
    oauth, connection = connected
    with oauth.store.begin() as conn:
        records.delete_tokens(conn, connection.id)
        records.set_status(conn, connection.id, records.DISCONNECTED, "disconnected", clock())
    with pytest.raises(ReconnectRequired, match="it was disconnected"):
        oauth.tokens(connection).access_token()


def test_real_time_expiry_with_short_tokens(make_oauth, servers):
    """No moved clock: 1-second tokens at the server, refreshed before they run out."""
    quick = servers(access_token_lifetime=1)
    oauth = make_oauth(quick)
    tokens = oauth.tokens(connect(oauth))
    seen = set()
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        seen.add(tokens.access_token())
        time.sleep(0.05)
    assert len(seen) == len(quick.refreshes) + 1 >= 3
    assert all(r.replaced_age >= 0.5 for r in quick.refreshes)
