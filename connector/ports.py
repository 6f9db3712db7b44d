"""The ports: what the core asks of the outside world.

A ledger adapter implements `Ledger`. It owns its cursors: the core stores them as opaque
strings and hands them back on the next sync. What a package cannot do is declared in
`Capabilities`, and the write-back methods raise `NotSupported` for it, never pretend.

A ledger that signs in over OAuth2 declares how in an `OAuthSpec` named `OAUTH_SPEC` in the
module of its factory, and its factory takes the connection's tokens as an `AccessTokens`
(`create_ledger(config, *, tokens)`, see `OAuthLedgerFactory`). The adapter never sees a
refresh token and never refreshes by itself: the core does that, once, under a lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from types import MappingProxyType
from typing import Any
from typing import Generic
from typing import Literal
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

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
    # The package allows one request in flight per connection (Twinfield: per organisation),
    # so its administrations sync one after another, on whichever worker: their jobs share
    # one exclusive key per connection.
    one_call_per_connection: bool = False


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

    def reverse_payment(
        self,
        administration: Administration,
        item: OpenItem,
        amount: Money,
        idempotency_key: str,
    ) -> PaymentReceipt:
        """Undo a payment this connector recorded (a chargeback), exactly once."""
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


@dataclass(frozen=True, slots=True)
class LedgerHint:
    """A ledger's webhook says a record changed: re-read it, never trust the payload.

    `kind` is "item" or "debtor"; `record_id` the ledger's own id of it.
    """

    administration_external_id: str
    kind: Literal["item", "debtor"]
    record_id: str


class LedgerWebhooks(Protocol):
    """A ledger's webhook side (Moneybird, Exact): verify on the raw body, then hint.

    Exported as `WEBHOOKS` from the ledger's factory module, when the ledger has webhooks.
    """

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: float
    ) -> Sequence[LedgerHint]:
        """The records to re-read; empty for a validation ping.

        Raises:
            WebhookRejected: 401 for a bad signature or a replay, 400 for a malformed body.
        """
        ...


@runtime_checkable
class SelfChecking(Protocol):
    """A ledger that can tell, before anything is written, what in its settings or in the
    remote administration keeps a write from landing (Exact: a division whose receivables
    G/L account cannot be resolved). `connector check` lists each line."""

    def configuration_problems(self) -> list[str]: ...


class InvoiceDocuments(Protocol):
    """A ledger that can hand out an invoice's own PDF (`Capabilities.invoice_pdf`)."""

    def invoice_pdf(self, administration: Administration, item: OpenItem) -> bytes | None:
        """The invoice as the debtor received it; None when the ledger has none for it."""
        ...


class LedgerFactory(Protocol):
    """What an entry point in `dunning_connector.ledgers` must be."""

    def __call__(self, config: Mapping[str, Any]) -> Ledger: ...


TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]


@dataclass(frozen=True, slots=True)
class OAuthSpec:
    """How a ledger signs in with the OAuth2 authorization-code flow.

    The URLs are the ledger's real endpoints; `[ledgers.NAME]` settings of the same name
    (`authorize_url`, `token_url`, `revoke_url`, `scopes`) override them, so the same code
    runs against a sandbox or a test server.

    - `pkce`: send an S256 code challenge (only where the provider accepts it).
    - `refresh_leeway_seconds`: refresh this long before the access token expires.
    - `min_token_age_seconds`: never refresh a younger access token (Exact: 570 s).
    - `keepalive_seconds`: refresh a connection whose refresh token has not been used for
      this long, so it does not die of old age (Exact: ~30 days); None: no keep-alive.
    - `token_auth`: how the client authenticates at the token endpoint.
    - `authorize_params`: extra query parameters for the authorize URL.
    - `urls_follow`: the `[ledgers.NAME]` setting holding a base URL whose scheme and host
      the OAuth URLs take unless they are set themselves (Exact: `api_url`, the country host).
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    refresh_leeway_seconds: float = 60.0
    min_token_age_seconds: float = 0.0
    revoke_url: str | None = None
    keepalive_seconds: float | None = None
    token_auth: TokenAuthMethod = "client_secret_post"  # noqa: S105 - a method, not a secret
    authorize_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    urls_follow: str | None = None


class AccessTokens(Protocol):
    """A valid access token for one connection, whenever the adapter asks.

    The core keeps the tokens encrypted, refreshes them before they expire (one refresh at a
    time per connection, across processes) and persists every rotated refresh token. An
    adapter calls `access_token()` before each request, and `rejected(token)` once when the
    ledger answers 401 to that token.
    """

    def access_token(self) -> str:
        """A token that is valid now.

        Raises:
            ReconnectRequired: the grant is dead; a person must connect again.
            RateLimited: the token endpoint asked to wait.
            AuthError: the token could not be refreshed now (try again later).
        """
        ...

    def rejected(self, access_token: str) -> str:
        """The ledger refused `access_token`: a newer one, refreshing if nobody else did.

        Raises:
            ReconnectRequired, RateLimited, AuthError: as for `access_token`.
        """
        ...


class OAuthLedgerFactory(Protocol):
    """The factory of an OAuth ledger: its `[ledgers.NAME]` settings plus the connection's
    own config in `config`, and the connection's tokens."""

    def __call__(self, config: Mapping[str, Any], *, tokens: AccessTokens) -> Ledger: ...
