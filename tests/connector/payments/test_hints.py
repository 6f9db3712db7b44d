from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.domain import Administration
from connector.payments import events as event_store
from connector.payments.hints import process_hints
from connector.payments.tables import ledger_hints
from connector.store import Store
from connector.store import records
from connector.store.schema import open_items
from connector.sync import sync_all
from tests.fakes.ledger import PayableLedger
from tests.fakes.ledger import item

NOW = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def setup(store: Store):
    ledger = PayableLedger(admins=[Administration("a", "Alpha"), Administration("b", "Beta")])
    ledger.set_items("a", [item(1), item(2)])
    ledger.set_items("b", [item(1)])
    with store.begin() as conn:
        c = records.save_connection(conn, name="fake", ledger="fake", config={}, now=NOW)
        records.save_administrations(conn, c.id, ledger.administrations())
    sync_all(store, lambda _c: ledger, clock=lambda: NOW)
    with store.begin() as conn:
        alpha = records.find_administration(conn, "a")
        endpoint, _ = event_store.create_endpoint(
            conn, name="alpha", administration_ids=[alpha.id], now=NOW
        )
    return store, ledger, endpoint.id


def hint(store, endpoint_id, admin_ext, kind, record):
    with store.begin() as conn:
        conn.execute(
            ledger_hints.insert().values(
                endpoint_id=endpoint_id,
                ledger="fake",
                administration_external_id=admin_ext,
                kind=kind,
                record_id=record,
                received_at=NOW,
                status="received",
                detail="",
            )
        )


def state(store, admin_ext):
    with store.begin() as conn:
        admin = records.find_administration(conn, admin_ext)
        rows = conn.execute(
            select(open_items.c.external_id, open_items.c.status, open_items.c.open_amount).where(
                open_items.c.administration_id == admin.id
            )
        ).all()
    return {ext: (status, amount) for ext, status, amount in rows}


def test_item_hint_is_a_targeted_reread(setup):
    store, ledger, endpoint = setup
    ledger.set_items("a", [item(1, open_amount="30.00")])  # X1 partly paid, X2 paid
    hint(store, endpoint, "a", "item", "X1")
    hint(store, endpoint, "a", "item", "X1")  # a repeat reads once
    calls_before = len(ledger.cursors_seen)
    summary = process_hints(store, lambda _a: ledger, now=NOW)
    assert summary.done == 2
    assert state(store, "a")["X1"] == ("open", Decimal("30.00"))
    assert state(store, "a")["X2"][0] == "open"  # not named, not touched by a targeted read
    assert len(ledger.cursors_seen) == calls_before  # no sync was needed


def test_unknown_record_or_debtor_hint_syncs_the_administration(setup):
    store, ledger, endpoint = setup
    ledger.set_items("a", [item(1)])
    hint(store, endpoint, "a", "item", "ENTRY-77")  # not an item key we hold
    process_hints(store, lambda _a: ledger, now=NOW)
    assert state(store, "a")["X2"][0] == "paid"


def test_hint_for_another_tenants_administration_is_skipped(setup):
    store, ledger, endpoint = setup
    ledger.set_items("b", [])
    hint(store, endpoint, "b", "item", "X1")  # Beta is not this endpoint's
    summary = process_hints(store, lambda _a: ledger, now=NOW)
    assert summary.skipped == 1
    assert state(store, "b")["X1"][0] == "open"
