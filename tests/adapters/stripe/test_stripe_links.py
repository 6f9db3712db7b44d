"""Stripe Payment Links for letters: one Price and one single-use link, idempotent per letter."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
import responses

from adapters.stripe import create_links
from adapters.stripe.client import StripeClient
from adapters.stripe.client import form_encode
from adapters.stripe.links import StripePaymentLinks
from adapters.stripe.links import minor_units
from connector.domain import Debtor
from connector.dunning.model import ChannelKind
from connector.dunning.model import Letter
from connector.dunning.model import LetterItem
from connector.dunning.model import Sender
from connector.dunning.model import StepKind
from connector.errors import ChannelError
from connector.errors import ConfigError
from connector.payments import matching

API = "https://api.stripe.test"
LINK_URL = "https://buy.stripe.com/test_abc"


def letter(total: str = "121.00", currency: str = "EUR", key: str = "1/D123/r1/1") -> Letter:
    return Letter(
        key=key,
        administration_id=1,
        sender=Sender(name="Bakkerij Jansen"),
        debtor=Debtor(code="D123", name="Jan de Vries"),
        step_name="Herinnering",
        step_kind=StepKind.REMINDER,
        template="reminder_1",
        channels=(ChannelKind.EMAIL,),
        language="nl",
        letter_date=date(2024, 3, 1),
        currency=currency,
        items=(
            LetterItem(12, "INV-2024-001", date(2024, 1, 1), date(2024, 1, 31), 30, Decimal("100")),
            LetterItem(13, "INV-2024-002", date(2024, 1, 5), date(2024, 2, 4), 26, Decimal("21")),
        ),
        principal=Decimal(total),
        total=Decimal(total),
        payment_reference="1234567890123456",
    )


def links(**kwargs: object) -> StripePaymentLinks:
    client = StripeClient("sk_test_key", api_url=API, wait_initial=0, **kwargs)  # type: ignore[arg-type]
    return StripePaymentLinks(client)


def stub_ok() -> None:
    responses.post(f"{API}/v1/prices", json={"id": "price_1", "object": "price"})
    responses.post(f"{API}/v1/payment_links", json={"id": "plink_1", "url": LINK_URL})


def form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return dict(parse_qsl(text))


@responses.activate
def test_a_letter_gets_a_price_and_a_single_use_link_carrying_our_references() -> None:
    stub_ok()
    assert links().link_for(letter()) == LINK_URL
    price_call, link_call = responses.calls
    price = form(price_call)
    assert price["currency"] == "eur"
    assert price["unit_amount"] == "12100"
    assert "INV-2024-001" in price["product_data[name]"]
    link = form(link_call)
    assert link["line_items[0][price]"] == "price_1"
    assert link["line_items[0][quantity]"] == "1"
    assert link["restrictions[completed_sessions][limit]"] == "1"
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert link[f"{prefix}[connector_items]"] == "12,13"
        assert link[f"{prefix}[connector_letter]"] == "1/D123/r1/1"
        assert link[f"{prefix}[betalingskenmerk]"] == "1234567890123456"
    description = link["payment_intent_data[description]"]
    assert description.startswith("1234567890123456 ")
    assert "INV-2024-002" in description
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Bearer sk_test_key"
        assert call.request.headers["Idempotency-Key"].startswith("dc-")
    assert (
        price_call.request.headers["Idempotency-Key"]
        != link_call.request.headers["Idempotency-Key"]
    )


def test_the_metadata_keys_are_the_ones_the_matcher_reads() -> None:
    from adapters.stripe import links as stripe_links

    assert stripe_links.ITEMS_KEY == matching.ITEMS_KEY
    assert stripe_links.LETTER_KEY == matching.LETTER_KEY
    assert stripe_links.REFERENCE_KEY == matching.REFERENCE_KEY


@responses.activate
def test_the_same_letter_gets_the_same_link_without_a_second_request() -> None:
    stub_ok()
    maker = links()
    assert maker.link_for(letter()) == maker.link_for(letter()) == LINK_URL
    assert len(responses.calls) == 2


@responses.activate
def test_the_idempotency_keys_are_stable_per_letter_and_change_with_the_total() -> None:
    stub_ok()
    links().link_for(letter())
    links().link_for(letter())  # a new process: no store, same keys
    links().link_for(letter(total="150.00"))
    keys = [c.request.headers["Idempotency-Key"] for c in responses.calls]
    assert keys[0:2] == keys[2:4]
    assert keys[4:6] != keys[0:2]


@responses.activate
def test_a_server_error_is_retried_with_the_same_idempotency_key() -> None:
    responses.post(f"{API}/v1/prices", status=500, json={"error": {"message": "boom"}})
    stub_ok()
    assert links().link_for(letter()) == LINK_URL
    first, second = responses.calls[0], responses.calls[1]
    assert first.request.headers["Idempotency-Key"] == second.request.headers["Idempotency-Key"]


@responses.activate
def test_a_refusal_is_a_channel_error_with_stripes_message_and_no_secret() -> None:
    responses.post(
        f"{API}/v1/prices", status=400, json={"error": {"message": "Invalid currency: xyz"}}
    )
    with pytest.raises(ChannelError) as caught:
        links().link_for(letter())
    assert "Invalid currency" in str(caught.value)
    assert "sk_test_key" not in str(caught.value)
    assert len(responses.calls) == 1  # a 4xx is not retried


@responses.activate
def test_stripe_unreachable_after_retries_is_a_channel_error() -> None:
    responses.post(f"{API}/v1/prices", status=503)
    with pytest.raises(ChannelError):
        links().link_for(letter())
    assert len(responses.calls) == 3


@pytest.mark.parametrize("total", ["0", "-5.00"])
def test_a_letter_with_nothing_to_pay_gets_no_link(total: str) -> None:
    with pytest.raises(ValueError, match="nothing to pay"):
        links().link_for(letter(total=total))


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("121.00", "EUR", 12100), ("0.01", "EUR", 1), ("500", "JPY", 500), ("1.234", "KWD", 1234)],
)
def test_minor_units_are_exact(amount: str, currency: str, minor: int) -> None:
    assert minor_units(Decimal(amount), currency) == minor


def test_form_encoding_uses_stripes_bracket_notation() -> None:
    assert form_encode({"a": {"b": 1}, "l": [{"x": True}], "n": None}) == [
        ("a[b]", "1"),
        ("l[0][x]", "true"),
    ]


def test_config() -> None:
    assert isinstance(create_links({"api_key": "sk_test"}), StripePaymentLinks)
    with pytest.raises(ConfigError):
        create_links({})
    with pytest.raises(ConfigError):
        create_links({"api_key": "sk_test", "api_url": "ftp://x"})
