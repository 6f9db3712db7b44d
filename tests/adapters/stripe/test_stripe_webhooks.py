"""Stripe webhooks: the research's signature vectors, replay window, rotation, parsing, mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.stripe import create_provider
from adapters.stripe.mapping import minor_to_money
from adapters.stripe.provider import StripeProvider
from adapters.stripe.provider import sign
from adapters.stripe.provider import verify
from connector.domain import Money
from connector.errors import ConfigError
from connector.errors import EventUnusable
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEventKind

FIXTURES = Path(__file__).parent / "fixtures"

# research law-and-psp.md §T.3
SECRET = "whsec_test_secret"
T = 1700000000
BODY = b'{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}'
V1 = "130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056"
TAMPERED_V1 = "e258f605bd829ebfa3ca9bb07b9b60ae7da4050e6acf5c2f40818cb8eda1ce18"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, secret: str = SECRET, t: int = T) -> dict[str, str]:
    """An independent signer (not the adapter's): hex HMAC-SHA256 of "t." + body."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}"}


def parse(body: bytes, headers: dict[str, str], secrets: list[str] | None = None, now: float = T):
    return StripeProvider().parse_webhook(body, headers, secrets or [SECRET], now)


# --- T.3 vectors ------------------------------------------------------------------------


def test_stripe_01_the_adapter_computes_the_published_signature() -> None:
    assert sign(BODY, SECRET, T) == V1


def test_stripe_03_the_tampered_body_has_the_published_other_signature() -> None:
    assert sign(BODY + b" ", SECRET, T) == TAMPERED_V1


@pytest.mark.parametrize(
    ("vector", "body", "header", "now", "valid"),
    [
        ("STRIPE-01 at t", BODY, f"t={T},v1={V1}", T, True),
        ("STRIPE-01 at t+300", BODY, f"t={T},v1={V1}", T + 300, True),
        ("STRIPE-02 stale", BODY, f"t={T},v1={V1}", T + 301, False),
        ("STRIPE-03 tampered", BODY + b" ", f"t={T},v1={V1}", T, False),
        ("STRIPE-04 several v1, v0", BODY, f"t={T},v1={'0' * 64},v1={V1},v0=abc", T, True),
    ],
)
def test_research_vectors(vector: str, body: bytes, header: str, now: int, valid: bool) -> None:
    if valid:
        verify(body, header, [SECRET], now)
    else:
        with pytest.raises(WebhookRejected) as caught:
            verify(body, header, [SECRET], now)
        assert caught.value.status == 401, vector


def test_a_valid_signature_on_an_unusable_event_is_unusable_not_a_401() -> None:
    # STRIPE-01's body is signed correctly but has no data.object: kept as rejected, 200
    with pytest.raises(EventUnusable, match="evt_test_webhook") as caught:
        parse(BODY, {"Stripe-Signature": f"t={T},v1={V1}"})
    assert caught.value.status == 200


# --- the header as stripe-python reads it (issue 15.6) ------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"t={T}, v1={V1}",  # " v1" is not the v1 key for the SDK
        f"t={T},v1= {V1}",
        f"t={T},v1={V1} ",
        f" t={T},v1={V1}",
        f"t={T},v1={V1},v1",  # a v1 part without "=" makes the SDK refuse the header
        f"t={T},t,v1={V1}",
    ],
)
def test_whitespace_and_stray_parts_are_refused_as_the_sdk_does(header: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, header, [SECRET], T)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "header",
    [
        f"t= {T} ,v1={V1}",  # int() takes surrounding whitespace
        f"t=+{T},v1={V1}",
        f"t={T},v1={V1}=",  # split("=", 2) keeps only the first piece after the key
        f"t={T},v1={V1},other, x=1",  # unknown parts are ignored
        f"t={T},t=0,v1={V1}",  # the first t counts
    ],
)
def test_what_the_sdk_accepts_is_accepted(header: str) -> None:
    verify(BODY, header, [SECRET], T)


def test_a_body_that_is_not_utf8_is_refused_as_the_sdk_does() -> None:
    body = b'{"id": "evt_1", "x": "\xff"}'
    with pytest.raises(WebhookRejected) as caught:
        parse(body, signed(body))
    assert caught.value.status == 400


# --- replay, secrets, headers -------------------------------------------------------------


@pytest.mark.parametrize("now", [T - 301, T + 301, T + 86400])
def test_timestamps_outside_the_tolerance_are_refused_either_way(now: int) -> None:
    body = fixture("payment_intent_succeeded.json")
    with pytest.raises(WebhookRejected) as caught:
        parse(body, signed(body), now=now)
    assert caught.value.status == 401
    assert "tolerance" in str(caught.value)


def test_a_nan_clock_never_passes_the_window() -> None:
    body = fixture("payment_intent_succeeded.json")
    with pytest.raises(WebhookRejected):
        parse(body, signed(body), now=float("nan"))


def test_the_tolerance_is_configurable() -> None:
    body = fixture("payment_intent_succeeded.json")
    provider = create_provider({"tolerance": 60})
    assert provider.parse_webhook(body, signed(body), [SECRET], T + 60)
    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body, signed(body), [SECRET], T + 61)


@pytest.mark.parametrize("tolerance", [0, -5, "300", True, 1.5])
def test_a_bad_tolerance_is_a_config_error(tolerance: object) -> None:
    with pytest.raises(ConfigError):
        create_provider({"tolerance": tolerance})


def test_rotation_old_and_new_secret_are_both_accepted() -> None:
    body = fixture("payment_intent_succeeded.json")
    secrets = ["whsec_old", "whsec_new"]
    assert parse(body, signed(body, "whsec_old"), secrets)
    assert parse(body, signed(body, "whsec_new"), secrets)
    # Stripe itself sends one v1 per active secret while a secret is rolled
    old = signed(body, "whsec_old")["Stripe-Signature"]
    new_v1 = signed(body, "whsec_new")["Stripe-Signature"].split(",")[1]
    assert parse(body, {"Stripe-Signature": f"{old},{new_v1}"}, ["whsec_new"])


@pytest.mark.parametrize(
    ("headers", "secrets"),
    [
        ({}, [SECRET]),  # missing header
        ({"Stripe-Signature": ""}, [SECRET]),
        ({"Stripe-Signature": f"v1={V1}"}, [SECRET]),  # no t
        ({"Stripe-Signature": f"t={T}"}, [SECRET]),  # no v1
        ({"Stripe-Signature": f"t=abc,v1={V1}"}, [SECRET]),
        ({"Stripe-Signature": f"t=-{T},v1={V1}"}, [SECRET]),
        ({"Stripe-Signature": f"t={T},v0={V1}"}, [SECRET]),  # only the ignored scheme
        ({"Stripe-Signature": f"t={T},v1={V1}"}, ["whsec_wrong"]),  # wrong secret
        ({"Stripe-Signature": f"t={T},v1={V1}"}, []),  # no secret configured
        ({"Stripe-Signature": f"t={T},v1={V1.upper()}"}, [SECRET]),
        ({"Stripe-Signature": f"t={T},v1=é{V1}"}, [SECRET]),  # non-ASCII never crashes
    ],
)
def test_bad_or_missing_signatures_are_401(headers: dict[str, str], secrets: list[str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        StripeProvider().parse_webhook(BODY, headers, secrets, T)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)


def test_the_header_name_is_case_insensitive() -> None:
    body = fixture("payment_intent_succeeded.json")
    headers = {"stripe-signature": signed(body)["Stripe-Signature"]}
    assert parse(body, headers)


def test_a_truncated_body_is_refused_as_unsigned() -> None:
    body = fixture("payment_intent_succeeded.json")
    with pytest.raises(WebhookRejected) as caught:
        parse(body[:-10], signed(body))
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2, 3]",
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "created": 1700000000}',
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1",'
        b' "amount": 10.5, "currency": "eur"}}, "created": 1700000000}',
        b'{"id": "evt_1", "type": "charge.dispute.created", "data": {"object": {"id": "dp_1",'
        b' "amount": 100, "currency": "euro"}}, "created": 1700000000}',
        b'{"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1",'
        b' "amount_refunded": 100, "currency": "eur"}}, "created": "yesterday"}',
        b"[" * 100000,
        b'{"id": "evt_1", "type": "charge.refunded", "data": {"object": {"id": "ch_1",'
        b' "currency": "eur"}}, "created": 1700000000}',
        b'{"id": "evt_1", "type": "charge.dispute.closed", "data": {"object": {"id": "dp_1",'
        b' "amount": 100, "currency": "eur", "status": "under_review"}}, "created": 1700000000}',
        b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1",'
        b' "amount_received": 10000000000000000000000000000000000000000000, "currency": "eur"}},'
        b' "created": 1700000000}',
        b'{"id": "evt_1", "type": "payment_intent.payment_failed", "data": {"object": {'
        b'"id": "pi_1", "amount": -100, "currency": "eur"}}, "created": 1700000000}',
    ],
)
def test_a_signed_event_that_cannot_be_mapped_is_unusable_never_dropped(body: bytes) -> None:
    # issue 16.11 / 16.9: kept as rejected with the reason (the edge answers 200)
    with pytest.raises(EventUnusable) as caught:
        parse(body, signed(body))
    assert caught.value.status == 200
    assert "\n" not in str(caught.value)


# --- mapping -----------------------------------------------------------------------------


def test_payment_intent_succeeded_is_paid_with_our_references() -> None:
    body = fixture("payment_intent_succeeded.json")
    (event,) = parse(body, signed(body))
    assert event.provider == "stripe"
    assert event.kind is PaymentEventKind.PAID
    assert event.event_id == "pi_3PaidIntent:paid"
    assert event.payment_id == "pi_3PaidIntent"
    assert event.amount == Money(Decimal("121.00"), "EUR")
    assert event.occurred_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.references["connector_items"] == "12,13"
    assert event.references["betalingskenmerk"] == "1234567890123456"
    assert event.description == "1234567890123456 INV-2024-001"


def test_a_duplicate_delivery_gives_the_same_event_id() -> None:
    body = fixture("payment_intent_succeeded.json")
    first = parse(body, signed(body))
    again = parse(body, signed(body, t=T + 100), now=T + 100)
    assert [e.event_id for e in first] == [e.event_id for e in again]


def test_checkout_completed_and_payment_intent_succeeded_are_one_payment() -> None:
    session = fixture("checkout_session_completed.json")
    intent = fixture("payment_intent_succeeded.json")
    (from_session,) = parse(session, signed(session))
    (from_intent,) = parse(intent, signed(intent))
    assert from_session.event_id == from_intent.event_id == "pi_3PaidIntent:paid"
    assert from_session.payment_id == from_intent.payment_id
    assert from_session.kind is PaymentEventKind.PAID
    assert from_session.payer_name == "Jan de Vries"
    assert from_session.references["payment_link_id"] == "plink_1Link"


def test_an_unpaid_completed_session_is_no_payment_yet() -> None:
    data = json.loads(fixture("checkout_session_completed.json"))
    data["data"]["object"]["payment_status"] = "unpaid"
    body = json.dumps(data).encode()
    assert parse(body, signed(body)) == []


@pytest.mark.parametrize(
    ("name", "event_id", "payment_id", "amount"),
    [
        ("payment_intent_payment_failed.json", "evt_1PiFailed", "pi_3FailedIntent", "50.00"),
        ("checkout_session_expired.json", "evt_1SessionExpired", "cs_test_expired", "50.00"),
    ],
)
def test_failures_and_expiries(name: str, event_id: str, payment_id: str, amount: str) -> None:
    body = fixture(name)
    (event,) = parse(body, signed(body))
    assert event.kind is PaymentEventKind.FAILED
    assert (event.event_id, event.payment_id) == (event_id, payment_id)
    assert event.amount == Money(Decimal(amount), "EUR")


def test_a_refund_moves_only_what_was_refunded_since_the_last_state() -> None:
    body = fixture("charge_refunded.json")
    (event,) = parse(body, signed(body))
    assert event.kind is PaymentEventKind.REFUNDED
    assert event.amount == Money(Decimal("100.00"), "EUR")  # 12100 - 2100 cents
    assert event.event_id == "ch_3Charge:refunded=12100"
    assert event.payment_id == "pi_3PaidIntent"


def test_a_second_partial_refund_is_a_new_event() -> None:
    data = json.loads(fixture("charge_refunded.json"))
    data["data"]["object"]["amount_refunded"] = 2100
    data["data"]["previous_attributes"] = {"amount_refunded": 0}
    first_body = json.dumps(data).encode()
    (first,) = parse(first_body, signed(first_body))
    second_body = fixture("charge_refunded.json")
    (second,) = parse(second_body, signed(second_body))
    assert first.event_id != second.event_id
    assert first.amount.amount + second.amount.amount == Decimal("121.00")


@pytest.mark.parametrize(
    ("name", "kind", "event_id"),
    [
        ("charge_dispute_created.json", PaymentEventKind.DISPUTE_OPENED, "dp_1Dispute:opened"),
        (
            "charge_dispute_funds_withdrawn.json",
            PaymentEventKind.CHARGED_BACK,
            "dp_1Dispute:charged_back",
        ),
        (
            "charge_dispute_closed_lost.json",
            PaymentEventKind.CHARGED_BACK,
            "dp_1Dispute:charged_back",
        ),
        (
            "charge_dispute_funds_reinstated.json",
            PaymentEventKind.CHARGEBACK_REVERSED,
            "dp_1Dispute:reversed",
        ),
        (
            "charge_dispute_closed_won.json",
            PaymentEventKind.CHARGEBACK_REVERSED,
            "dp_1Dispute:reversed",
        ),
    ],
)
def test_disputes(name: str, kind: PaymentEventKind, event_id: str) -> None:
    body = fixture(name)
    (event,) = parse(body, signed(body))
    assert (event.kind, event.event_id) == (kind, event_id)
    assert event.payment_id == "pi_3PaidIntent"  # the payment it undoes
    assert event.amount == Money(Decimal("121.00"), "EUR")
    assert event.references["dispute_id"] == "dp_1Dispute"


def test_a_closed_inquiry_is_nothing() -> None:
    body = fixture("charge_dispute_closed_warning_closed.json")
    assert parse(body, signed(body)) == []


@pytest.mark.parametrize("kind", ["invoice.paid", "customer.created", "charge.succeeded", "x"])
def test_other_event_types_are_acknowledged_without_events(kind: str) -> None:
    body = json.dumps({"id": "evt_x", "type": kind, "created": T, "data": {"object": {}}}).encode()
    assert parse(body, signed(body)) == []


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (12100, "eur", Money(Decimal("121.00"), "EUR")),
        (1, "eur", Money(Decimal("0.01"), "EUR")),
        (500, "jpy", Money(Decimal("500"), "JPY")),
        (1234, "kwd", Money(Decimal("1.234"), "KWD")),
        (0, "usd", Money(Decimal("0.00"), "USD")),
    ],
)
def test_minor_units_by_the_currency_exponent(minor: int, currency: str, expected: Money) -> None:
    money = minor_to_money(minor, currency)
    assert money == expected
    assert str(money.amount) == str(expected.amount)  # exact, never through float


def test_reply_is_a_plain_200() -> None:
    reply = StripeProvider().reply([])
    assert (reply.status, reply.body) == (200, "")


# --- fuzz --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
stripe_like_events = st.fixed_dictionaries(
    {
        "id": st.text(max_size=6) | st.integers(),
        "type": st.sampled_from(
            [
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
                "checkout.session.completed",
                "checkout.session.expired",
                "charge.refunded",
                "charge.dispute.created",
                "charge.dispute.closed",
            ]
        ),
        "created": st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=3),
        "data": st.fixed_dictionaries(
            {
                "object": st.dictionaries(
                    st.sampled_from(
                        [
                            "id",
                            "amount",
                            "amount_received",
                            "amount_total",
                            "amount_refunded",
                            "currency",
                            "payment_intent",
                            "payment_status",
                            "status",
                            "metadata",
                            "charge",
                        ]
                    ),
                    json_values | st.sampled_from(["eur", "jpy", "paid", "won", "lost"]),
                )
            }
        )
        | json_values,
    }
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300),
    header=st.text(max_size=120),
    secrets=st.lists(st.text(max_size=20), max_size=3),
    now=st.floats(allow_nan=True, allow_infinity=True) | st.integers(0, 2**40),
)
def test_fuzz_arbitrary_input_only_ever_raises_webhook_rejected(
    body: bytes, header: str, secrets: list[str], now: float
) -> None:
    try:
        StripeProvider().parse_webhook(body, {"Stripe-Signature": header}, secrets, now)
    except EventUnusable:
        pass  # only after a valid signature
    except WebhookRejected as exc:
        assert exc.status in (400, 401)


@settings(max_examples=300, deadline=None)
@given(event=stripe_like_events)
def test_fuzz_signed_event_shapes_only_ever_raise_webhook_rejected(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    try:
        events = parse(body, signed(body))
    except EventUnusable as exc:
        assert str(exc)
    else:
        assert all(e.occurred_at.tzinfo is not None for e in events)
