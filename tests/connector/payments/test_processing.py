from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector.domain import Administration
from connector.domain import Debtor
from connector.domain import Money
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.payments.outbox import run_outbox
from connector.payments.processing import assign
from connector.payments.processing import process_pending
from connector.payments.tables import outbox
from connector.payments.tables import webhook_events
from connector.store import Store
from connector.store import records
from connector.store.schema import open_items
from connector.sync import sync_all
from tests.fakes.ledger import PayableLedger
from tests.fakes.ledger import item

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
D = Decimal


class Setup:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.ledger = PayableLedger(
            admins=[Administration("a", "Alpha"), Administration("b", "Beta")]
        )
        self.ledger.debtors_by_admin = {
            "a": [Debtor("D1", "Jansen B.V.", iban="NL91ABNA0417164300")],
            "b": [Debtor("D1", "Other tenant")],
        }
        self.ledger.set_items("a", [item(1, open_amount="100.00"), item(2, open_amount="250.00")])
        self.ledger.set_items("b", [item(1, open_amount="100.00")])
        with store.begin() as conn:
            c = records.save_connection(conn, name="fake", ledger="fake", config={}, now=NOW)
            records.save_administrations(conn, c.id, self.ledger.administrations())
        self.sync()
        with store.begin() as conn:
            self.alpha = records.find_administration(conn, "a")
            self.beta = records.find_administration(conn, "b")
            endpoint, self.token = event_store.create_endpoint(
                conn, name="alpha", administration_ids=[self.alpha.id], now=NOW
            )
            self.endpoint = endpoint.id

    def sync(self) -> None:
        sync_all(self.store, lambda _c: self.ledger, clock=lambda: NOW)

    def receive(self, kind, amount, *, event_id, payment_id="pi_1", description="2026-00001"):
        event = PaymentEvent(
            provider="stripe",
            event_id=event_id,
            kind=kind,
            payment_id=payment_id,
            amount=Money(D(amount)),
            occurred_at=NOW,
            description=description,
        )
        with self.store.begin() as conn:
            return event_store.store_events(conn, self.endpoint, [event], NOW)

    def process(self):
        return process_pending(self.store, now=NOW)

    def outbox(self, now=NOW):
        return run_outbox(self.store, lambda _a: self.ledger, now=now, quick_retries=2)

    def state(self, admin_id=None) -> dict[str, tuple[str, Decimal]]:
        with self.store.begin() as conn:
            rows = conn.execute(
                select(
                    open_items.c.external_id, open_items.c.status, open_items.c.open_amount
                ).where(open_items.c.administration_id == (admin_id or self.alpha.id))
            ).all()
        return {ext: (status, amount) for ext, status, amount in rows}


@pytest.fixture
def setup(store: Store) -> Setup:
    return Setup(store)


def test_duplicate_delivery_is_stored_once(setup: Setup):
    assert setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1") == [True]
    assert setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1") == [False]
    setup.process()
    setup.outbox()
    assert len(setup.ledger.payments) == 1


def test_payment_lowers_open_amount_at_once_and_is_written_back_once(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1")
    assert setup.process().processed == 1
    assert setup.state()["X1"] == ("paid", D(0))  # before the ledger has heard of it
    # A sync now (ledger still says open) must not reopen it.
    setup.sync()
    assert setup.state()["X1"] == ("paid", D(0))
    assert setup.outbox().done == 1
    assert list(setup.ledger.payments.values()) == [("X1", D("100.00"))]
    # The ledger now reports it paid; the sync agrees and nothing is written again.
    setup.ledger.set_items("a", [item(2, open_amount="250.00")])
    setup.sync()
    assert setup.state()["X1"] == ("paid", D(0))
    assert setup.outbox().done == 0 and len(setup.ledger.payments) == 1


def test_partial_payment_keeps_the_rest_open_through_a_sync(setup: Setup):
    setup.receive(PaymentEventKind.PARTIALLY_PAID, "40.00", event_id="e", description="2026-00002")
    setup.process()
    setup.sync()
    assert setup.state()["X2"] == ("open", D("210.00"))


def test_other_tenants_items_are_never_touched(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_x", description="2026-00001")
    setup.process()
    assert setup.state(setup.beta.id)["X1"] == ("open", D("100.00"))


def test_unmatched_goes_to_suspense_and_can_be_assigned(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "75.00", event_id="evt_2", description="bedankt")
    assert setup.process().unmatched == 1
    with setup.store.begin() as conn:
        row = conn.execute(select(webhook_events)).one()
        x2 = conn.execute(
            select(open_items.c.id).where(
                (open_items.c.administration_id == setup.alpha.id)
                & (open_items.c.external_id == "X2")
            )
        ).scalar_one()
        foreign = conn.execute(
            select(open_items.c.id).where(open_items.c.administration_id == setup.beta.id)
        ).scalar_one()
    assert row.status == "unmatched"
    with pytest.raises(Exception, match="not an open item of this payment"):
        assign(setup.store, row.id, foreign, now=NOW)
    assign(setup.store, row.id, x2, now=NOW)
    assert setup.state()["X2"] == ("open", D("175.00"))


def test_chargeback_reopens_and_reversal_pays_again(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1")
    setup.process()
    setup.outbox()
    setup.ledger.set_items("a", [item(2, open_amount="250.00")])  # the ledger booked it
    setup.sync()
    setup.receive(PaymentEventKind.DISPUTE_OPENED, "100.00", event_id="evt_d")
    setup.receive(PaymentEventKind.CHARGED_BACK, "100.00", event_id="evt_cb")
    setup.process()
    assert setup.state()["X1"] == ("open", D("100.00"))
    setup.sync()  # the ledger still shows it paid: the reopened amount must stay open
    assert setup.state()["X1"] == ("open", D("100.00"))
    setup.outbox()
    assert list(setup.ledger.reversals.values()) == [("X1", D("100.00"))]
    assert "X1" in setup.ledger.disputes
    with setup.store.begin() as conn:
        flags = conn.execute(select(outbox).where(outbox.c.action == "flag_dispute")).all()
    assert len(flags) == 1  # announced and booked: one ledger note
    setup.receive(PaymentEventKind.CHARGEBACK_REVERSED, "100.00", event_id="evt_won")
    setup.receive(PaymentEventKind.CHARGEBACK_REVERSED, "100.00", event_id="evt_won_again")
    setup.process()
    assert setup.state()["X1"] == ("paid", D(0))  # applied once, not twice
    setup.outbox()
    assert "X1" not in setup.ledger.disputes
    assert len(setup.ledger.payments) == 2


def test_transient_failures_retry_and_a_lost_answer_writes_once(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1")
    setup.process()
    setup.ledger.fail_next = [RetriableLedgerError("503")] * 2  # both quick retries fail
    summary = setup.outbox()
    assert summary.retry_later == 1
    with setup.store.begin() as conn:
        entry = conn.execute(select(outbox)).one()
    assert entry.status == "pending" and entry.attempts == 1 and entry.next_attempt_at > NOW
    assert setup.outbox().done == 0  # not due yet
    setup.ledger.lose_answer_once = True
    later = NOW + timedelta(hours=1)
    assert setup.outbox(later).done == 1  # lost answer retried at once, found by its key
    assert len(setup.ledger.payments) == 1


def test_rate_limit_waits_for_retry_after(setup: Setup):
    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1")
    setup.process()
    setup.ledger.fail_next = [RateLimited("slow down", retry_after=120)]
    setup.outbox()
    with setup.store.begin() as conn:
        entry = conn.execute(select(outbox)).one()
    assert entry.next_attempt_at == NOW + timedelta(seconds=120) and entry.attempts == 0


def test_permanent_failure_is_shown_and_can_be_retried(setup: Setup):
    from connector.errors import LedgerError
    from connector.payments.outbox import retry

    setup.receive(PaymentEventKind.PAID, "100.00", event_id="evt_1")
    setup.process()
    setup.ledger.fail_next = [LedgerError("Invoice is locked by the accountant")]
    assert setup.outbox().failed == 1
    with setup.store.begin() as conn:
        entry = conn.execute(select(outbox)).one()
    assert entry.status == "failed" and "locked" in entry.last_error
    setup.sync()  # a failed write still holds the local payment
    assert setup.state()["X1"] == ("paid", D(0))
    assert retry(setup.store, entry.id, now=NOW)
    assert setup.outbox().done == 1 and len(setup.ledger.payments) == 1


def test_refund_and_failure_change_nothing(setup: Setup):
    setup.receive(PaymentEventKind.FAILED, "100.00", event_id="evt_f")
    setup.receive(PaymentEventKind.REFUNDED, "100.00", event_id="evt_r")
    assert setup.process().ignored == 2
    assert setup.state()["X1"] == ("open", D("100.00"))


def test_endpoint_token_is_only_stored_hashed(setup: Setup):
    with setup.store.begin() as conn:
        assert event_store.endpoint_for_token(conn, setup.token).id == setup.endpoint
        assert event_store.endpoint_for_token(conn, setup.token + "x") is None
        stored = conn.exec_driver_sql("SELECT token_hash FROM webhook_endpoints").scalar_one()
    assert setup.token not in stored
