"""An in-memory ledger implementing the port, for tests of the core."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from decimal import Decimal

from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.domain import OpenItem
from connector.errors import LedgerError
from connector.errors import NotSupported
from connector.ports import Capabilities
from connector.ports import Feed
from connector.ports import Page


def item(
    n: int,
    *,
    open_amount: str = "100.00",
    due: date = date(2026, 1, 31),
    debtor: str = "D1",
    invoice_date: date | None = date(2026, 1, 1),
) -> OpenItem:
    return OpenItem(
        external_id=f"X{n}",
        invoice_number=f"2026-{n:05d}",
        debtor_code=debtor,
        invoice_date=invoice_date,
        due_date=due,
        open_amount=Money(Decimal(open_amount)),
        amount=Money(Decimal(open_amount)),
    )


@dataclass
class FakeLedger:
    """Administrations by external id; `items` per administration is what is open now.

    `incremental=True` serves changes since the cursor (a change counter) and reports
    closures in `removed`; `fail_after` raises after that many items to test rollback.
    """

    admins: list[Administration]
    debtors_by_admin: dict[str, list[Debtor]] = field(default_factory=dict)
    items_by_admin: dict[str, list[OpenItem]] = field(default_factory=dict)
    incremental: bool = False
    fail_after: dict[str, int] = field(default_factory=dict)
    page_size: int = 7
    name: str = "fake"
    capabilities: Capabilities = field(default_factory=Capabilities)
    cursors_seen: list[tuple[str, str | None]] = field(default_factory=list)
    changes: dict[str, list[tuple[int, str, OpenItem | None]]] = field(default_factory=dict)
    version: int = 0

    def administrations(self) -> Sequence[Administration]:
        return list(self.admins)

    def debtors(self, administration: Administration, cursor: str | None) -> Feed[Debtor]:
        records = self.debtors_by_admin.get(administration.external_id, [])
        return Feed(
            pages=iter([Page(records=records, cursor="d1")]), complete=True, total=len(records)
        )

    def set_items(self, admin: str, items: list[OpenItem]) -> None:
        """Replace what is open, recording the changes for incremental reads."""
        self.version += 1
        old = {i.external_id: i for i in self.items_by_admin.get(admin, [])}
        new = {i.external_id: i for i in items}
        log = self.changes.setdefault(admin, [])
        for ext, it in new.items():
            if old.get(ext) != it:
                log.append((self.version, ext, it))
        for ext in old.keys() - new.keys():
            log.append((self.version, ext, None))
        self.items_by_admin[admin] = items

    def open_items(self, administration: Administration, cursor: str | None) -> Feed[OpenItem]:
        ext = administration.external_id
        self.cursors_seen.append((ext, cursor))
        if self.incremental and cursor is not None:
            since = int(cursor)
            changed = [c for c in self.changes.get(ext, []) if c[0] > since]
            records = [c[2] for c in changed if c[2] is not None]
            removed = [c[1] for c in changed if c[2] is None]
            pages = iter([Page(records=records, removed=removed, cursor=str(self.version))])
            return Feed(pages=pages, complete=False)
        return Feed(
            pages=self._pages(ext), complete=True, total=len(self.items_by_admin.get(ext, []))
        )

    def _pages(self, ext: str) -> Iterator[Page[OpenItem]]:
        records = self.items_by_admin.get(ext, [])
        limit = self.fail_after.get(ext)
        for start in range(0, len(records), self.page_size):
            if limit is not None and start >= limit:
                msg = f"ledger broke while reading {ext}"
                raise LedgerError(msg)
            last = start + self.page_size >= len(records)
            yield Page(
                records=records[start : start + self.page_size],
                cursor=str(self.version) if last else None,
            )
        if not records:
            yield Page(cursor=str(self.version))

    def read_items(self, administration: Administration, external_ids: Sequence[str]):
        wanted = set(external_ids)
        return [
            i
            for i in self.items_by_admin.get(administration.external_id, [])
            if i.external_id in wanted
        ]

    def record_payment(self, *args, **kwargs):
        msg = "fake ledger takes no payments"
        raise NotSupported(msg)

    def reverse_payment(self, *args, **kwargs):
        msg = "fake ledger takes no payments"
        raise NotSupported(msg)

    def flag_dispute(self, *args, **kwargs):
        msg = "fake ledger takes no disputes"
        raise NotSupported(msg)

    def clear_dispute(self, *args, **kwargs):
        msg = "fake ledger takes no disputes"
        raise NotSupported(msg)


@dataclass
class PayableLedger(FakeLedger):
    """A fake ledger that records payments and disputes, idempotent by key like a real one.

    `fail_next` raises the given errors on the next write attempts (one per attempt);
    `lose_answer_once` records the write but raises as if the answer was lost.
    """

    payments: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    reversals: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    disputes: dict[str, str] = field(default_factory=dict)
    fail_next: list[Exception] = field(default_factory=list)
    lose_answer_once: bool = False
    calls: int = 0

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(
            record_payment=True, reverse_payment=True, flag_dispute=True, targeted_read=True
        )

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)

    def record_payment(self, administration, item, amount, paid_on, idempotency_key):
        from connector.ports import PaymentReceipt

        self._maybe_fail()
        if idempotency_key in self.payments:  # a retry after a lost answer: look it up first
            return PaymentReceipt(f"pay-{idempotency_key}", amount, already_recorded=True)
        self.payments[idempotency_key] = (item.external_id, amount.amount)
        if self.lose_answer_once:
            self.lose_answer_once = False
            from connector.errors import RetriableLedgerError

            msg = "connection reset after the request was sent"
            raise RetriableLedgerError(msg)
        return PaymentReceipt(f"pay-{idempotency_key}", amount)

    def reverse_payment(self, administration, item, amount, idempotency_key):
        from connector.ports import PaymentReceipt

        self._maybe_fail()
        self.reversals.setdefault(idempotency_key, (item.external_id, amount.amount))
        return PaymentReceipt(f"rev-{idempotency_key}", amount)

    def flag_dispute(self, administration, item, reason, idempotency_key):
        self._maybe_fail()
        self.disputes[item.external_id] = reason

    def clear_dispute(self, administration, item, idempotency_key):
        self._maybe_fail()
        self.disputes.pop(item.external_id, None)
