"""Payment links kept in the store, so that a letter sent again (a retry, a second run) gets
the link it already had instead of a new one at the provider."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from connector.payments.tables import payment_links
from connector.store import Store


class StoreLinkStore:
    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    def get(self, key: str) -> str | None:
        with self._store.begin() as conn:
            url = conn.execute(
                select(payment_links.c.url).where(payment_links.c.key == key)
            ).scalar()
        return None if url is None else str(url)

    def put(self, key: str, url: str) -> None:
        with self._store.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(
                insert(payment_links)
                .values(key=key, url=url, created_at=self._clock())
                .on_conflict_do_nothing(index_elements=["key"])
            )
