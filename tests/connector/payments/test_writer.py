from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlalchemy import select

from connector.domain import Money
from connector.errors import StoreError
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.payments.tables import webhook_events
from connector.payments.writer import EventWriter
from connector.store import Store

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def event(n: int) -> PaymentEvent:
    return PaymentEvent("toy", f"evt_{n}", PaymentEventKind.PAID, f"p{n}", Money(Decimal(1)), NOW)


def test_many_threads_commit_in_batches_and_duplicates_are_reported(store: Store):
    with store.begin() as conn:
        endpoint, _ = event_store.create_endpoint(conn, name="e", administration_ids=[], now=NOW)
    writer = EventWriter(store)
    results: dict[int, list[bool]] = {}

    def send(n: int) -> None:
        results[n] = writer.write(endpoint.id, [event(n % 150)], NOW)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.begin() as conn:
        stored = conn.execute(select(func.count()).select_from(webhook_events)).scalar_one()
    assert stored == 150
    assert sum(r == [True] for r in results.values()) == 150  # each event new exactly once
    assert sum(r == [False] for r in results.values()) == 150


def test_a_failing_job_fails_alone(store: Store):
    with store.begin() as conn:
        endpoint, _ = event_store.create_endpoint(conn, name="e", administration_ids=[], now=NOW)
    writer = EventWriter(store)
    with pytest.raises(StoreError):
        writer.write(999_999, [event(1)], NOW)  # no such endpoint: the foreign key refuses it
    assert writer.write(endpoint.id, [event(2)], NOW) == [True]
