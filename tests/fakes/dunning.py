"""Fakes and builders for the dunning tests: snapshots for the pure plan, and a small world
for the run (a store, a fake ledger that can be read item by item, fake channels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from connector.domain import Address
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import Money
from connector.domain import OpenItem
from connector.dunning.model import ChannelKind
from connector.dunning.model import Delivery
from connector.dunning.model import Letter
from connector.dunning.model import Rendered
from connector.dunning.model import Sender
from connector.dunning.plan import AdministrationView
from connector.dunning.plan import ItemRow
from connector.dunning.plan import PlanResult
from connector.dunning.plan import Snapshot
from connector.dunning.plan import plan
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.policy import DunningConfig
from connector.dunning.policy import Policy
from connector.dunning.policy import default_config
from connector.dunning.run import Dunning
from connector.store import Store
from connector.store import records
from connector.sync import sync_all
from tests.fakes.ledger import FakeLedger

D = Decimal


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- the pure plan ---------------------------------------------------------------------------


def row(
    n: int,
    *,
    due: str = "2025-01-10",
    amount: str = "100.00",
    debtor: str = "D1",
    admin: int = 1,
    currency: str = "EUR",
) -> ItemRow:
    due_date = d(due)
    invoice_date = due_date - timedelta(days=30)
    return ItemRow(n, admin, debtor, f"2025-{n:05d}", invoice_date, due_date, currency, D(amount))


#: A sender with everything a letter must carry (connector.dunning.readiness): without it
#: every letter would be held. Tests of incomplete senders pass their own fields.
COMPLETE_SENDER: dict[str, str] = {
    "street": "Molenstraat 12",
    "postal_code": "3512 AB",
    "city": "Utrecht",
    "email": "debiteuren@acme.example",
    "iban": "NL91ABNA0417164300",
    "kvk_number": "12345678",
}

#: A postal address, so that a letter channel can reach the fake debtors.
ADDRESS = Address("Kerkstraat 1", "1234 AB", "Utrecht", "NL")


def view(
    admin: int = 1, *, approval: bool = False, policy: str = "default", **sender
) -> AdministrationView:
    return AdministrationView(
        id=admin,
        external_id=f"A{admin}",
        name=f"Admin {admin}",
        default_policy=policy,
        sender=Sender(name=f"Admin {admin}", **{**COMPLETE_SENDER, **sender}),
        approval=approval,
    )


def with_complete_sender(config: DunningConfig, name: str = "Acme") -> DunningConfig:
    """`config` with a complete sender for the administration `name`, unless it has one."""
    from dataclasses import replace as dc_replace
    from types import MappingProxyType

    from connector.dunning.policy import AdministrationSettings

    own = dict(config.administrations)
    found = own.get(name, AdministrationSettings())
    own[name] = dc_replace(found, sender=MappingProxyType({**COMPLETE_SENDER, **found.sender}))
    return dc_replace(config, administrations=MappingProxyType(own))


def debtor(code: str = "D1", *, consumer: bool = False, email: str | None = None, **kw) -> Debtor:
    kw.setdefault("address", ADDRESS)
    return Debtor(
        code=code,
        name=f"Debtor {code}",
        kind=DebtorKind.CONSUMER if consumer else DebtorKind.BUSINESS,
        email=f"{code.lower()}@example.nl" if email is None else email,
        **kw,
    )


def snapshot(
    items: Sequence[ItemRow],
    *,
    debtors: Sequence[Debtor] = (),
    admins: Sequence[AdministrationView] = (),
    **kw,
) -> Snapshot:
    views = {v.id: v for v in admins} or {1: view()}
    known = {(r.administration_id, r.debtor_code) for r in items}
    found = {(1 if not admins else admins[0].id, x.code): x for x in debtors}
    for key in known:
        found.setdefault(key, debtor(key[1]))
    return Snapshot(administrations=views, debtors=found, items=list(items), **kw)


def run_plan(
    snap: Snapshot,
    on: str | date,
    *,
    policies: dict[str, Policy] | None = None,
    rules=(),
    rates=None,
) -> PlanResult:
    day = d(on) if isinstance(on, str) else on
    return plan(
        policies or {"default": DEFAULT_POLICY},
        rules,
        snap,
        {admin: day for admin in snap.administrations},
        rates=rates,
    )


# --- fakes for the run -----------------------------------------------------------------------


class FakeChannel:
    """Records what it sends; can fail a number of times, or raise at will."""

    def __init__(self, kind: ChannelKind) -> None:
        self.kind = kind
        self.sent: list[Letter] = []
        self.fail: type[Exception] | None = None
        self.fail_times = 0

    def send(self, letter: Letter, rendered: Rendered) -> Delivery:
        if self.fail is not None and self.fail_times > 0:
            self.fail_times -= 1
            raise self.fail(f"{self.kind.value} is down")
        self.sent.append(letter)
        return Delivery(self.kind, f"{self.kind.value}:{letter.key}")

    @property
    def keys(self) -> list[str]:
        return [letter.key for letter in self.sent]


class FakeRenderer:
    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render(self, letter: Letter, *, with_pdf: bool) -> Rendered:
        self.rendered.append(letter.key)
        return Rendered(
            subject=f"{letter.step_name} {letter.debtor.name}",
            text=f"total {letter.total}",
            html=f"<p>total {letter.total}</p>",
            pdf=b"%PDF-1.4 fake" if with_pdf else None,
        )


def ledger_item(
    n: int,
    *,
    due: str = "2025-01-10",
    amount: str = "100.00",
    debtor: str = "D1",
    invoice_date: str | None = "2024-12-10",
    total: str | None = None,
) -> OpenItem:
    """An item as the ledger reports it: `amount` is what is open, `total` the invoice's
    original amount (the same unless given)."""
    return OpenItem(
        external_id=f"X{n}",
        invoice_number=f"2025-{n:05d}",
        debtor_code=debtor,
        invoice_date=d(invoice_date) if invoice_date else None,
        due_date=d(due),
        open_amount=Money(D(amount)),
        amount=Money(D(total or amount)),
    )


@dataclass
class World:
    """One administration "Acme" in a store, a fake ledger behind it, fake channels."""

    store: Store
    ledger: FakeLedger
    channels: dict[ChannelKind, FakeChannel]
    renderer: FakeRenderer
    config: DunningConfig = field(default_factory=default_config)
    reads: list[list[str]] = field(default_factory=list)

    def set_items(self, items: Sequence[OpenItem]) -> None:
        self.ledger.set_items("A", list(items))

    def sync(self) -> None:
        summaries = sync_all(self.store, lambda _c: self.ledger)
        assert all(s.ok for s in summaries), summaries

    def admins(self) -> list[records.AdministrationRecord]:
        with self.store.begin() as conn:
            return records.list_administrations(conn)

    @property
    def admin_id(self) -> int:
        return self.admins()[0].id

    def dunning(self, *, clock=None, channels=None, rates=None) -> Dunning:
        return Dunning(
            self.store,
            with_complete_sender(self.config),
            ledger_for=lambda _c: self.ledger,
            channels=self.channels if channels is None else channels,
            renderer=self.renderer,
            clock=clock or (lambda: datetime(2025, 6, 1, 9, 0, tzinfo=UTC)),
            rates=rates,
        )

    def run(self, on: str, **kw):
        report = self.dunning(**kw).run(self.admins(), on_date=d(on))
        assert len(report.administrations) == 1
        return report.administrations[0]

    def sent_keys(self) -> list[str]:
        return [key for ch in self.channels.values() for key in ch.keys]

    def item_id(self, external_id: str) -> int:
        from sqlalchemy import select

        from connector.store.schema import open_items

        with self.store.begin() as conn:
            return conn.execute(
                select(open_items.c.id).where(open_items.c.external_id == external_id)
            ).scalar_one()


class ReadCountingLedger(FakeLedger):
    """A fake ledger whose targeted reads are recorded."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.targeted: list[list[str]] = []

    def read_items(self, administration, external_ids):
        self.targeted.append(sorted(external_ids))
        return super().read_items(administration, external_ids)
