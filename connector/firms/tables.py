"""The workspace's tables, on the store's one MetaData (migration 0009 creates them).

- `firms`: a tenant (an accountancy firm or an SME) on one installation.
- `firm_administrations`: which firm an administration belongs to (at most one).
- `users`: a person of a firm, with one role and an argon2 password hash.
- `user_grants`: the administrations a (non-owner) user may see; owners see all of the firm's.
- `audit_log`: every action a user took in the workspace: who, what, when, before/after.
- `debtor_notes`: notes people write on a debtor (shown on the debtor's timeline).
"""

from __future__ import annotations

import enum

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text

from connector.store.schema import metadata
from connector.store.types import UTCDateTime


class Role(enum.StrEnum):
    OWNER = "owner"  # users, connections, settings; acts and reads
    CONTROLLER = "controller"  # a credit controller: approves, pauses, disputes, notes
    VIEWER = "viewer"  # reads only

    @property
    def can_act(self) -> bool:
        return self is not Role.VIEWER


firms = Table(
    "firms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

firm_administrations = Table(
    "firm_administrations",
    metadata,
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("firm_id", Integer, ForeignKey("firms.id", ondelete="CASCADE"), nullable=False),
    Index("ix_firm_administrations_firm", "firm_id"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("firm_id", Integer, ForeignKey("firms.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False, unique=True),  # stored lower-cased
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
)

user_grants = Table(
    "user_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("firm_id", Integer, ForeignKey("firms.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(60), nullable=False),  # e.g. "letter.approve", "debtor.pause"
    Column("administration_id", Integer, ForeignKey("administrations.id", ondelete="SET NULL")),
    Column("subject", String(200), nullable=False, default=""),  # what it acted on
    Column("before", JSON),
    Column("after", JSON),
    Index("ix_audit_log_firm_at", "firm_id", "at"),
)

debtor_notes = Table(
    "debtor_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("debtor_code", String(64), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_debtor_notes_admin_debtor", "administration_id", "debtor_code"),
)
