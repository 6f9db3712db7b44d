"""Disputes opened by payments (chargebacks) pause dunning for the item, through the same
dispute records as `connector dispute open`; the ledger is told through the payments outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from connector.dunning import store as dstore


class DunningDisputes:
    """The payments processing's DisputeHook."""

    def open(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None:
        dstore.open_dispute(conn, item_id, reason, now)

    def resolve(self, conn: Connection, item_id: int, reason: str, now: datetime) -> None:
        dstore.resolve_dispute(conn, item_id, reason, now)
