"""Moneybird webhooks: the Moneybird-Signature check, then hints to re-read."""

from __future__ import annotations

import json

import pytest

from adapters.moneybird import WEBHOOKS
from adapters.moneybird.webhooks import sign
from connector.errors import WebhookRejected
from connector.ports import LedgerHint
from connector.ports import LedgerWebhooks

NOW = 1_748_534_400
SECRET = "whsec_current"
OLD = "whsec_previous"


def signed(body: bytes, *secrets: str, t: int = NOW, extra: str = "") -> dict[str, str]:
    parts = [f"t={t}", *(f"v1={sign(s, t, body)}" for s in secrets)]
    if extra:
        parts.insert(1, extra)
    return {"Moneybird-Signature": ",".join(parts)}


def test_it_is_the_ports_webhook_side() -> None:
    verifier: LedgerWebhooks = WEBHOOKS
    assert verifier is WEBHOOKS


def test_documented_signature_example_shape() -> None:
    body = b'{"administration_id":"1"}'
    assert (
        sign("secret", 1748534400, body)
        == __import__("hmac").new(b"secret", b"1748534400." + body, "sha256").hexdigest()
    )


def test_a_sales_invoice_event_hints_at_the_invoice(load) -> None:
    body = json.dumps(load("webhook_sales_invoice")).encode()
    hints = WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW)
    assert hints == [LedgerHint("123", "item", "481221152235063180")]


def test_the_payload_is_not_trusted_as_data(load) -> None:
    payload = load("webhook_sales_invoice")
    payload["entity"]["total_unpaid"] = "0.0"  # whatever it says, we only re-read
    body = json.dumps(payload).encode()
    [hint] = WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW)
    assert hint.kind == "item"


@pytest.mark.parametrize(
    ("payload", "hint"),
    [
        (
            {"administration_id": 5, "entity_type": "ExternalSalesInvoice", "entity_id": "77"},
            LedgerHint("5", "item", "ext:77"),
        ),
        (
            {
                "administration_id": "5",
                "entity_type": "Contact",
                "entity_id": "88",
                "action": "contact_changed",
            },
            LedgerHint("5", "debtor", "88"),
        ),
        (
            {
                "administration_id": "5",
                "entity_type": "Payment",
                "entity_id": "99",
                "action": "payment_registered",
                "entity": {"invoice_type": "SalesInvoice", "invoice_id": "66"},
            },
            LedgerHint("5", "item", "66"),
        ),
    ],
)
def test_other_entities(payload: dict, hint: LedgerHint) -> None:
    body = json.dumps(payload).encode()
    assert WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW) == [hint]


@pytest.mark.parametrize(
    "payload",
    [
        {},  # the check when a webhook is registered
        {"administration_id": "5", "entity_type": "PurchaseInvoice", "entity_id": "1"},
        {
            "administration_id": "5",
            "entity_type": "Payment",
            "entity_id": "1",
            "entity": {"invoice_type": "Document", "invoice_id": "2"},
        },
        {"administration_id": "5", "entity_type": "SalesInvoice", "entity_id": "not-a-number"},
    ],
)
def test_nothing_to_read(payload: dict) -> None:
    body = json.dumps(payload).encode()
    assert WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW) == []


def test_secret_rotation_any_v1_matching_any_secret(load) -> None:
    body = json.dumps(load("webhook_sales_invoice")).encode()
    headers = signed(body, OLD, SECRET)  # Moneybird signs with both during a rotation
    assert WEBHOOKS.verify(body, headers, [SECRET], NOW)
    assert WEBHOOKS.verify(body, signed(body, OLD), [SECRET, OLD], NOW)


def test_unknown_schemes_are_ignored(load) -> None:
    body = json.dumps(load("webhook_sales_invoice")).encode()
    headers = signed(body, SECRET, extra="v2=deadbeef")
    assert WEBHOOKS.verify(body, headers, [SECRET], NOW)
    only_v2 = {"Moneybird-Signature": f"t={NOW},v2={sign(SECRET, NOW, body)}"}
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(body, only_v2, [SECRET], NOW)
    assert caught.value.status == 401


def test_headers_in_any_case(load) -> None:
    body = b"{}"
    header = signed(body, SECRET)["Moneybird-Signature"]
    assert WEBHOOKS.verify(body, {"moneybird-signature": header}, [SECRET], NOW) == []


@pytest.mark.parametrize(
    ("headers", "secrets", "now"),
    [
        ({}, [SECRET], NOW),  # unsigned
        ({"Moneybird-Signature": "v1=abc"}, [SECRET], NOW),  # no timestamp
        (None, ["wrong"], NOW),  # another secret
        (None, [], NOW),  # no secret configured
        (None, [SECRET], NOW + 301),  # replayed later
        (None, [SECRET], NOW - 301),  # from the future
    ],
)
def test_rejected_with_401(headers, secrets, now) -> None:
    body = b'{"administration_id":"1","entity_type":"SalesInvoice","entity_id":"2"}'
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(body, signed(body, SECRET) if headers is None else headers, secrets, now)
    assert caught.value.status == 401


def test_a_changed_body_fails_the_signature() -> None:
    body = b'{"administration_id":"1","entity_type":"SalesInvoice","entity_id":"2"}'
    headers = signed(body, SECRET)
    with pytest.raises(WebhookRejected):
        WEBHOOKS.verify(body.replace(b'"2"', b'"3"'), headers, [SECRET], NOW)


def test_within_the_window_is_fine() -> None:
    body = b"{}"
    assert WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW + 300) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_signed_body_that_is_not_an_object_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        WEBHOOKS.verify(body, signed(body, SECRET), [SECRET], NOW)
    assert caught.value.status == 400
