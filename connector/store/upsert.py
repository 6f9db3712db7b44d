"""Bulk upserts: one INSERT ... ON CONFLICT statement per batch, on SQLite and PostgreSQL.

SQLAlchemy's "insertmanyvalues" turns an executemany into multi-row VALUES statements of up
to `insertmanyvalues_page_size` rows; the Store switches it on for plain INSERTs too. Building
a multi-row `values([...])` construct by hand instead costs a full compile per batch and is
ten times slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import Insert


@lru_cache(maxsize=64)
def _statement(
    dialect: str,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    keep: tuple[str, ...],
) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    updates = {name: stmt.excluded[name] for name in columns if name not in keys + keep}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    keep: Sequence[str] = (),
) -> None:
    """Insert rows, or update them where `keys` already exist.

    Columns in `keep` are written on insert only (e.g. created_at). Every row must have the
    same keys.
    """
    if not rows:
        return
    stmt = _statement(conn.dialect.name, table, tuple(rows[0]), tuple(keys), tuple(keep))
    conn.execute(stmt, list(rows))
