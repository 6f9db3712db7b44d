"""Issue 16.6: a secret stored under the wrong key must never break deliveries.

`webhooks set-secret` checks CONNECTOR_SECRET_KEY against what is stored before adding a
secret (exit 2 otherwise); an undecryptable stored secret is skipped with a logged error so
the tenant's other secrets keep working; `connector serve` with a well-formed but wrong key
refuses to start with one line.
"""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func
from sqlalchemy import select

from connector.payments import events as event_store
from connector.payments.tables import provider_secrets
from connector.store import Store
from tests.fakes.cli import cli_runner
from tests.webhooks.conftest import stripe_event
from tests.webhooks.conftest import stripe_headers


def _secret_count(store_url: str) -> int:
    store = Store(store_url)
    with store.begin() as conn:
        n = conn.execute(select(func.count()).select_from(provider_secrets)).scalar_one()
    store.dispose()
    return n


def test_set_secret_with_a_different_key_exits_2(edge, store_url, monkeypatch, capsys):
    run = cli_runner(capsys)
    before = _secret_count(store_url)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", Fernet.generate_key().decode())
    result = run("webhooks", "set-secret", "acme", "stripe", "--from-env", "ACME_SECRET")
    assert result.code == 2, result
    assert "CONNECTOR_SECRET_KEY cannot decrypt" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert _secret_count(store_url) == before  # nothing stored under the wrong key


def test_undecryptable_secret_is_skipped_and_logged(edge, store_url, caplog):
    client, tokens = edge
    # A newer secret for the same tenant and provider, encrypted with a key we do not hold.
    stranger = Fernet(Fernet.generate_key()).encrypt(b"whsec_lost").decode()
    store = Store(store_url)
    with store.begin() as conn:
        endpoint = event_store.find_endpoint(conn, "acme")
        event_store.add_secret(conn, endpoint.id, "stripe", stranger, datetime.now(UTC))
    store.dispose()
    body = stripe_event("evt_key_1")
    with caplog.at_level(logging.ERROR):
        answer = client.post(
            f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body)
        )
    assert answer.status_code == 200, answer.data
    assert any("cannot decrypt" in r.getMessage() for r in caplog.records)
    assert "whsec" not in caplog.text


def test_serve_refuses_a_wrong_key_with_one_line(edge, monkeypatch, capsys):
    started = []
    monkeypatch.setattr("connector.cli.http._gunicorn", lambda *a, **k: started.append(a))
    run = cli_runner(capsys)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", Fernet.generate_key().decode())
    result = run("serve")
    assert result.code == 2, result
    assert not started
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "CONNECTOR_SECRET_KEY cannot decrypt" in lines[0]


def test_serve_starts_with_the_right_key(edge, monkeypatch, capsys):
    started = []
    monkeypatch.setattr("connector.cli.http._gunicorn", lambda *a, **k: started.append(a))
    assert cli_runner(capsys)("serve").code == 0
    assert started


@pytest.fixture(autouse=True)
def _quiet_gunicorn(monkeypatch):
    monkeypatch.setattr("connector.cli.http.serve_with_scheduler", lambda *a, **k: None)
