"""The dunning tables, on the store's one MetaData (migration 0003 creates them).

- `dunning_actions`: one row per letter to a debtor for a step. Its idempotency key is the
  unique (administration_id, debtor_code, step_name, cycle): the same letter can never be
  stored twice, so it can never be sent twice. `cycle` is the n-th letter of that step to that
  debtor (a later invoice reaching the same step gets the next cycle; so does a broken-
  arrangement notice, whose arrangement is in `arrangement_id`).
- `dunning_action_items`: the items a letter covers, with their open amount at the time.
- `dunning_deliveries`: one row per channel that delivered the letter (never two).
- `dunning_disputes`, `dunning_overrides` (pause until a date, exclude, other policy),
  `payment_arrangements` with `arrangement_instalments` and `arrangement_items`,
  `call_tasks`, and `dunning_locks` (one dunning run per administration at a time).
"""

from __future__ import annotations

import enum

from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text

from connector.store.schema import metadata
from connector.store.types import Amount
from connector.store.types import UTCDateTime


class ActionStatus(enum.StrEnum):
    PENDING_APPROVAL = "pending_approval"  # waits for `connector dunning approve`
    PENDING = "pending"  # to be sent (again) by the next run
    SENDING = "sending"  # a run is sending it now; found so at the start of a run: uncertain
    SENT = "sent"
    UNCERTAIN = "uncertain"  # unknown whether it went out: a person decides, never resent
    FAILED = "failed"  # a person said it did not go out; its items are dunned afresh
    CANCELLED = "cancelled"  # not sent: its items changed, or a person cancelled it
    # Held: the letter lacks what a debtor needs (`sender has no IBAN`) or cannot reach the
    # debtor; `status_reason` says why. Never sent; every run plans it afresh.
    BLOCKED = "blocked"
    # Review mode: rendered into the review folder, nothing left; every run plans it afresh.
    REVIEW = "review"


#: Statuses whose items are "underway": no further step until the action is settled.
IN_FLIGHT = (
    ActionStatus.PENDING_APPROVAL.value,
    ActionStatus.PENDING.value,
    ActionStatus.SENDING.value,
    ActionStatus.UNCERTAIN.value,
)
#: Statuses that count as the item having had the step (or having it underway).
COUNTING = (*IN_FLIGHT, ActionStatus.SENT.value)
#: Statuses of letters that never left and that each run replaces by what it plans now.
REPLANNED = (ActionStatus.BLOCKED.value, ActionStatus.REVIEW.value)


class ItemRole(enum.StrEnum):
    DUNNED = "dunned"  # the letter is this item's step
    CREDIT = "credit"  # a credit note or unapplied payment netted in the letter
    NOTICE = "notice"  # listed in a broken-arrangement notice; not a step of the item


dunning_actions = Table(
    "dunning_actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("debtor_code", String(64), nullable=False),
    Column("step_name", String(64), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("policy", String(64), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("step_kind", String(20), nullable=False),
    Column("template", String(100), nullable=False),
    Column("channels", String(100), nullable=False),  # comma-separated ChannelKind values
    Column("message", Boolean, nullable=False),  # e-mail, letter or outbox: a message to the debtor
    Column("language", String(5), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_reason", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("planned_on", Date, nullable=False),
    Column("letter_date", Date),
    Column("sent_at", UTCDateTime),
    Column("sent_on", Date),  # the administration's local date of sending
    Column("delivered_on", Date),  # presumed delivery (post: law.delivery_date; e-mail: sent_on)
    Column("term_end", Date),  # consumer 14-day letter: the last day of the term
    Column("costs_from", Date),  # consumer 14-day letter: costs and handover from this day
    Column("currency", String(3), nullable=False),
    Column("principal", Amount, nullable=False),
    Column("collection_costs", Amount, nullable=False),
    Column("collection_costs_vat", Amount, nullable=False),
    Column("interest", Amount, nullable=False),
    Column("total", Amount, nullable=False),
    Column("costs_if_unpaid", Amount),  # consumer 14-day letter: the costs it announces
    # The claim this action starts: costs charged here for the first time on its items (with
    # the interest of those items and their principal), carried by every later letter.
    Column("charged_costs", Amount, nullable=False),
    Column("charged_vat", Amount, nullable=False),
    Column("charged_interest", Amount, nullable=False),
    Column("charged_principal", Amount, nullable=False),
    Column("payment_reference", String(16), nullable=False),
    Column("pay_by", Date),
    Column("attach_invoices", Boolean, nullable=False, default=False),
    Column("arrangement_id", Integer),
    Column("notes", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("approved_at", UTCDateTime),
    UniqueConstraint(
        "administration_id", "debtor_code", "step_name", "cycle", name="uq_dunning_actions_key"
    ),
    Index("ix_dunning_actions_admin_status", "administration_id", "status"),
    Index("ix_dunning_actions_admin_debtor", "administration_id", "debtor_code"),
    Index("ix_dunning_actions_payment_reference", "payment_reference"),
)

dunning_action_items = Table(
    "dunning_action_items",
    metadata,
    Column(
        "action_id",
        Integer,
        ForeignKey("dunning_actions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(10), nullable=False),
    Column("open_amount", Amount, nullable=False),
    Column("interest", Amount, nullable=False),
    Column("charged", Boolean, nullable=False, default=False),  # costs first charged here
    Index("ix_dunning_action_items_item", "item_id"),
)

dunning_deliveries = Table(
    "dunning_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "action_id", Integer, ForeignKey("dunning_actions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("channel", String(20), nullable=False),
    Column("reference", Text, nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("delivered_at", UTCDateTime, nullable=False),
    UniqueConstraint("action_id", "channel", name="uq_dunning_deliveries_action_channel"),
)

dunning_disputes = Table(
    "dunning_disputes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(10), nullable=False),  # open / resolved
    Column("reason", Text, nullable=False),
    Column("resolution", Text, nullable=False, default=""),
    Column("ledger_flagged", Boolean, nullable=False, default=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    # At most one open dispute per item.
    Index(
        "uq_dunning_disputes_open_item",
        "item_id",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)


class OverrideKind(enum.StrEnum):
    PAUSE = "pause"  # no dunning before `until` (a "mahnstop"), with a reason
    EXCLUDE = "exclude"  # no dunning until lifted
    POLICY = "policy"  # another policy than the segment rules choose


dunning_overrides = Table(
    "dunning_overrides",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("debtor_code", String(64), nullable=False),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE")),  # None: debtor
    Column("kind", String(10), nullable=False),
    Column("until", Date),  # pause: dunning resumes on this day
    Column("policy", String(64), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lifted_at", UTCDateTime),
    Index("ix_dunning_overrides_admin_debtor", "administration_id", "debtor_code"),
)


class ArrangementStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"  # every covered item is paid
    BROKEN = "broken"  # an instalment was missed past its grace period; dunning resumed
    CANCELLED = "cancelled"


payment_arrangements = Table(
    "payment_arrangements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("debtor_code", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Amount, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("every", String(10), nullable=False),
    Column("created_on", Date, nullable=False),
    Column("broken_on", Date),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Index("ix_payment_arrangements_admin_debtor", "administration_id", "debtor_code"),
)

arrangement_instalments = Table(
    "arrangement_instalments",
    metadata,
    Column(
        "arrangement_id",
        Integer,
        ForeignKey("payment_arrangements.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("due_on", Date, nullable=False),
    Column("amount", Amount, nullable=False),
)

arrangement_items = Table(
    "arrangement_items",
    metadata,
    Column(
        "arrangement_id",
        Integer,
        ForeignKey("payment_arrangements.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_id", Integer, ForeignKey("open_items.id", ondelete="CASCADE"), primary_key=True),
    Column("open_amount", Amount, nullable=False),  # at the arrangement's start
    Index("ix_arrangement_items_item", "item_id"),
)

call_tasks = Table(
    "call_tasks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("debtor_code", String(64), nullable=False),
    Column("action_key", String(200), nullable=False),
    Column("debtor_name", String(300), nullable=False),
    Column("phone", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(10), nullable=False),  # open / done
    Column("note", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    UniqueConstraint("action_key", name="uq_call_tasks_action_key"),
    Index("ix_call_tasks_admin_status", "administration_id", "status"),
)

dunning_locks = Table(
    "dunning_locks",
    metadata,
    Column(
        "administration_id",
        Integer,
        ForeignKey("administrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
)
