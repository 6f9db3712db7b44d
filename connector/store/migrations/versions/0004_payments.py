"""Payments: webhook endpoints and secrets, received events, allocations, the write-back outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import Amount
from connector.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(column: str, target: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=f"fk_{table}_{column}_{target}",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        sa.UniqueConstraint("name", name="uq_webhook_endpoints_name"),
        sa.UniqueConstraint("token_hash", name="uq_webhook_endpoints_token_hash"),
    )
    op.create_table(
        "endpoint_administrations",
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "endpoint_id", "administration_id", name="pk_endpoint_administrations"
        ),
        _fk("endpoint_id", "webhook_endpoints", "endpoint_administrations"),
        _fk("administration_id", "administrations", "endpoint_administrations"),
    )
    op.create_table(
        "provider_secrets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_secrets"),
        _fk("endpoint_id", "webhook_endpoints", "provider_secrets"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("payment_id", sa.String(200), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("references", sa.JSON, nullable=False),
        sa.Column("payer_name", sa.String(300), nullable=False),
        sa.Column("payer_iban", sa.String(34), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("processed_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        _fk("endpoint_id", "webhook_endpoints", "webhook_events"),
        sa.UniqueConstraint("endpoint_id", "provider", "event_id", name="uq_webhook_events_event"),
    )
    op.create_index("ix_webhook_events_status", "webhook_events", ["status", "id"])
    op.create_table(
        "payment_allocations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("matched_by", sa.String(30), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_allocations"),
        _fk("event_id", "webhook_events", "payment_allocations"),
        _fk("item_id", "open_items", "payment_allocations"),
    )
    op.create_index("ix_payment_allocations_item", "payment_allocations", ["item_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("amount", Amount),
        sa.Column("currency", sa.String(3)),
        sa.Column("paid_on", sa.Date),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("ledger_reference", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("done_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        _fk("administration_id", "administrations", "outbox"),
        _fk("item_id", "open_items", "outbox"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_item", "outbox", ["item_id", "status"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("payment_allocations")
    op.drop_table("webhook_events")
    op.drop_table("provider_secrets")
    op.drop_table("endpoint_administrations")
    op.drop_table("webhook_endpoints")
