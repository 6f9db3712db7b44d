from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from datetime import datetime
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func
from sqlalchemy import select

from connector.domain import Money
from connector.errors import UnknownPlugin
from connector.errors import WebhookRejected
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.payments.model import WebhookReply
from connector.payments.receive import LogLimiter
from connector.payments.receive import receive
from connector.payments.tables import webhook_events
from connector.store import Store
from connector.vault import Vault

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class HmacProvider:
    """A minimal provider: hex HMAC-SHA256 of the body in X-Sig, JSON {"id","amount"}."""

    name = "toy"

    def parse_webhook(self, body, headers, secrets, now):
        sig = headers.get("X-Sig", "")
        if not any(
            hmac.compare_digest(hmac.new(s.encode(), body, hashlib.sha256).hexdigest(), sig)
            for s in secrets
        ):
            raise WebhookRejected("bad signature", status=401)
        try:
            data = json.loads(body)
            return [
                PaymentEvent(
                    "toy",
                    data["id"],
                    PaymentEventKind.PAID,
                    data["id"],
                    Money(Decimal(data["amount"])),
                    NOW,
                )
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("malformed", status=400) from exc

    def reply(self, events):
        return WebhookReply(200, "[accepted]", "text/plain")


def providers(name):
    if name != "toy":
        raise UnknownPlugin(name)
    return HmacProvider()


@pytest.fixture
def setup(store: Store):
    vault = Vault([Fernet.generate_key().decode()])
    with store.begin() as conn:
        a, token_a = event_store.create_endpoint(conn, name="a", administration_ids=[], now=NOW)
        b, token_b = event_store.create_endpoint(conn, name="b", administration_ids=[], now=NOW)
        event_store.add_secret(conn, a.id, "toy", vault.encrypt("secret-a"), NOW)
        event_store.add_secret(conn, b.id, "toy", vault.encrypt("secret-b"), NOW)
    return store, vault, token_a, token_b


def signed(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Sig": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def call(setup, token, body, headers, provider="toy", store=None):
    s, vault, *_ = setup
    return receive(
        store=store or s,
        vault=vault,
        providers=providers,
        token=token,
        provider_name=provider,
        body=body,
        headers=headers,
        now=NOW,
        log_limiter=LogLimiter(),
    )


def count(store: Store) -> int:
    with store.begin() as conn:
        return conn.execute(select(func.count()).select_from(webhook_events)).scalar_one()


BODY = b'{"id": "p1", "amount": "12.50"}'


def test_verified_event_is_stored_before_the_reply_and_once(setup):
    store, _, token_a, _ = setup
    answer = call(setup, token_a, BODY, signed(BODY, "secret-a"))
    assert (answer.status, answer.body, answer.outcome) == (200, "[accepted]", "verified")
    assert count(store) == 1
    again = call(setup, token_a, BODY, signed(BODY, "secret-a"))
    assert (again.status, again.outcome) == (200, "duplicate") and count(store) == 1


def test_wrong_tenant_secret_is_rejected(setup):
    store, _, token_a, _ = setup
    answer = call(setup, token_a, BODY, signed(BODY, "secret-b"))  # B's secret on A's address
    assert answer.status == 401 and count(store) == 0
    assert json.loads(answer.body) == {"error": "signature not verified"}


@pytest.mark.parametrize(
    ("token", "provider", "status"),
    [("nope", "toy", 404), (None, "paypal", 404)],
    ids=["unknown-endpoint", "unknown-provider"],
)
def test_unknown_addresses_are_404(setup, token, provider, status):
    answer = call(setup, token or setup[2], BODY, signed(BODY, "secret-a"), provider=provider)
    assert answer.status == status


def test_malformed_body_is_400_never_500(setup):
    body = b'{"id": "p1"'
    answer = call(setup, setup[2], body, signed(body, "secret-a"))
    assert answer.status == 400 and json.loads(answer.body) == {"error": "malformed body"}


def test_store_down_is_503_so_the_provider_retries(setup):
    broken = Store("postgresql+psycopg://postgres@127.0.0.1:9/nothing")
    answer = call(setup, setup[2], BODY, signed(BODY, "secret-a"), store=broken)
    assert answer.status == 503
    broken.dispose()


def test_undecryptable_secret_is_503_not_500(setup):
    store, _, token_a, _ = setup
    other_vault = Vault([Fernet.generate_key().decode()])
    answer = receive(
        store=store,
        vault=other_vault,
        providers=providers,
        token=token_a,
        provider_name="toy",
        body=BODY,
        headers=signed(BODY, "secret-a"),
        now=NOW,
    )
    assert answer.status == 503


def test_rejection_logs_are_rate_limited(setup, caplog):
    limiter = LogLimiter(per_minute=3, clock=lambda: 0.0)
    s, vault, token_a, _ = setup
    with caplog.at_level("WARNING"):
        for _ in range(10):
            receive(
                store=s,
                vault=vault,
                providers=providers,
                token=token_a,
                provider_name="toy",
                body=BODY,
                headers={"X-Sig": "bad"},
                now=NOW,
                log_limiter=limiter,
            )
    assert caplog.text.count("rejected (401)") == 3
