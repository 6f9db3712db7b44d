"""Dunning: actions, disputes, pauses, arrangements, call tasks (see connector.dunning.tables).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import Amount
from connector.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _admin_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["administration_id"],
        ["administrations.id"],
        name=f"fk_{table}_administration_id_administrations",
        ondelete="CASCADE",
    )


def _item_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["item_id"],
        ["open_items.id"],
        name=f"fk_{table}_item_id_open_items",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "dunning_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("step_name", sa.String(64), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("step_kind", sa.String(20), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("channels", sa.String(100), nullable=False),
        sa.Column("message", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("planned_on", sa.Date, nullable=False),
        sa.Column("letter_date", sa.Date),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("sent_on", sa.Date),
        sa.Column("delivered_on", sa.Date),
        sa.Column("term_end", sa.Date),
        sa.Column("costs_from", sa.Date),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("principal", Amount, nullable=False),
        sa.Column("collection_costs", Amount, nullable=False),
        sa.Column("collection_costs_vat", Amount, nullable=False),
        sa.Column("interest", Amount, nullable=False),
        sa.Column("total", Amount, nullable=False),
        sa.Column("costs_if_unpaid", Amount),
        sa.Column("charged_costs", Amount, nullable=False),
        sa.Column("charged_vat", Amount, nullable=False),
        sa.Column("charged_interest", Amount, nullable=False),
        sa.Column("charged_principal", Amount, nullable=False),
        sa.Column("payment_reference", sa.String(16), nullable=False),
        sa.Column("pay_by", sa.Date),
        sa.Column("attach_invoices", sa.Boolean, nullable=False),
        sa.Column("arrangement_id", sa.Integer),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("approved_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_dunning_actions"),
        _admin_fk("dunning_actions"),
        sa.UniqueConstraint(
            "administration_id",
            "debtor_code",
            "step_name",
            "cycle",
            name="uq_dunning_actions_key",
        ),
    )
    op.create_index(
        "ix_dunning_actions_admin_status", "dunning_actions", ["administration_id", "status"]
    )
    op.create_index(
        "ix_dunning_actions_admin_debtor", "dunning_actions", ["administration_id", "debtor_code"]
    )
    op.create_index(
        "ix_dunning_actions_payment_reference", "dunning_actions", ["payment_reference"]
    )

    op.create_table(
        "dunning_action_items",
        sa.Column("action_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("open_amount", Amount, nullable=False),
        sa.Column("interest", Amount, nullable=False),
        sa.Column("charged", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("action_id", "item_id", name="pk_dunning_action_items"),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["dunning_actions.id"],
            name="fk_dunning_action_items_action_id_dunning_actions",
            ondelete="CASCADE",
        ),
        _item_fk("dunning_action_items"),
    )
    op.create_index("ix_dunning_action_items_item", "dunning_action_items", ["item_id"])

    op.create_table(
        "dunning_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dunning_deliveries"),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["dunning_actions.id"],
            name="fk_dunning_deliveries_action_id_dunning_actions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("action_id", "channel", name="uq_dunning_deliveries_action_channel"),
    )

    op.create_table(
        "dunning_disputes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("resolution", sa.Text, nullable=False),
        sa.Column("ledger_flagged", sa.Boolean, nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_dunning_disputes"),
        _admin_fk("dunning_disputes"),
        _item_fk("dunning_disputes"),
    )
    op.create_index(
        "uq_dunning_disputes_open_item",
        "dunning_disputes",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "dunning_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("item_id", sa.Integer),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("until", sa.Date),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("lifted_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_dunning_overrides"),
        _admin_fk("dunning_overrides"),
        _item_fk("dunning_overrides"),
    )
    op.create_index(
        "ix_dunning_overrides_admin_debtor",
        "dunning_overrides",
        ["administration_id", "debtor_code"],
    )

    op.create_table(
        "payment_arrangements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", Amount, nullable=False),
        sa.Column("grace_days", sa.Integer, nullable=False),
        sa.Column("every", sa.String(10), nullable=False),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("broken_on", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_payment_arrangements"),
        _admin_fk("payment_arrangements"),
    )
    op.create_index(
        "ix_payment_arrangements_admin_debtor",
        "payment_arrangements",
        ["administration_id", "debtor_code"],
    )

    op.create_table(
        "arrangement_instalments",
        sa.Column("arrangement_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.PrimaryKeyConstraint("arrangement_id", "seq", name="pk_arrangement_instalments"),
        sa.ForeignKeyConstraint(
            ["arrangement_id"],
            ["payment_arrangements.id"],
            name="fk_arrangement_instalments_arrangement_id_payment_arrangements",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "arrangement_items",
        sa.Column("arrangement_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("open_amount", Amount, nullable=False),
        sa.PrimaryKeyConstraint("arrangement_id", "item_id", name="pk_arrangement_items"),
        sa.ForeignKeyConstraint(
            ["arrangement_id"],
            ["payment_arrangements.id"],
            name="fk_arrangement_items_arrangement_id_payment_arrangements",
            ondelete="CASCADE",
        ),
        _item_fk("arrangement_items"),
    )
    op.create_index("ix_arrangement_items_item", "arrangement_items", ["item_id"])

    op.create_table(
        "call_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("action_key", sa.String(200), nullable=False),
        sa.Column("debtor_name", sa.String(300), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("done_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_call_tasks"),
        _admin_fk("call_tasks"),
        sa.UniqueConstraint("action_key", name="uq_call_tasks_action_key"),
    )
    op.create_index("ix_call_tasks_admin_status", "call_tasks", ["administration_id", "status"])

    op.create_table(
        "dunning_locks",
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("administration_id", name="pk_dunning_locks"),
        _admin_fk("dunning_locks"),
    )


def downgrade() -> None:
    op.drop_table("dunning_locks")
    op.drop_index("ix_call_tasks_admin_status", table_name="call_tasks")
    op.drop_table("call_tasks")
    op.drop_index("ix_arrangement_items_item", table_name="arrangement_items")
    op.drop_table("arrangement_items")
    op.drop_table("arrangement_instalments")
    op.drop_index("ix_payment_arrangements_admin_debtor", table_name="payment_arrangements")
    op.drop_table("payment_arrangements")
    op.drop_index("ix_dunning_overrides_admin_debtor", table_name="dunning_overrides")
    op.drop_table("dunning_overrides")
    op.drop_index("uq_dunning_disputes_open_item", table_name="dunning_disputes")
    op.drop_table("dunning_disputes")
    op.drop_table("dunning_deliveries")
    op.drop_index("ix_dunning_action_items_item", table_name="dunning_action_items")
    op.drop_table("dunning_action_items")
    op.drop_index("ix_dunning_actions_payment_reference", table_name="dunning_actions")
    op.drop_index("ix_dunning_actions_admin_debtor", table_name="dunning_actions")
    op.drop_index("ix_dunning_actions_admin_status", table_name="dunning_actions")
    op.drop_table("dunning_actions")
