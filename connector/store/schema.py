"""The store's tables (SQLAlchemy Core). Alembic migrations create them; keep both in step.

Later parts of the connector add their tables in their own migrations and modules.
"""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint

from connector.store.types import Amount
from connector.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Marks a column whose values are Fernet ciphertexts of the vault (connector.vault): the
# vault's key check and `connector secrets rotate` find every such column by this mark.
ENCRYPTED = "encrypted"

connections = Table(
    "connections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("ledger", String(40), nullable=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("status", String(30), nullable=False, default="active"),
    Column("status_reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When the status last changed (reconnect_required, disconnected); None: never.
    Column("status_changed_at", UTCDateTime),
)

administrations = Table(
    "administrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "connection_id", Integer, ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    ),
    Column("external_id", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False, default="EUR"),
    Column("timezone", String(64), nullable=False, default="Europe/Amsterdam"),
    Column("country", String(2), nullable=False, default="NL"),
    Column("active", Boolean, nullable=False, default=True),
    Column("last_sync_at", UTCDateTime),
    Column("last_sync_status", String(20), nullable=False, default="never"),
    Column("last_sync_error", Text, nullable=False, default=""),
    UniqueConstraint("connection_id", "external_id", name="uq_administrations_connection_ext"),
)

debtors = Table(
    "debtors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("code", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("email", String(320), nullable=False, default=""),
    Column("phone", String(64), nullable=False, default=""),
    Column("street", String(300), nullable=False, default=""),
    Column("postal_code", String(20), nullable=False, default=""),
    Column("city", String(100), nullable=False, default=""),
    Column("country", String(2), nullable=False, default=""),
    Column("iban", String(34), nullable=False, default=""),
    Column("vat_number", String(20), nullable=False, default=""),
    Column("kvk_number", String(20), nullable=False, default=""),
    Column("language", String(5), nullable=False, default="nl"),
    Column("payment_term_days", Integer),
    Column("tags", JSON, nullable=False, default=list),
    Column("fingerprint", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("administration_id", "code", name="uq_debtors_administration_code"),
)

open_items = Table(
    "open_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("external_id", String(100), nullable=False),
    Column("invoice_number", String(100), nullable=False),
    Column("debtor_code", String(64), nullable=False),
    Column("invoice_date", Date),
    Column("due_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount),
    Column("open_amount", Amount, nullable=False),
    Column("description", Text, nullable=False, default=""),
    # invoice | credit_note | unapplied_payment (connector.domain.ItemKind)
    Column("kind", String(20), nullable=False, default="invoice", server_default="invoice"),
    Column("status", String(10), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    UniqueConstraint("administration_id", "external_id", name="uq_open_items_administration_ext"),
    Index("ix_open_items_admin_status_due", "administration_id", "status", "due_date"),
    Index("ix_open_items_admin_debtor", "administration_id", "debtor_code"),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("stream", String(40), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One OAuth grant's tokens, Fernet-encrypted (connector.vault); a connection without a row
# has no tokens (a files ledger, or disconnected). The row is also the per-connection refresh
# lock: SELECT ... FOR UPDATE on PostgreSQL, inside BEGIN IMMEDIATE on SQLite.
connection_tokens = Table(
    "connection_tokens",
    metadata,
    Column(
        "connection_id",
        Integer,
        ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("access_token_enc", Text, nullable=False, info={ENCRYPTED: True}),
    Column("refresh_token_enc", Text, info={ENCRYPTED: True}),
    Column("token_type", String(40), nullable=False, default="Bearer"),
    Column("scope", Text, nullable=False, default=""),
    Column("expires_at", UTCDateTime),  # of the access token; None: it does not expire
    Column("obtained_at", UTCDateTime, nullable=False),  # when the access token was issued
    Column("refreshed_at", UTCDateTime, nullable=False),  # last grant or refresh (keep-alive)
    Column("refresh_count", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Hosted sign-ins in progress (/oauth/<ledger>/start until its callback): looked up by a hash
# of the state, bound to the browser by a hash of a cookie, used once, short-lived.
oauth_pending = Table(
    "oauth_pending",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("ledger", String(40), nullable=False),
    Column("name", String(100), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("code_verifier_enc", Text, info={ENCRYPTED: True}),
    Column("browser_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
