"""Tables of the payments side: webhook endpoints, received events, allocations, the outbox.

They share the store's MetaData so that one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint

from connector.store.schema import ENCRYPTED
from connector.store.schema import metadata
from connector.store.types import Amount
from connector.store.types import UTCDateTime

# A tenant's webhook address: /webhooks/<token>/<provider>. Only a hash of the token is kept,
# so a copy of the database does not reveal the addresses.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

endpoint_administrations = Table(
    "endpoint_administrations",
    metadata,
    Column(
        "endpoint_id",
        Integer,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

provider_secrets = Table(
    "provider_secrets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "endpoint_id",
        Integer,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("provider", String(40), nullable=False),
    Column("secret", Text, nullable=False, info={ENCRYPTED: True}),  # encrypted by the vault
    Column("created_at", UTCDateTime, nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "endpoint_id",
        Integer,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("provider", String(40), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("payment_id", String(200), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("description", Text, nullable=False),
    Column("references", JSON, nullable=False),
    Column("payer_name", String(300), nullable=False),
    Column("payer_iban", String(34), nullable=False),
    # received -> processed | unmatched | ignored; unmatched ones wait in the suspense list
    Column("status", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("processed_at", UTCDateTime),
    UniqueConstraint("endpoint_id", "provider", "event_id", name="uq_webhook_events_event"),
    Index("ix_webhook_events_status", "status", "id"),
)

# How an event's money was applied to open items (a payment may cover several invoices).
payment_allocations = Table(
    "payment_allocations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "event_id", Integer, ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False
    ),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE"), nullable=False),
    Column("amount", Amount, nullable=False),  # positive lowers the open amount, negative reopens
    Column("matched_by", String(30), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_payment_allocations_item", "item_id"),
)

# Every write to a ledger goes through here, under a key that travels into the ledger record.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(30), nullable=False),  # record_payment, reverse_payment, ...
    Column("amount", Amount),
    Column("currency", String(3)),
    Column("paid_on", Date),
    Column("reason", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending, done, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("ledger_reference", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_item", "item_id", "status"),
)


# A ledger's webhook says a record changed: re-read it off the request path.
ledger_hints = Table(
    "ledger_hints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "endpoint_id",
        Integer,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("ledger", String(40), nullable=False),
    Column("administration_external_id", String(100), nullable=False),
    Column("kind", String(10), nullable=False),  # item, debtor
    Column("record_id", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("status", String(20), nullable=False),  # received, done, skipped, failed
    Column("detail", Text, nullable=False),
    Column("processed_at", UTCDateTime),
    Index("ix_ledger_hints_status", "status", "id"),
)


# Payment links made for letters, by link key, so a re-run never gives a letter two links.
payment_links = Table(
    "payment_links",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
