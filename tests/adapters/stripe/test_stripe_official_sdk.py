"""Our Stripe verifier beside the official one (`stripe.Webhook.construct_event`), same cases.

The verdicts must be the same, with one deliberate exception (issue 15.6, README "Stripe"):
a timestamp more than the tolerance in the future is refused by us and accepted by the SDK,
which only refuses old ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from unittest import mock

import pytest
import stripe
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.stripe.provider import StripeProvider
from adapters.stripe.provider import verify
from connector.errors import EventUnusable
from connector.errors import WebhookRejected

SECRET = "whsec_test_secret"
OTHER = "whsec_other_secret"
T = 1700000000
EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": T,
    "data": {
        "object": {
            "id": "pi_1",
            "object": "payment_intent",
            "amount": 12100,
            "amount_received": 12100,
            "currency": "eur",
            "metadata": {"connector_items": "12,13"},
            "description": "Factuur INV-2024-001 café",
        }
    },
}
BODY = json.dumps(EVENT).encode()


def mac(body: bytes, secret: str = SECRET, t: int | str = T) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sdk_accepts(body: bytes, header: str | None, secret: str, now: float) -> bool:
    """The official verifier's verdict, its clock fixed at `now`."""
    with mock.patch("stripe._webhook.time.time", return_value=now):
        try:
            stripe.Webhook.construct_event(body, header, secret, 300, api_key="sk_test_x")
        except Exception:  # noqa: BLE001 - any refusal (it also raises TypeError, ValueError)
            return False
    return True


def we_accept(body: bytes, header: str | None, secret: str, now: float) -> bool:
    try:
        verify(body, header, [secret], now)
    except WebhookRejected:
        return False
    return True


def escaped_body() -> bytes:
    # the same event with ASCII escapes (\u00e9, \/): different bytes, so a different signature
    return json.dumps(EVENT, ensure_ascii=True).replace("/", "\\/").encode()


NOT_UTF8 = b'{"id": "\xff"}'
Case = tuple[bytes, str | None, str, float]
V = mac(BODY)
CASES: dict[str, Callable[[], Case]] = {
    "valid": lambda: (BODY, f"t={T},v1={V}", SECRET, T),
    "valid at the tolerance": lambda: (BODY, f"t={T},v1={V}", SECRET, T + 300),
    "old": lambda: (BODY, f"t={T},v1={V}", SECRET, T + 301),
    "very old": lambda: (BODY, f"t={T},v1={V}", SECRET, T + 86400 * 30),
    "wrong secret": lambda: (BODY, f"t={T},v1={V}", OTHER, T),
    "signed with another secret": lambda: (BODY, f"t={T},v1={mac(BODY, OTHER)}", SECRET, T),
    "tampered amount": lambda: (BODY.replace(b"12100", b"12000"), f"t={T},v1={V}", SECRET, T),
    "tampered reference": lambda: (BODY.replace(b"12,13", b"12,14"), f"t={T},v1={V}", SECRET, T),
    "tampered type": lambda: (
        BODY.replace(b"payment_intent.succeeded", b"payment_intent.canceled"),
        f"t={T},v1={V}",
        SECRET,
        T,
    ),
    "tampered timestamp": lambda: (BODY, f"t={T + 1},v1={V}", SECRET, T),
    "a trailing space in the body": lambda: (BODY + b" ", f"t={T},v1={V}", SECRET, T),
    "several v1, the valid last": lambda: (BODY, f"t={T},v1={'0' * 64},v1={V}", SECRET, T),
    "several v1, the valid first": lambda: (BODY, f"t={T},v1={V},v1={mac(BODY, OTHER)}", SECRET, T),
    "several v1, none valid": lambda: (
        BODY,
        f"t={T},v1={mac(BODY, OTHER)},v1={'0' * 64}",
        SECRET,
        T,
    ),
    "valid v0 only": lambda: (BODY, f"t={T},v0={V}", SECRET, T),
    "v0 and v1": lambda: (BODY, f"t={T},v0=abc,v1={V}", SECRET, T),
    "escaped characters, signed as sent": lambda: (
        escaped_body(),
        f"t={T},v1={mac(escaped_body())}",
        SECRET,
        T,
    ),
    "escaped characters, signature of the unescaped body": lambda: (
        escaped_body(),
        f"t={T},v1={V}",
        SECRET,
        T,
    ),
    "space after the comma": lambda: (BODY, f"t={T}, v1={V}", SECRET, T),
    "space before the value": lambda: (BODY, f"t={T},v1= {V}", SECRET, T),
    "space after the value": lambda: (BODY, f"t={T},v1={V} ", SECRET, T),
    "space before t": lambda: (BODY, f" t={T},v1={V}", SECRET, T),
    "spaces around the timestamp": lambda: (BODY, f"t= {T} ,v1={V}", SECRET, T),
    "a plus sign on t": lambda: (BODY, f"t=+{T},v1={V}", SECRET, T),
    "a bare v1 part": lambda: (BODY, f"t={T},v1={V},v1", SECRET, T),
    "a bare t part": lambda: (BODY, f"t,t={T},v1={V}", SECRET, T),
    "junk after the signature": lambda: (BODY, f"t={T},v1={V}=junk", SECRET, T),
    "upper-case signature": lambda: (BODY, f"t={T},v1={V.upper()}", SECRET, T),
    "non-ASCII in the signature": lambda: (BODY, f"t={T},v1=é{V[1:]}", SECRET, T),
    "no header": lambda: (BODY, None, SECRET, T),
    "empty header": lambda: (BODY, "", SECRET, T),
    "no timestamp": lambda: (BODY, f"v1={V}", SECRET, T),
    "no signature": lambda: (BODY, f"t={T}", SECRET, T),
    "timestamp not a number": lambda: (BODY, f"t=abc,v1={V}", SECRET, T),
    "empty timestamp": lambda: (BODY, f"t=,v1={V}", SECRET, T),
    "body not UTF-8": lambda: (NOT_UTF8, f"t={T},v1={mac(NOT_UTF8)}", SECRET, T),
}
FUTURE: dict[str, Callable[[], Case]] = {
    "future by 301 s": lambda: (BODY, f"t={T},v1={V}", SECRET, T - 301),
    "future by a year": lambda: (BODY, f"t={T},v1={V}", SECRET, T - 86400 * 365),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_verdict_as_stripe_python(name: str) -> None:
    body, header, secret, now = CASES[name]()
    assert we_accept(body, header, secret, now) == sdk_accepts(body, header, secret, now), name


def test_the_cases_cover_both_verdicts() -> None:
    verdicts = {sdk_accepts(*case()) for case in CASES.values()}
    assert verdicts == {True, False}
    assert sdk_accepts(*CASES["valid"]()) and not sdk_accepts(*CASES["space after the comma"]())


@pytest.mark.parametrize("name", sorted(FUTURE))
def test_a_future_timestamp_is_where_we_are_stricter(name: str) -> None:
    body, header, secret, now = FUTURE[name]()
    assert sdk_accepts(body, header, secret, now)
    assert not we_accept(body, header, secret, now)


def test_the_full_provider_agrees_and_maps_what_the_sdk_constructs() -> None:
    body, header, secret, now = CASES["valid"]()
    assert header is not None
    with mock.patch("stripe._webhook.time.time", return_value=now):
        event = stripe.Webhook.construct_event(body, header, secret, api_key="sk_test_x")
    (ours,) = StripeProvider().parse_webhook(body, {"Stripe-Signature": header}, [secret], now)
    assert ours.payment_id == event["data"]["object"]["id"]
    assert str(ours.amount.amount) == "121.00"
    # signed by Stripe but not mappable: the SDK constructs it, we keep it as unusable
    odd = json.dumps({**EVENT, "data": {"object": {"id": "pi_2"}}}).encode()
    odd_header = f"t={T},v1={mac(odd)}"
    assert sdk_accepts(odd, odd_header, secret, T)
    with pytest.raises(EventUnusable):
        StripeProvider().parse_webhook(odd, {"Stripe-Signature": odd_header}, [secret], T)


part = st.one_of(
    st.just(f"t={T}"),
    st.just(f"v1={V}"),
    st.just(f"v1={mac(BODY, OTHER)}"),
    st.just(f"v0={V}"),
    st.sampled_from(["t", "v1", "", " ", "t=", "v1=", "x=1", f"t= {T}", f" v1={V}", f"t={T + 7}"]),
    st.text(alphabet="tv10=, ab", max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(part, max_size=5),
    secret=st.sampled_from([SECRET, OTHER]),
    age=st.integers(min_value=0, max_value=400),
)
def test_random_headers_get_the_sdks_verdict(parts: list[str], secret: str, age: int) -> None:
    header = ",".join(parts)
    now = T + age  # not in the future: there the verdicts must be equal
    assert we_accept(BODY, header, secret, now) == sdk_accepts(BODY, header, secret, now), header
