"""Two OS processes share one connection through several expiries of 2-second tokens.

Each process (tests/fakes/token_worker.py) makes 200 API calls at a steady pace over about
six seconds, asking `AccessTokens.access_token()` before every call. The fake server
rotates refresh tokens, treats a second use as reuse (revoking the whole family) and
refuses any refresh of an access token younger than 1.4 s. So a refresh that is not
serialized across the processes, or one that comes too early, shows up as invalid_grant,
a reuse, an early refresh, or 401s, and the test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.oauth_support import connect
from tests.fakes.oauth_support import environ
from tests.fakes.oauth_support import leaks

ROOT = Path(__file__).resolve().parents[3]
CALLS = 200
INTERVAL = 0.03  # 200 calls in 6 s
LIFETIME = 2.0
LEEWAY = 0.5  # the test ledger's refresh_leeway_seconds: a refresh every ~1.5 s


def test_two_processes_refresh_exactly_once_per_expiry(make_oauth, servers, store_url, key):
    server = servers(access_token_lifetime=LIFETIME, min_token_age=LIFETIME - LEEWAY - 0.1)
    oauth = make_oauth(server)
    connection = connect(oauth)
    spec = {
        "store_url": store_url,
        "section": server.settings(),
        "environ": environ(server, key),
        "connection_id": connection.id,
        "calls": CALLS,
        "interval": INTERVAL,
        "start_at": time.time() + 2.0,  # both start together, after their imports
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.token_worker", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=60) for w in workers]
    elapsed = time.monotonic() - started

    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    stats = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    calls_seconds = max(s["seconds"] for s in stats)
    expiries = calls_seconds / (LIFETIME - LEEWAY)
    refreshes = len(server.refreshes)
    print(
        f"\n[{store_url.split(':')[0]}] {sum(s['calls'] for s in stats)} calls in "
        f"{calls_seconds:.1f} s by 2 processes ({elapsed:.1f} s with start-up), "
        f"{refreshes} refreshes, {server.refresh_attempts} token requests, "
        f"replaced token ages {[round(r.replaced_age, 2) for r in server.refreshes]}"
    )

    # both finished every call, all accepted
    for s in stats:
        assert s["errors"] == [] and s["calls"] == CALLS and s["ok"] == CALLS, s
        assert s["unauthorized"] == 0
    assert server.api_calls == 2 * CALLS and server.api_unauthorized == 0
    # zero invalid_grant, no reuse, no refresh too early
    assert server.invalid_grants == 0 and server.reuse_detected == 0
    assert server.early_refreshes == 0
    # exactly one refresh per expiry: every refresh token was sent once, every refresh
    # replaced a token that had reached its refresh time, and there were as many as expiries
    assert server.refresh_attempts == refreshes
    assert all(uses == 1 for uses in server.refresh_uses.values())
    assert all(r.replaced_age >= LIFETIME - LEEWAY - 0.1 for r in server.refreshes)
    assert int(expiries) - 1 <= refreshes <= int(expiries) + 1 and refreshes >= 3
    # both processes used the same chain of tokens (give or take the first one, if it was
    # still good at the start, and a last refresh that one of them no longer needed)
    for s in stats:
        assert refreshes - 1 <= s["tokens_seen"] <= refreshes + 1, s
    # and logged no secret (they log at DEBUG to stderr)
    assert leaks([*server.issued, key], "".join(err for _, err in outputs)) == []
    assert elapsed < 25


@pytest.fixture(autouse=True)
def _show_figures(capsys):
    yield
    with capsys.disabled():
        print(capsys.readouterr().out, end="")
