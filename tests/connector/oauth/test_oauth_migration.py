"""Migration 0002 adds the token tables and the connections column, and takes them away."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from connector.store import Store
from connector.store.engine import _alembic_config


def _shape(store: Store) -> tuple[set[str], set[str]]:
    inspector = inspect(store.engine)
    tables = set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("connections")}
    return tables, columns


def _to(store: Store, revision: str, *, down: bool) -> None:
    config = _alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_upgrade_and_downgrade(store: Store):
    tables, columns = _shape(store)
    assert {"connection_tokens", "oauth_pending"} <= tables and "status_changed_at" in columns
    _to(store, "0001", down=True)
    tables, columns = _shape(store)
    assert not {"connection_tokens", "oauth_pending"} & tables
    assert "status_changed_at" not in columns and "status_reason" in columns
    _to(store, "head", down=False)
    tables, columns = _shape(store)
    assert {"connection_tokens", "oauth_pending"} <= tables and "status_changed_at" in columns
