"""The sync engine: bring the store in line with what a ledger reports.

One administration's run is one transaction: debtors, items, closures and the new cursors
land together or not at all, so a failure leaves the previous state intact. One failing
administration never stops the others.

A sync that would close more than a share of an administration's open items (`CloseGuard`,
`[sync] max_close_share`, default half) is refused whole unless the caller allows it: an
export with only its header row, or a ledger answering an empty list by mistake, must not
silently end the dunning of every invoice.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import pickle
import tempfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import IO
from typing import Any
from typing import Protocol
from typing import TypeVar

from sqlalchemy import Connection

from connector.domain import KIND_UNKNOWN_TAG
from connector.domain import Debtor
from connector.domain import ItemKind
from connector.domain import ItemStatus
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.errors import InputRejected
from connector.payments.outbox import pending_adjustments
from connector.ports import Feed
from connector.ports import Ledger
from connector.ports import Page
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEBTORS = "debtors"
ITEMS = "open_items"

# The tag an adapter gives a debtor whose kind (business or consumer) the ledger does not say;
# the sync counts them (`SyncSummary.debtors_without_kind`), the dunning may hold them back.

DEFAULT_MAX_CLOSE_SHARE = 0.5
# Closing fewer items than this is never a mass close: three of four invoices of a small
# administration paid in one day, or its last invoice paid, is ordinary (and the summary's
# CLOSED column shows it).
MASS_CLOSE_FLOOR = 10


class MassCloseRefused(InputRejected):
    """A sync would close more of the open items than the guard allows; nothing changed."""


@dataclass(frozen=True, slots=True)
class CloseGuard:
    """How much of an administration's open items one sync may close.

    `max_share` is a fraction (0.5 = half); `allow` lets any share through (`connector sync
    --allow-mass-close`).
    """

    max_share: float = DEFAULT_MAX_CLOSE_SHARE
    allow: bool = False

    def check(self, admin: str, closing: int, open_before: int) -> None:
        if self.allow or closing == 0 or open_before == 0:
            return
        if closing <= self.max_share * open_before:
            return
        if closing < MASS_CLOSE_FLOOR:
            return
        share = 100 * closing / open_before
        msg = (
            f"{admin}: this sync would close {closing} of its {open_before} open items "
            f"({share:.0f} %, more than the {100 * self.max_share:.0f} % allowed by "
            "[sync] max_close_share); nothing was changed. Check the export or the ledger; "
            "if they are right, run: connector sync --allow-mass-close"
        )
        raise MassCloseRefused(msg)


def close_guard_from(section: Mapping[str, Any], *, allow: bool, where: str) -> CloseGuard:
    """The guard from the `[sync]` table of the config (`max_close_share`).

    Raises:
        ConfigError: the share is not a number above 0 and at most 1.
    """
    value = section.get("max_close_share", DEFAULT_MAX_CLOSE_SHARE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < float(value) <= 1:
        msg = (
            f"{where}: sync.max_close_share: expected a share above 0 and at most 1 "
            f"(such as 0.5 for half of the open items), got {value!r}"
        )
        raise ConfigError(msg)
    return CloseGuard(max_share=float(value), allow=allow)


class Progress(Protocol):
    """What the engine reports progress to (a tqdm bar on a terminal, nothing otherwise)."""

    def update(self, n: int) -> Any: ...

    def close(self) -> Any: ...


ProgressFactory = Callable[[str, int | None], Progress]


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def no_progress(_label: str, _total: int | None) -> Progress:
    return _Silent()


@dataclass(frozen=True, slots=True)
class SyncSummary:
    administration_id: int
    administration: str
    fetched: int = 0
    new: int = 0
    changed: int = 0
    closed: int = 0
    debtors_fetched: int = 0
    debtors_new: int = 0
    debtors_changed: int = 0
    debtors_without_kind: int = 0  # fetched debtors whose ledger does not say their kind
    error: str = ""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error


def _digest(parts: Iterable[object]) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def item_fingerprint(item: OpenItem) -> str:
    amount = item.amount.amount.normalize() if item.amount is not None else None
    return _digest(
        (
            item.invoice_number,
            item.debtor_code,
            item.invoice_date,
            item.due_date,
            item.open_amount.currency,
            item.open_amount.amount.normalize(),
            amount,
            item.description,
            # only when not an invoice, so that invoices keep the fingerprints they had
            *((item.kind.value,) if item.kind is not ItemKind.INVOICE else ()),
        )
    )


def debtor_fingerprint(debtor: Debtor) -> str:
    a = debtor.address
    return _digest(
        (
            debtor.name,
            debtor.kind.value,
            debtor.email,
            debtor.phone,
            a.street,
            a.postal_code,
            a.city,
            a.country,
            debtor.iban,
            debtor.vat_number,
            debtor.kvk_number,
            debtor.language,
            debtor.payment_term_days,
            ";".join(debtor.tags),
        )
    )


def _adjusted(item: OpenItem, delta: Decimal) -> tuple[OpenItem, str]:
    """The ledger's item with our not-yet-written payments (delta) applied."""
    amount = item.open_amount.amount + delta
    if item.open_amount.amount > 0:
        amount = max(amount, Decimal(0))  # never below zero for an invoice
    money = Money(amount, item.open_amount.currency)
    status = ItemStatus.PAID.value if amount == 0 else ItemStatus.OPEN.value
    return replace(item, open_amount=money), status


class _Run:
    """The state of one administration's sync inside its transaction."""

    def __init__(
        self,
        conn: Connection,
        admin: AdministrationRecord,
        now: datetime,
        batch_size: int,
        guard: CloseGuard | None = None,
    ) -> None:
        self.conn = conn
        self.admin = admin
        self.now = now
        self.batch_size = batch_size
        self.guard = guard
        self.without_kind = 0

    def debtors(self, feed: Feed[Debtor], progress: Progress) -> tuple[int, int, int, str | None]:
        known = records.debtor_fingerprints(self.conn, self.admin.id)
        fetched = new = changed = 0
        cursor: str | None = None
        pending: list[dict[str, Any]] = []
        for page in feed.pages:
            for debtor in page.records:
                fetched += 1
                if KIND_UNKNOWN_TAG in debtor.tags:
                    self.without_kind += 1
                fingerprint = debtor_fingerprint(debtor)
                before = known.get(debtor.code)
                if before == fingerprint:
                    continue
                if before is None:
                    new += 1
                else:
                    changed += 1
                known[debtor.code] = fingerprint
                pending.append(self._debtor_row(debtor, fingerprint))
                if len(pending) >= self.batch_size:
                    records.upsert_debtors(self.conn, pending)
                    pending = []
            progress.update(len(page.records))
            if page.cursor is not None:
                cursor = page.cursor
        records.upsert_debtors(self.conn, pending)
        return fetched, new, changed, cursor

    def items(
        self, feed: Feed[OpenItem], progress: Progress
    ) -> tuple[int, int, int, int, str | None]:
        known = records.item_index(self.conn, self.admin.id)
        adjust = pending_adjustments(self.conn, self.admin.id)
        seen: set[str] = set()
        to_close: list[int] = []
        fetched = new = changed = 0
        cursor: str | None = None
        pending: list[dict[str, Any]] = []
        open_status = ItemStatus.OPEN.value
        for page in feed.pages:
            for item in page.records:
                fetched += 1
                seen.add(item.external_id)
                fingerprint = item_fingerprint(item)
                before = known.get(item.external_id)
                delta = adjust.get(item.external_id)
                status = open_status
                if delta is not None:
                    item, status = _adjusted(item, delta)
                if before is not None and before[1] == fingerprint and before[2] == status:
                    continue
                if before is None:
                    new += 1
                else:
                    changed += 1
                pending.append(self._item_row(item, fingerprint, status))
                if len(pending) >= self.batch_size:
                    records.upsert_items(self.conn, pending)
                    pending = []
            for external_id in page.removed:
                entry = known.get(external_id)
                reopened = adjust.get(external_id, 0) > 0  # a chargeback not yet in the ledger
                if (
                    entry is not None
                    and entry[2] == open_status
                    and external_id not in seen
                    and not reopened
                ):
                    to_close.append(entry[0])
            progress.update(len(page.records))
            if page.cursor is not None:
                cursor = page.cursor
        records.upsert_items(self.conn, pending)
        if feed.complete:
            to_close.extend(
                row_id
                for ext, (row_id, _fp, status) in known.items()
                if status == open_status and ext not in seen and adjust.get(ext, 0) <= 0
            )
        if self.guard is not None:
            open_before = sum(1 for _id, _fp, status in known.values() if status == open_status)
            self.guard.check(self.admin.name, len(to_close), open_before)
        records.close_items(self.conn, to_close, self.now)
        return fetched, new, changed, len(to_close), cursor

    def _debtor_row(self, d: Debtor, fingerprint: str) -> dict[str, Any]:
        return {
            "administration_id": self.admin.id,
            "code": d.code,
            "name": d.name,
            "kind": d.kind.value,
            "email": d.email,
            "phone": d.phone,
            "street": d.address.street,
            "postal_code": d.address.postal_code,
            "city": d.address.city,
            "country": d.address.country,
            "iban": d.iban,
            "vat_number": d.vat_number,
            "kvk_number": d.kvk_number,
            "language": d.language,
            "payment_term_days": d.payment_term_days,
            "tags": list(d.tags),
            "fingerprint": fingerprint,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _item_row(self, i: OpenItem, fingerprint: str, status: str) -> dict[str, Any]:
        return {
            "administration_id": self.admin.id,
            "external_id": i.external_id,
            "invoice_number": i.invoice_number,
            "debtor_code": i.debtor_code,
            "invoice_date": i.invoice_date,
            "due_date": i.due_date,
            "currency": i.open_amount.currency,
            "amount": i.amount.amount if i.amount is not None else None,
            "open_amount": i.open_amount.amount,
            "description": i.description,
            "kind": i.kind.value,
            "status": status,
            "fingerprint": fingerprint,
            "first_seen_at": self.now,
            "updated_at": self.now,
            "closed_at": None if status == ItemStatus.OPEN.value else self.now,
        }


# A feed of more records than this is kept on disk (in an unnamed temporary file) between
# the reading and the writing, so that a large export never sits in memory whole; a smaller
# one stays in memory (pickling costs time).
_KEEP_RECORDS = 100_000


def _fetched(
    feed: Feed[T], progress: ProgressFactory, label: str, spools: list[IO[bytes]]
) -> Feed[T]:
    """The feed read to the end (the slow part, so the progress bar follows it).

    The first `_KEEP_RECORDS` records stay in memory; the pages after them are pickled into a
    spool as they arrive and replayed from it for the write, so only the page being handled
    is in memory. Pickle is safe here because the spool is our own unnamed temporary file,
    written and read by this process alone.
    """
    bar = progress(label, feed.total)
    kept: list[Page[T]] = []
    records = 0
    spool: IO[bytes] | None = None
    spooled = 0
    try:
        for page in feed.pages:
            if spool is None and records + len(page.records) <= _KEEP_RECORDS:
                kept.append(page)
            else:
                if spool is None:
                    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
                    spools.append(spool)
                pickle.dump(_packed(page), spool, protocol=pickle.HIGHEST_PROTOCOL)
                spooled += 1
            records += len(page.records)
            bar.update(len(page.records))
    finally:
        bar.close()
    pages: Iterator[Page[T]] = iter(kept)
    if spool is not None:
        spool.seek(0)
        pages = itertools.chain(kept, _replayed(spool, spooled))
    return Feed(pages=pages, complete=feed.complete, total=feed.total)


def _packed(page: Page[Any]) -> Any:
    """A page as plain values for the spool: open items as tuples, which pickle several
    times faster than the (slotted, frozen) dataclasses themselves."""
    records = page.records
    if records and all(type(r) is OpenItem for r in records):
        rows = [
            (
                i.external_id,
                i.invoice_number,
                i.debtor_code,
                i.invoice_date,
                i.due_date,
                i.open_amount.amount,
                i.open_amount.currency,
                None if i.amount is None else i.amount.amount,
                None if i.amount is None else i.amount.currency,
                i.description,
            )
            for i in records
        ]
        return ("items", rows, tuple(page.removed), page.cursor)
    return ("page", page)


def _money(amount: Decimal, currency: str) -> Money:
    # Checked when it was made; built again without checking it twice.
    money: Money = object.__new__(Money)
    object.__setattr__(money, "amount", amount)
    object.__setattr__(money, "currency", currency)
    return money


def _unpacked(packed: Any) -> Page[Any]:
    if packed[0] == "page":
        page: Page[Any] = packed[1]
        return page
    _kind, rows, removed, cursor = packed
    items = [
        OpenItem(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            _money(r[5], r[6]),
            None if r[7] is None else _money(r[7], r[8]),
            r[9],
        )
        for r in rows
    ]
    return Page(records=items, removed=removed, cursor=cursor)


def _replayed(spool: IO[bytes], count: int) -> Iterator[Page[Any]]:
    for _ in range(count):
        yield _unpacked(pickle.load(spool))  # noqa: S301 - our own spool, see _fetched


def refresh_items(
    store: Store,
    admin: AdministrationRecord,
    wanted: Sequence[str],
    fresh: Sequence[OpenItem],
    now: datetime,
) -> int:
    """Bring the store in line with a targeted read of the items `wanted` (ledger ids): those
    in `fresh` are updated, the others closed, exactly as a sync would (pending payments
    included). Returns how many changed or closed."""
    seen = {item.external_id for item in fresh}
    removed = [ext for ext in wanted if ext not in seen]
    feed: Feed[OpenItem] = Feed(
        pages=iter([Page(records=list(fresh), removed=removed)]), complete=False
    )
    with store.begin(immediate=True) as conn:
        _n, _new, changed, closed, _cursor = _Run(conn, admin, now, 1000).items(feed, _Silent())
    return changed + closed


def sync_administration(
    store: Store,
    ledger: Ledger,
    admin: AdministrationRecord,
    *,
    full: bool = False,
    batch_size: int = 1000,
    progress: ProgressFactory = no_progress,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    guard: CloseGuard | None = None,
) -> SyncSummary:
    """Sync one administration in one transaction; errors are returned, not raised.

    `guard` limits how much of the open items one sync may close (default: half, see
    `CloseGuard`); a sync beyond it fails with `MassCloseRefused` and changes nothing.

    Everything is read from the ledger first, with no transaction open, and then written in
    one short write transaction. Holding SQLite's write lock across slow ledger calls would
    block everything else that writes meanwhile: a token refresh the sync itself needs,
    webhooks being stored.
    """
    now = clock()
    domain_admin = admin.domain()
    spools: list[IO[bytes]] = []
    try:
        with store.begin() as conn:
            debtor_cursor = None if full else records.get_cursor(conn, admin.id, DEBTORS)
            item_cursor = None if full else records.get_cursor(conn, admin.id, ITEMS)
        debtor_feed = _fetched(
            ledger.debtors(domain_admin, debtor_cursor), progress, f"{admin.name}: debtors", spools
        )
        item_feed = _fetched(
            ledger.open_items(domain_admin, item_cursor), progress, f"{admin.name}: items", spools
        )
        with store.begin(immediate=True) as conn:
            run = _Run(conn, admin, now, batch_size, guard or CloseGuard())
            d_fetched, d_new, d_changed, d_cursor = run.debtors(debtor_feed, _Silent())
            fetched, new, changed, closed, i_cursor = run.items(item_feed, _Silent())
            if d_cursor is not None:
                records.put_cursor(conn, admin.id, DEBTORS, d_cursor, now)
            if i_cursor is not None:
                records.put_cursor(conn, admin.id, ITEMS, i_cursor, now)
            records.record_sync_outcome(conn, admin.id, at=now, status="ok")
    except ConnectorError as exc:
        problems = exc.problems if isinstance(exc, InputRejected) else ()
        return _failed(store, admin, now, str(exc), problems)
    except Exception as exc:  # an adapter bug must not stop the other administrations
        logger.exception("sync of administration %s failed", admin.id)
        return _failed(store, admin, now, f"unexpected error: {type(exc).__name__}: {exc}", ())
    finally:
        for spool in spools:
            spool.close()
    return SyncSummary(
        administration_id=admin.id,
        administration=admin.name,
        fetched=fetched,
        new=new,
        changed=changed,
        closed=closed,
        debtors_fetched=d_fetched,
        debtors_new=d_new,
        debtors_changed=d_changed,
        debtors_without_kind=run.without_kind,
    )


def _failed(
    store: Store,
    admin: AdministrationRecord,
    now: datetime,
    error: str,
    problems: Sequence[str],
) -> SyncSummary:
    try:
        with store.begin() as conn:
            records.record_sync_outcome(conn, admin.id, at=now, status="error", error=error)
    except ConnectorError:
        logger.warning("could not record the failed sync of administration %s", admin.id)
    return SyncSummary(
        administration_id=admin.id,
        administration=admin.name,
        error=error,
        problems=tuple(problems),
    )


def discover(
    store: Store, connection: ConnectionRecord, ledger: Ledger
) -> list[AdministrationRecord]:
    """Ask the ledger which administrations the connection reaches and record them."""
    found = ledger.administrations()
    with store.begin() as conn:
        return records.save_administrations(conn, connection.id, found)


def sync_all(
    store: Store,
    ledger_for: Callable[[ConnectionRecord], Ledger],
    *,
    administration_ids: Sequence[int] | None = None,
    full: bool = False,
    batch_size: int = 1000,
    progress: ProgressFactory = no_progress,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    guard: CloseGuard | None = None,
) -> list[SyncSummary]:
    """Sync every active administration (or the ones named); one failure stops none else."""
    summaries: list[SyncSummary] = []
    with store.begin() as conn:
        connections = records.list_connections(conn)
    for connection in connections:
        with store.begin() as conn:
            known = records.list_administrations(conn, connection_id=connection.id)
        wanted = [a for a in known if administration_ids is None or a.id in administration_ids]
        if administration_ids is not None and not wanted:
            continue
        if connection.status == "reconnect_required":  # a dead grant: nothing may retry it
            reason = connection.status_reason or "the connection must be connected again"
            summaries.extend(_failed(store, a, clock(), f"skipped: {reason}", ()) for a in wanted)
            continue
        if connection.status != "active":  # disconnected: the history stays, nothing syncs
            continue
        try:
            ledger = ledger_for(connection)
            admins = discover(store, connection, ledger)
        except ConnectorError as exc:
            summaries.extend(_failed(store, a, clock(), str(exc), ()) for a in wanted)
            continue
        for admin in admins:
            if administration_ids is not None and admin.id not in administration_ids:
                continue
            summaries.append(
                sync_administration(
                    store,
                    ledger,
                    admin,
                    full=full,
                    batch_size=batch_size,
                    progress=progress,
                    clock=clock,
                    guard=guard,
                )
            )
    return summaries
