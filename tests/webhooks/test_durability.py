"""Issue 15.7: an acknowledged webhook survives an OS crash or power loss, not only kill -9.

In WAL mode `synchronous=NORMAL` syncs the log only at checkpoints, so the last commits
before a power cut can be lost; FULL syncs the log at every commit, before the 2xx.
"""

from __future__ import annotations

from connector.store import Store

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_sqlite_store_syncs_every_commit(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with store.begin(immediate=True) as conn:  # the ingest path's transaction
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with store.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
    finally:
        store.dispose()
