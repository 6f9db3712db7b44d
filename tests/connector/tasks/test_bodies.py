"""The task bodies on a real store (SQLite and PostgreSQL): each one idempotent, run
through the in-process queue under its stable name."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from connector.domain import Administration
from connector.domain import Debtor
from connector.dunning.model import ChannelKind
from connector.dunning.policy import default_config
from connector.dunning.run import Dunning
from connector.payments.tables import outbox
from connector.ports import Capabilities
from connector.store import Store
from connector.store import records
from connector.store.schema import connections
from connector.store.schema import open_items
from connector.sync import discover
from connector.tasks import bodies
from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import JobState
from tests.fakes.dunning import FakeChannel
from tests.fakes.dunning import FakeRenderer
from tests.fakes.dunning import ledger_item
from tests.fakes.dunning import with_complete_sender
from tests.fakes.ledger import PayableLedger

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class Services:
    store: Store
    ledger: PayableLedger
    channels: dict[ChannelKind, FakeChannel] = field(
        default_factory=lambda: {kind: FakeChannel(kind) for kind in ChannelKind}
    )
    batch_size: int = 1000
    max_close_share: float = 0.5
    opened: int = 0

    def ledger_for(self, _connection: Any) -> PayableLedger:
        self.opened += 1
        return self.ledger

    def dunning(self) -> Dunning:
        return Dunning(
            self.store,
            with_complete_sender(default_config()),  # else every letter is held (12.1)
            ledger_for=self.ledger_for,
            channels=self.channels,
            renderer=FakeRenderer(),
            clock=lambda: NOW,
        )

    def oauth(self) -> Any:
        raise AssertionError("not used here")


@pytest.fixture
def services(store: Store) -> Services:
    ledger = PayableLedger(admins=[Administration("A", "Acme"), Administration("B", "Beta")])
    ledger.capabilities = Capabilities(
        record_payment=True, reverse_payment=True, flag_dispute=True, targeted_read=True
    )
    for admin in ("A", "B"):
        ledger.debtors_by_admin[admin] = [Debtor("D1", "Bakkerij De Korf", email="d1@x.nl")]
        ledger.set_items(admin, [ledger_item(1), ledger_item(2, amount="50.00")])
    with store.begin() as conn:
        connection = records.save_connection(conn, name="fake", ledger="fake", config={}, now=NOW)
    discover(store, connection, ledger)
    return Services(store, ledger)


def _admin_id(store: Store, ref: str) -> int:
    with store.begin() as conn:
        return records.find_administration(conn, ref).id


def _run(services: Services, task: str, args: dict[str, Any], **keys: str) -> Any:
    with InProcessQueue(bodies.standard_registry(), services, concurrency=2) as queue:
        job = queue.enqueue(task, args, **keys)
        (done,) = queue.wait([job.id], timeout=30)
    return done


def test_sync_task_is_idempotent(services: Services) -> None:
    a = _admin_id(services.store, "A")
    first = _run(
        services, bodies.SYNC_ADMINISTRATION, {"administration_id": a}, **bodies.sync_keys(a)
    )
    assert first.state is JobState.SUCCEEDED, first.error
    assert (first.result["new"], first.result["debtors_new"]) == (2, 1)
    again = _run(services, bodies.SYNC_ADMINISTRATION, {"administration_id": a})
    summary = bodies.summary_from_json(again.result)
    assert (summary.fetched, summary.new, summary.changed, summary.closed) == (2, 0, 0, 0)
    with services.store.begin() as conn:
        rows = conn.execute(select(open_items.c.administration_id)).scalars().all()
    assert rows == [a, a]  # only A was synced; B untouched


def test_sync_task_fails_with_its_summary_and_skips_a_dead_connection(services: Services):
    a = _admin_id(services.store, "A")
    services.ledger.fail_after["A"] = 0
    broken = _run(services, bodies.SYNC_ADMINISTRATION, {"administration_id": a})
    assert broken.state is JobState.FAILED
    assert broken.attempts == 1  # a sync records its failure; the next interval retries
    assert "ledger broke while reading A" in broken.error
    assert bodies.summary_from_json(broken.result).error == broken.error
    with services.store.begin() as conn:
        conn.execute(update(connections).values(status="reconnect_required", status_reason="x"))
    skipped = _run(services, bodies.SYNC_ADMINISTRATION, {"administration_id": a})
    assert skipped.state is JobState.FAILED
    assert skipped.error == "skipped: x"
    assert services.opened == 1  # the dead connection's ledger was not even opened
    with services.store.begin() as conn:
        admin = records.find_administration(conn, "A")
    assert (admin.last_sync_status, admin.last_sync_error) == ("error", "skipped: x")


def test_dunning_task_sends_once_when_run_twice(services: Services) -> None:
    a = _admin_id(services.store, "A")
    _run(services, bodies.SYNC_ADMINISTRATION, {"administration_id": a})
    args = {"administration_id": a, "on_date": "2025-01-20"}
    first = _run(services, bodies.RUN_DUNNING, args, **bodies.dunning_keys(a))
    assert first.state is JobState.SUCCEEDED, first.error
    assert first.result["sent"] == 1
    second = _run(services, bodies.RUN_DUNNING, args, **bodies.dunning_keys(a))
    assert second.result["sent"] == 0
    sent = [letter.key for ch in services.channels.values() for letter in ch.sent]
    assert sent == [f"{a}/D1/reminder_1/1"]


def _queue_payment(store: Store, admin_id: int, key: str) -> None:
    with store.begin() as conn:
        item_id = conn.execute(
            select(open_items.c.id).where(open_items.c.administration_id == admin_id).limit(1)
        ).scalar_one()
        conn.execute(
            insert(outbox).values(
                idempotency_key=key,
                administration_id=admin_id,
                item_id=item_id,
                action="record_payment",
                amount=Decimal("10.00"),
                currency="EUR",
                paid_on=date(2025, 5, 30),
                reason="",
                status="pending",
                attempts=0,
                next_attempt_at=NOW,
                last_error="",
                ledger_reference="",
                created_at=NOW,
            )
        )


def test_flush_task_writes_only_its_administration_and_once(services: Services) -> None:
    a, b = _admin_id(services.store, "A"), _admin_id(services.store, "B")
    for admin_id in (a, b):
        _run(services, bodies.SYNC_ADMINISTRATION, {"administration_id": admin_id})
    _queue_payment(services.store, a, "pay-a")
    _queue_payment(services.store, b, "pay-b")
    first = _run(services, bodies.FLUSH_LEDGER_WRITES, {"administration_id": a})
    assert first.result == {"done": 1, "later": 0, "failed": 0}
    assert list(services.ledger.payments) == ["pay-a"]  # B's write waits for B's task
    again = _run(services, bodies.FLUSH_LEDGER_WRITES, {"administration_id": a})
    assert again.result == {"done": 0, "later": 0, "failed": 0}
    assert services.ledger.calls == 1


def test_payments_task_runs_with_nothing_to_do(services: Services) -> None:
    done = _run(services, bodies.PROCESS_PAYMENTS, {}, **bodies.PAYMENTS_KEYS)
    assert done.state is JobState.SUCCEEDED
    assert done.result == {"processed": 0, "unmatched": 0, "ignored": 0}


def test_every_task_has_a_stable_dotted_name_not_a_code_path() -> None:
    names = sorted(t.name for t in bodies.standard_registry())
    assert names == [
        "dunning.administration",
        "ledger_writes.administration",
        "payments.process",
        "sync.administration",
        "token.refresh",
    ]
    assert not any(":" in name for name in names)
