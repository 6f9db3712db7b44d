"""The ports: what the core asks of the outside world.

A ledger adapter implements `Ledger`. It owns its cursors: the core stores them as opaque
strings and hands them back on the next sync. What a package cannot do is declared in
`Capabilities`, and the write-back methods raise `NotSupported` for it, never pretend.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from typing import Generic
from typing import Protocol
from typing import TypeVar

from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One batch of records from a ledger feed."""

    records: Sequence[T] = ()
    removed: Sequence[str] = ()  # keys the ledger reports closed or deleted since the cursor
    cursor: str | None = None  # set on the last page: where the next sync starts


@dataclass(frozen=True, slots=True)
class Feed(Generic[T]):
    """A stream of pages.

    `complete` means the feed lists every record that is currently open, so anything the
    store holds open but the feed does not list has been closed in the ledger. An incremental
    feed (`complete=False`) lists changes only and reports closures in `Page.removed`.
    `total` is the expected number of records when the ledger knows it (for progress bars).
    """

    pages: Iterator[Page[T]]
    complete: bool
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    incremental_sync: bool = False
    record_payment: bool = False
    reverse_payment: bool = False
    flag_dispute: bool = False
    targeted_read: bool = False
    invoice_pdf: bool = False
    # The package can send reminders of its own; the user must switch those off or the
    # debtor hears from both.
    own_reminders: bool = False
    oauth: bool = False


@dataclass(frozen=True, slots=True)
class PaymentReceipt:
    """What a ledger says after recording a payment."""

    ledger_reference: str
    amount: Money
    already_recorded: bool = False  # found by its idempotency key: nothing new was written


class Ledger(Protocol):
    """A bookkeeping package seen from the connector."""

    name: str
    capabilities: Capabilities

    def administrations(self) -> Sequence[Administration]:
        """The administrations this connection can reach."""
        ...

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        """Debtors, from `cursor` on (None: everything).

        Raises:
            InputRejected: the source data is wrong; nothing may be changed.
            LedgerError: the ledger failed.
        """
        ...

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        """Open items, from `cursor` on (None: a complete snapshot of what is open)."""
        ...

    def read_items(
        self, administration: Administration, external_ids: Sequence[str]
    ) -> Sequence[OpenItem]:
        """A fresh read of these items; an item missing from the answer is no longer open."""
        ...

    def record_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        paid_on: date,
        idempotency_key: str,
    ) -> PaymentReceipt:
        """Book a payment against the item, at most its current open amount, exactly once."""
        ...

    def flag_dispute(
        self, administration: Administration, item: OpenItem, reason: str, idempotency_key: str
    ) -> None:
        """Tell the ledger the item is disputed (and stop the package's own reminders)."""
        ...

    def clear_dispute(
        self, administration: Administration, item: OpenItem, idempotency_key: str
    ) -> None:
        """Tell the ledger the dispute on the item is resolved."""
        ...


class PaymentProvider(Protocol):
    """A payment provider's webhook side: verify on the raw body, then parse.

    Implementations compare signatures in constant time and take the clock as a parameter
    so tests can fix it. `secrets` are the tenant's own (several during a rotation).
    """

    name: str

    def parse_webhook(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        now: float,
    ) -> Sequence[PaymentEvent]:
        """Verify and parse one delivery into events (an Adyen batch may hold several).

        Raises:
            WebhookRejected: status 401 for a bad or missing signature or a replay outside
                the tolerance, 400 for a body that cannot be parsed.
        """
        ...

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        """The answer once the events are durably stored."""
        ...


class LedgerFactory(Protocol):
    """What an entry point in `dunning_connector.ledgers` must be."""

    def __call__(self, config: Mapping[str, Any]) -> Ledger: ...
