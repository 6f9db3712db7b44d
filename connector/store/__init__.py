"""The store: SQLite by default, PostgreSQL for scale-out."""

from __future__ import annotations

from connector.store.engine import Store

__all__ = ["Store"]
