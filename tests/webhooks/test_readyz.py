"""Issue 16.11: /readyz reads a real table with a short timeout and is not ready while the
store is locked (a webhook could not be stored then)."""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url


def _ready(client) -> tuple[int, float]:
    started = time.perf_counter()
    answer = client.get("/readyz")
    return answer.status_code, time.perf_counter() - started


def test_readyz_is_not_ready_while_the_store_is_locked(edge, store_url):
    client, _ = edge
    assert _ready(client)[0] == 200
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        # Another process holds the write lock (a long transaction, a stuck job).
        holder = sqlite3.connect(url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = holder.rollback
    else:
        engine = create_engine(url)
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(text("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE"))

        def release() -> None:
            trans.rollback()
            conn.close()
            engine.dispose()

    try:
        status, took = _ready(client)
        assert status == 503, "ready while no webhook could be stored"
        assert took < 5, took  # a short timeout, not the 30 s busy wait
        assert client.get("/readyz").json == {"error": "store unreachable or locked"}
        assert client.get("/healthz").status_code == 200  # liveness is not readiness
    finally:
        release()
    assert _ready(client)[0] == 200


def test_readyz_without_the_table_is_not_ready(edge, store_url):
    client, _ = edge
    store = client.application.extensions["connector"].store
    store.check_ready("webhook_events")  # the real table is there
    try:
        store.check_ready("no_such_table")
    except Exception as exc:  # noqa: BLE001 - the type is asserted below
        assert type(exc).__name__ == "StoreError"
    else:
        raise AssertionError("a missing table was taken for ready")
