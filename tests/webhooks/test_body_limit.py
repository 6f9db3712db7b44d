"""Issue 16.7: a chunked body over the limit is refused (413), never cut and stored."""

from __future__ import annotations

import io

from sqlalchemy import func
from sqlalchemy import select

from connector.payments.tables import webhook_events
from connector.store import Store
from tests.webhooks.conftest import stripe_event
from tests.webhooks.conftest import stripe_headers
from webhooks.payments import BODY_LIMIT


def _stored(store_url: str) -> int:
    store = Store(store_url)
    with store.begin() as conn:
        n = conn.execute(select(func.count()).select_from(webhook_events)).scalar_one()
    store.dispose()
    return n


def _chunked(client, url: str, body: bytes, headers: dict):
    # As gunicorn passes a chunked body: no length, the stream terminated by the server.
    headers = {**headers, "Transfer-Encoding": "chunked"}
    return client.post(
        url,
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_the_limit_is_413_and_not_stored(edge, store_url):
    client, tokens = edge
    url = f"/webhooks/{tokens['acme']}/stripe"
    # A genuinely signed event of exactly the limit (JSON allows trailing blanks) plus junk:
    # cutting at the limit would leave a valid signature over the first part.
    event = stripe_event("evt_big")
    signed = event + b" " * (BODY_LIMIT - len(event))
    answer = _chunked(client, url, signed + b"junk", stripe_headers(signed))
    assert answer.status_code == 413, answer.data
    assert answer.json == {"error": "body too large"}
    assert _stored(store_url) == 0


def test_chunked_body_at_the_limit_is_taken(edge, store_url):
    client, tokens = edge
    url = f"/webhooks/{tokens['acme']}/stripe"
    event = stripe_event("evt_limit")
    signed = event + b" " * (BODY_LIMIT - len(event))
    answer = _chunked(client, url, signed, stripe_headers(signed))
    assert answer.status_code == 200, answer.data
    assert _stored(store_url) == 1


def test_ledger_callback_chunked_over_the_limit_is_413(edge):
    client, tokens = edge
    url = f"/ledger-webhooks/{tokens['acme']}/moneybird"
    answer = _chunked(client, url, b"{" + b" " * BODY_LIMIT + b"}", {})
    assert answer.status_code == 413
