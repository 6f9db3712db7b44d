from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from connector.domain import Money
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.store import Store
from tests.fakes.cli import cli_runner

SECRET = "whsec_test_value_that_must_never_show"


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    folder = tmp_path / "exports" / "acme"
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,100.00\n"
    )

    run = cli_runner(capsys)

    assert run("connect", "files", "--path", str(folder))[0] == 0
    assert run("sync")[0] == 0
    return run


def _receive(store_url: str, endpoint: str, description: str) -> None:
    store = Store(store_url)
    with store.begin() as conn:
        found = event_store.find_endpoint(conn, endpoint)
        event = PaymentEvent(
            "stripe",
            "evt_1",
            PaymentEventKind.PAID,
            "pi_1",
            Money(Decimal("100.00")),
            datetime.now(UTC),
            description,
        )
        event_store.store_events(conn, found.id, [event], datetime.now(UTC))
    store.dispose()


def test_endpoint_secret_and_a_payment_the_files_ledger_cannot_take(cli, store_url, tmp_path):
    code, out, _ = cli("webhooks", "create-endpoint", "acme", "--administration", "acme")
    assert code == 0
    token = out.split("/webhooks/")[1].split("/")[0]
    assert len(token) >= 40
    code, out, _ = cli(
        "webhooks", "set-secret", "acme", "stripe", "--from-env", "STRIPE_WEBHOOK_SECRET"
    )
    assert code == 0 and SECRET not in out
    code, out, _ = cli("webhooks", "endpoints", "--json")
    [listed] = json.loads(out)
    assert listed["providers"] == ["stripe"] and SECRET not in out and token not in out
    db = tmp_path / "connector.db"
    if db.exists():
        assert SECRET.encode() not in db.read_bytes() and token.encode() not in db.read_bytes()

    _receive(store_url, "acme", "Factuur F1")
    code, out, _ = cli("payments", "process")
    assert code == 0 and "1 processed" in out and "1 failed" in out
    code, out, _ = cli("items", "--status", "all", "--json")
    assert json.loads(out)[0]["status"] == "paid"  # dunning stops at once
    code, out, _ = cli("outbox", "--json")
    [entry] = json.loads(out)
    assert entry["status"] == "failed" and entry["amount"] == "100.00"
    assert "files ledger cannot record payments" in entry["last_error"]
    assert cli("outbox", "retry", str(entry["id"]))[0] == 0
    assert cli("outbox", "retry", str(entry["id"]))[0] == 1  # not failed any more


def test_unknown_provider_and_missing_key_are_clear(cli, monkeypatch):
    cli("webhooks", "create-endpoint", "acme", "--administration", "acme")
    code, _, err = cli("webhooks", "set-secret", "acme", "paypal", "--from-env", "X")
    assert code == 2 and "unknown payment provider 'paypal'" in err
    monkeypatch.delenv("CONNECTOR_SECRET_KEY")
    code, _, err = cli(
        "webhooks", "set-secret", "acme", "stripe", "--from-env", "STRIPE_WEBHOOK_SECRET"
    )
    assert code == 2 and "CONNECTOR_SECRET_KEY is not set" in err


def test_unmatched_payment_is_listed_and_assigned(cli, store_url):
    cli("webhooks", "create-endpoint", "acme", "--administration", "acme")
    _receive(store_url, "acme", "zomaar")
    cli("payments", "process")
    code, out, _ = cli("payments", "unmatched", "--json")
    [event] = json.loads(out)
    assert event["amount"] == "100.00"
    item = json.loads(cli("items", "--json")[1])[0]["id"]
    code, out, _ = cli("payments", "assign", str(event["id"]), str(item))
    assert code == 0 and "applied to item" in out
    assert json.loads(cli("payments", "unmatched", "--json")[1]) == []


def test_the_scheduled_payments_job_processes_and_writes_back(cli, store_url, caplog):
    from connector.cli.jobs import payments_job

    cli("webhooks", "create-endpoint", "acme", "--administration", "acme")
    _receive(store_url, "acme", "Factuur F1")
    with caplog.at_level("INFO", logger="connector.jobs"):
        payments_job(None)
    assert "payments: 1 processed, 0 unmatched; ledger writes: 0 done, 1 failed" in caplog.text
    assert json.loads(cli("items", "--status", "all", "--json")[1])[0]["status"] == "paid"


def test_webhook_subscriptions_through_the_ledger(cli, monkeypatch):
    code, _, err = cli("webhooks", "subscribe", "acme", "--url", "https://h/ledger-webhooks/t/x")
    assert code == 2 and "files ledger has no webhook subscriptions" in err

    calls = []

    class Subscribing:
        def subscribe_webhooks(self, administration, url):
            calls.append(("sub", administration.external_id, url))
            return ["Accounts", "FinancialTransactions"]

        def unsubscribe_webhooks(self, administration, url):
            calls.append(("unsub", administration.external_id, url))
            return 2

    monkeypatch.setattr("connector.cli.payments.ledger_for_admin", lambda ctx, admin: Subscribing())
    url = "https://connector.example.nl/ledger-webhooks/t/exact"
    code, out, _ = cli("webhooks", "subscribe", "acme", "--url", url)
    assert code == 0 and "Accounts, FinancialTransactions" in out
    code, out, _ = cli("webhooks", "unsubscribe", "acme", "--url", url)
    assert code == 0 and "removed 2 subscription(s)" in out
    assert calls == [("sub", "acme", url), ("unsub", "acme", url)]
