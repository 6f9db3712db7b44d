"""Open items know what they are: invoice, credit note or unapplied payment (issue 12.10).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every item stored so far was taken for an invoice (or, negative, a credit note); the
    # next sync of a ledger that tells them apart corrects the kind.
    with op.batch_alter_table("open_items") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="invoice"))


def downgrade() -> None:
    with op.batch_alter_table("open_items") as batch:
        batch.drop_column("kind")
