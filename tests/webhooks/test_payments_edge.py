from __future__ import annotations

import time

from sqlalchemy import func
from sqlalchemy import select

from connector.payments.tables import webhook_events
from connector.store import Store
from tests.webhooks.conftest import OTHER_SECRET
from tests.webhooks.conftest import stripe_event
from tests.webhooks.conftest import stripe_headers


def stored(store_url: str) -> int:
    store = Store(store_url)
    with store.begin() as conn:
        n = conn.execute(select(func.count()).select_from(webhook_events)).scalar_one()
    store.dispose()
    return n


def test_signed_stripe_event_is_stored_and_duplicate_is_2xx(edge, store_url):
    client, tokens = edge
    body = stripe_event("evt_1")
    first = client.post(
        f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body)
    )
    assert first.status_code == 200, first.data
    assert stored(store_url) == 1
    again = client.post(
        f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body)
    )
    assert again.status_code == 200 and stored(store_url) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'connector_webhook_events_verified_total{provider="stripe"} 1.0' in metrics
    assert 'connector_webhook_events_duplicate_total{provider="stripe"} 1.0' in metrics
    assert "connector_payment_processing_lag_seconds" in metrics


def test_other_tenants_secret_and_address_do_not_cross(edge, store_url):
    client, tokens = edge
    body = stripe_event("evt_2")
    wrong = client.post(
        f"/webhooks/{tokens['acme']}/stripe", data=body, headers=stripe_headers(body, OTHER_SECRET)
    )
    assert wrong.status_code == 401 and wrong.json == {"error": "signature not verified"}
    assert stored(store_url) == 0


def test_replay_outside_tolerance_and_garbage(edge, store_url):
    client, tokens = edge
    url = f"/webhooks/{tokens['acme']}/stripe"
    body = stripe_event("evt_3")
    old = client.post(url, data=body, headers=stripe_headers(body, at=int(time.time()) - 301))
    assert old.status_code == 401
    truncated = body[:-5]
    assert client.post(url, data=truncated, headers=stripe_headers(body)).status_code == 401
    assert stored(store_url) == 0
    # Genuinely signed but not JSON: a retry would be the same bytes, so it is kept as
    # rejected (for a person to see) and acknowledged, never a 400 retried for days.
    garbage = b"{not json"
    bad = client.post(url, data=garbage, headers=stripe_headers(garbage))
    assert bad.status_code == 200
    assert stored(store_url) == 1


def test_unknown_addresses_oversized_and_methods(edge):
    client, tokens = edge
    assert client.post("/webhooks/nope/stripe", data=b"x").status_code == 404
    assert client.post(f"/webhooks/{tokens['acme']}/paypal", data=b"x").status_code == 404
    big = client.post(f"/webhooks/{tokens['acme']}/stripe", data=b"x" * (1024 * 1024 + 1))
    assert big.status_code == 413 and big.json == {"error": "body too large"}
    assert client.get(f"/webhooks/{tokens['acme']}/stripe").status_code == 405


def test_health_readiness_and_openapi(edge):
    client, _ = edge
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.") and "/webhooks/{token}/{provider}" in doc["paths"]


def test_one_blueprint_per_installed_provider(edge):
    client, _ = edge
    names = {name for name in client.application.blueprints if name.startswith("webhooks_")}
    assert names == {"webhooks_adyen", "webhooks_buckaroo", "webhooks_mollie", "webhooks_stripe"}
