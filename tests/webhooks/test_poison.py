"""Issue 16.9 (store side) and 16.11: poison events are kept as rejected and acknowledged.

Only the store being unreachable or locked is worth a provider's retry (503). A verified
event the store cannot hold, or one a provider's mapping declares unusable
(`EventUnusable`), is stored as rejected with the reason, for a person to see, and answered
200 so the provider stops retrying it for days. No SQL bound parameter (payer name, IBAN,
references) ever reaches a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.errors import EventUnusable
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import WebhookReply
from connector.payments.receive import receive
from connector.payments.tables import webhook_endpoints
from connector.payments.tables import webhook_events
from connector.payments.writer import EventWriter
from connector.store import Store
from connector.vault import Vault
from tests.fakes.cli import cli_runner
from tests.webhooks.conftest import stripe_event
from tests.webhooks.conftest import stripe_headers


def _events(store_url: str) -> list:
    store = Store(store_url)
    with store.begin() as conn:
        rows = list(conn.execute(select(webhook_events).order_by(webhook_events.c.id)))
    store.dispose()
    return rows


def test_engine_never_logs_bound_parameters(store):
    assert store.engine.hide_parameters is True
    now = datetime.now(UTC)
    row = {"name": "NL91ABNA0417164300 Jansen", "token_hash": "a" * 64, "created_at": now}
    with store.begin() as conn:
        conn.execute(webhook_endpoints.insert().values(**row))
    with pytest.raises(IntegrityError) as caught, store.begin() as conn:
        conn.execute(webhook_endpoints.insert().values(**row))
    # The statement's parameters are left out (PostgreSQL's own DETAIL line names the
    # conflicting key, which is why the edge logs only a driver message's first line).
    assert "parameters hidden" in str(caught.value)
    assert "a" * 64 not in str(caught.value)


def test_amount_the_store_cannot_hold_is_rejected_and_acknowledged(edge, store_url, caplog):
    client, tokens = edge
    body = stripe_event("evt_huge", amount=10**30).replace(b"Factuur F1", b"Jansen NL91ABNA")
    with caplog.at_level(logging.DEBUG):
        answer = client.post(
            f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body)
        )
    assert answer.status_code == 200, answer.data  # a retry would fail the same way
    rows = _events(store_url)
    assert [r.status for r in rows] == ["rejected"]
    assert rows[0].detail  # says why
    assert "NL91ABNA" not in caplog.text
    again = client.post(
        f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body)
    )
    assert again.status_code == 200 and len(_events(store_url)) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'connector_webhook_events_unusable_total{provider="stripe"} 1.0' in metrics


class _UnusableProvider:
    """A provider whose mapping finds a verified event unusable (as adapters raise it)."""

    name = "stripe"

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: float
    ) -> Sequence[PaymentEvent]:
        raise EventUnusable("amount 1E+40 is out of range")

    def reply(self, events: Sequence[PaymentEvent]) -> WebhookReply:
        return WebhookReply(status=200, body="[accepted]", content_type="text/plain")


@pytest.mark.parametrize("with_writer", [True, False])
def test_event_unusable_is_stored_as_rejected_and_acknowledged(
    store, store_url, with_writer, capsys, monkeypatch, tmp_path
):
    vault = Vault([Fernet.generate_key().decode()])
    now = datetime.now(UTC)
    with store.begin() as conn:
        _endpoint, token = event_store.create_endpoint(
            conn, name="acme", administration_ids=[], now=now
        )
        event_store.add_secret(conn, _endpoint.id, "stripe", vault.encrypt("s"), now)
    writer = EventWriter(store) if with_writer else None

    def deliver():
        return receive(
            store=store,
            vault=vault,
            providers=lambda _name: _UnusableProvider(),  # type: ignore[arg-type,return-value]
            token=token,
            provider_name="stripe",
            body=b'{"id": "evt_unusable"}',
            headers={},
            now=now,
            writer=writer,
        )

    first = deliver()
    assert (first.status, first.body, first.outcome) == (200, "[accepted]", "unusable")
    assert deliver().status == 200  # the provider's retry changes nothing
    rows = _events(store_url)
    assert len(rows) == 1
    assert rows[0].status == "rejected" and "out of range" in rows[0].detail
    # A person sees it in the listing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    listed = cli_runner(capsys)("payments", "rejected", "--json")
    assert listed.code == 0, listed
    shown = json.loads(listed.out)
    assert [(e["status"], e["detail"]) for e in shown] == [
        ("rejected", "amount 1E+40 is out of range")
    ]
