"""Sync totals per ledger, for /metrics (connector.sync_metrics).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_totals",
        sa.Column("ledger", sa.String(40), nullable=False),
        sa.Column("syncs", sa.Integer, nullable=False),
        sa.Column("administrations", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("last_seconds", sa.Float, nullable=False),
        sa.Column("api_calls", sa.Integer, nullable=True),
        sa.Column("rate_limited", sa.Integer, nullable=True),
        sa.Column("last_finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("ledger", name="pk_sync_totals"),
    )


def downgrade() -> None:
    op.drop_table("sync_totals")
