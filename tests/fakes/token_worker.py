"""One OS process of the concurrency test: `python -m tests.fakes.token_worker SPEC_JSON`.

It opens the store and the connection's tokens exactly as the connector does (through
`OAuthLedgers`), waits for the common start time, then makes `calls` API calls to the fake
server at a steady pace, each with `AccessTokens.access_token()`, and prints one JSON line
of statistics. All of its logging (DEBUG) goes to stderr, which the test scans for secrets.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from types import MappingProxyType

import requests

from connector.errors import ConnectorError
from connector.oauth.service import OAuthLedgers
from connector.settings import Settings
from connector.store import Store
from connector.store import records
from tests.fakes import oauth_ledger


def main(spec: dict) -> dict:
    oauth_ledger.patched_registry()
    settings = Settings(
        database_url=spec["store_url"],
        raw=MappingProxyType({"ledgers": {oauth_ledger.NAME: spec["section"]}}),
    )
    store = Store(spec["store_url"])
    oauth = OAuthLedgers(settings, store, spec["environ"])
    with store.begin() as conn:
        connection = records.find_connection(conn, str(spec["connection_id"]))
    tokens = oauth.tokens(connection)
    http = requests.Session()
    stats = {"calls": 0, "ok": 0, "unauthorized": 0, "errors": [], "tokens_seen": 0}
    seen: set[str] = set()
    pause = spec["interval"]
    while time.time() < spec["start_at"]:
        time.sleep(min(0.01, max(0.0, spec["start_at"] - time.time())))
    started = time.monotonic()
    for n in range(spec["calls"]):
        try:
            token = tokens.access_token()
            seen.add(token)
            response = http.get(
                f"{spec['section']['api_url']}/ping",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            stats["calls"] += 1
            if response.status_code == 200:
                stats["ok"] += 1
            elif response.status_code == 401:
                stats["unauthorized"] += 1
        except ConnectorError as exc:
            stats["errors"].append(f"{type(exc).__name__}: {exc}")
            if len(stats["errors"]) > 5:
                break
        # a steady pace: call n+1 is due at started + (n+1) * pause
        delay = started + (n + 1) * pause - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    stats["seconds"] = round(time.monotonic() - started, 3)
    stats["tokens_seen"] = len(seen)
    store.dispose()
    return stats


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
