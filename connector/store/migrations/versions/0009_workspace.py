"""The workspace: firms, users and roles, grants of administrations, the audit log, notes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "firms",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_firms"),
        sa.UniqueConstraint("name", name="uq_firms_name"),
    )
    op.create_table(
        "firm_administrations",
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("firm_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_firm_administrations_administration_id_administrations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name="fk_firm_administrations_firm_id_firms",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("administration_id", name="pk_firm_administrations"),
    )
    op.create_index("ix_firm_administrations_firm", "firm_administrations", ["firm_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("firm_id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_login_at", UTCDateTime),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name="fk_users_firm_id_firms", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "user_grants",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_grants_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_user_grants_administration_id_administrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "administration_id", name="pk_user_grants"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("firm_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("administration_id", sa.Integer),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firms.id"], name="fk_audit_log_firm_id_firms", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_audit_log_user_id_users", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_audit_log_administration_id_administrations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_firm_at", "audit_log", ["firm_id", "at"])
    op.create_table(
        "debtor_notes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("administration_id", sa.Integer, nullable=False),
        sa.Column("debtor_code", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name="fk_debtor_notes_administration_id_administrations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_debtor_notes_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_debtor_notes"),
    )
    op.create_index(
        "ix_debtor_notes_admin_debtor", "debtor_notes", ["administration_id", "debtor_code"]
    )


def downgrade() -> None:
    op.drop_index("ix_debtor_notes_admin_debtor", table_name="debtor_notes")
    op.drop_table("debtor_notes")
    op.drop_index("ix_audit_log_firm_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("user_grants")
    op.drop_table("users")
    op.drop_index("ix_firm_administrations_firm", table_name="firm_administrations")
    op.drop_table("firm_administrations")
    op.drop_table("firms")
