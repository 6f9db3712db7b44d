"""Connections, administrations, debtors, open items and sync cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import Amount
from connector.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("ledger", sa.String(40), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
        sa.UniqueConstraint("name", name="uq_connections_name"),
    )
    op.create_table(
        "administrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("last_sync_at", UTCDateTime),
        sa.Column("last_sync_status", sa.String(20), nullable=False),
        sa.Column("last_sync_error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_administrations"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_administrations_connection_id_connections",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "connection_id", "external_id", name="uq_administrations_connection_ext"
        ),
    )
    op.create_table(
        "debtors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("street", sa.String(300), nullable=False),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("vat_number", sa.String(20), nullable=False),
        sa.Column("kvk_number", sa.String(20), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("payment_term_days", sa.Integer),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_debtors"),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_debtors_administration_id_administrations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("administration_id", "code", name="uq_debtors_administration_code"),
    )
    op.create_table(
        "open_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("invoice_number", sa.String(100), nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("invoice_date", sa.Date),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", Amount),
        sa.Column("open_amount", Amount, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_open_items"),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_open_items_administration_id_administrations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "administration_id", "external_id", name="uq_open_items_administration_ext"
        ),
    )
    op.create_index(
        "ix_open_items_admin_status_due", "open_items", ["administration_id", "status", "due_date"]
    )
    op.create_index(
        "ix_open_items_admin_debtor", "open_items", ["administration_id", "debtor_code"]
    )
    op.create_table(
        "sync_cursors",
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("stream", sa.String(40), nullable=False),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("administration_id", "stream", name="pk_sync_cursors"),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_sync_cursors_administration_id_administrations",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    op.drop_index("ix_open_items_admin_debtor", table_name="open_items")
    op.drop_index("ix_open_items_admin_status_due", table_name="open_items")
    op.drop_table("open_items")
    op.drop_table("debtors")
    op.drop_table("administrations")
    op.drop_table("connections")
