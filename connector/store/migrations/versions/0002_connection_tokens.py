"""Connections: encrypted tokens and refresh state, and hosted sign-ins in progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("status_changed_at", UTCDateTime, nullable=True))
    op.create_table(
        "connection_tokens",
        sa.Column("connection_id", sa.Integer, nullable=False),
        sa.Column("access_token_enc", sa.Text, nullable=False),
        sa.Column("refresh_token_enc", sa.Text),
        sa.Column("token_type", sa.String(40), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("obtained_at", UTCDateTime, nullable=False),
        sa.Column("refreshed_at", UTCDateTime, nullable=False),
        sa.Column("refresh_count", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", name="pk_connection_tokens"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_connection_tokens_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "oauth_pending",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("ledger", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("code_verifier_enc", sa.Text),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oauth_pending"),
    )


def downgrade() -> None:
    op.drop_table("oauth_pending")
    op.drop_table("connection_tokens")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("status_changed_at")
