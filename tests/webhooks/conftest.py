from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from cryptography.fernet import Fernet

from connector.cli import main
from connector.cli.context import Context
from connector.cli.http import build_app

STRIPE_SECRET = "whsec_test_secret_for_the_edge"
OTHER_SECRET = "whsec_other_tenant"


def stripe_event(event_id: str, amount: int = 12500, items: str = "") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"pi_{event_id}",
                    "object": "payment_intent",
                    "amount": amount,
                    "amount_received": amount,
                    "currency": "eur",
                    "status": "succeeded",
                    "description": "Factuur F1",
                    "metadata": {"connector_items": items},
                }
            },
        }
    ).encode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> dict:
    t = int(time.time()) if at is None else at
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


@pytest.fixture
def edge(store_url, tmp_path, monkeypatch, capsys):
    """A wired app with two tenants (endpoints 'acme' and 'other'), each with a Stripe secret."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("ACME_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("OTHER_SECRET", OTHER_SECRET)
    for name in ("acme", "other"):
        folder = tmp_path / "exports" / name
        folder.mkdir(parents=True)
        (folder / "items.csv").write_text(
            "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,125.00\n"
        )
        main(["connect", "files", "--name", name, "--path", str(folder)])
    main(["sync"])
    tokens = {}
    for name in ("acme", "other"):
        capsys.readouterr()
        main(["webhooks", "create-endpoint", name, "--administration", name])
        tokens[name] = capsys.readouterr().out.split("/webhooks/")[1].split("/")[0]
        main(["webhooks", "set-secret", name, "stripe", "--from-env", f"{name.upper()}_SECRET"])
    ctx = Context(config_path=None, debug=False)
    app = build_app(ctx)
    app.config["TESTING"] = True
    yield app.test_client(), tokens
    ctx.close()
