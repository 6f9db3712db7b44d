"""The payments job's poll of providers that offer one (connector.payments.polling)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from connector.domain import Money
from connector.errors import RetriableLedgerError
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.payments.polling import poll_providers
from connector.payments.tables import webhook_events
from connector.store import Store
from connector.vault import Vault

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Poller:
    """A provider that polls: one chargeback per secret it is given."""

    name = "toy"

    def __init__(self, due: bool = True, fail_for: str = "") -> None:
        self.due, self.fail_for = due, fail_for
        self.asked: list[list[str]] = []

    def poll_due(self, now: float) -> bool:
        return self.due

    def poll(self, secrets, now):
        self.asked.append(list(secrets))
        if self.fail_for in secrets:
            msg = "toy could not be reached"
            raise RetriableLedgerError(msg)
        return [
            PaymentEvent(
                provider="toy",
                event_id=f"{secret}:chargeback",
                kind=PaymentEventKind.CHARGED_BACK,
                payment_id=f"pay-{secret}",
                amount=Money(Decimal("12.50"), "EUR"),
                occurred_at=NOW,
            )
            for secret in secrets
        ]


class WebhookOnly:
    name = "plain"


@pytest.fixture
def setup(store: Store):
    vault = Vault([Fernet.generate_key().decode()])
    other = Vault([Fernet.generate_key().decode()])
    with store.begin() as conn:
        a, _ = event_store.create_endpoint(conn, name="a", administration_ids=[], now=NOW)
        b, _ = event_store.create_endpoint(conn, name="b", administration_ids=[], now=NOW)
        event_store.add_secret(conn, a.id, "toy", vault.encrypt("sa"), NOW)
        event_store.add_secret(conn, a.id, "toy", other.encrypt("wrong-key"), NOW)
        event_store.add_secret(conn, b.id, "toy", vault.encrypt("sb"), NOW)
        event_store.add_secret(conn, b.id, "plain", vault.encrypt("sp"), NOW)
    return store, vault


def stored(store: Store) -> list[tuple[int, str]]:
    with store.begin() as conn:
        rows = conn.execute(
            select(webhook_events.c.endpoint_id, webhook_events.c.event_id).order_by(
                webhook_events.c.event_id
            )
        ).all()
    return [(row.endpoint_id, row.event_id) for row in rows]


def test_due_pollers_are_asked_per_endpoint_and_their_events_stored_once(setup, caplog):
    store, vault = setup
    toy = Poller()
    providers = {"toy": toy, "plain": WebhookOnly()}.__getitem__
    summary = poll_providers(store, vault, providers, ["plain", "toy"], NOW)
    assert (summary.polled, summary.stored, summary.failed) == (2, 2, 0)
    assert sorted(toy.asked) == [["sa"], ["sb"]]  # the undecryptable secret was skipped ...
    assert "a toy secret of endpoint a is skipped" in caplog.text  # ... and said so
    assert [event for _, event in stored(store)] == ["sa:chargeback", "sb:chargeback"]
    again = poll_providers(store, vault, providers, ["plain", "toy"], NOW)
    assert (again.polled, again.stored) == (2, 0)  # duplicates are ignored, as for webhooks
    assert len(stored(store)) == 2


def test_nothing_is_asked_when_no_poll_is_due(setup):
    store, vault = setup
    toy = Poller(due=False)
    summary = poll_providers(store, vault, {"toy": toy}.__getitem__, ["toy"], NOW)
    assert summary.polled == 0
    assert toy.asked == []


def test_one_tenant_failing_does_not_stop_the_others(setup, caplog):
    store, vault = setup
    toy = Poller(fail_for="sa")
    summary = poll_providers(store, vault, {"toy": toy}.__getitem__, ["toy"], NOW)
    assert (summary.polled, summary.stored, summary.failed) == (2, 1, 1)
    assert "polling toy for endpoint a failed" in caplog.text
    assert [event for _, event in stored(store)] == ["sb:chargeback"]
