"""Mollie payment links for letters: one link per letter, references in the description."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal

import pytest
import responses

from adapters.mollie import create_links
from adapters.mollie.client import MollieClient
from adapters.mollie.links import MolliePaymentLinks
from adapters.mollie.links import amount_value
from connector.domain import Debtor
from connector.domain import Money
from connector.dunning.model import ChannelKind
from connector.dunning.model import Letter
from connector.dunning.model import LetterItem
from connector.dunning.model import Sender
from connector.dunning.model import StepKind
from connector.errors import ChannelError
from connector.errors import ConfigError
from connector.payments import matching
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

API = "https://api.mollie.test"
URL = "https://payment-links.mollie.com/payment/4Y0eZitmBnQ6IDoMqZQKh"
CREATED = {
    "resource": "payment-link",
    "id": "pl_4Y0eZitmBnQ6IDoMqZQKh",
    "_links": {"paymentLink": {"href": URL, "type": "text/html"}},
}


def letter(total: str = "121.00", currency: str = "EUR") -> Letter:
    return Letter(
        key="1/D123/r1/1",
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


def links(**kwargs: object) -> MolliePaymentLinks:
    client = MollieClient("test_key", api_url=API, wait_initial=0, attempts=3)
    return MolliePaymentLinks(client, **kwargs)  # type: ignore[arg-type]


@responses.activate
def test_a_letter_gets_a_payment_link_with_the_kenmerk_and_invoices_in_the_description() -> None:
    responses.post(f"{API}/v2/payment-links", json=CREATED, status=201)
    maker = links(webhook_url="https://c.example.nl/webhooks/tok/mollie", expires_days=30)
    assert maker.link_for(letter()) == URL
    (call,) = responses.calls
    body = json.loads(call.request.body or b"{}")
    assert body["amount"] == {"currency": "EUR", "value": "121.00"}
    assert body["description"] == "1234567890123456 INV-2024-001 INV-2024-002"
    assert body["webhookUrl"] == "https://c.example.nl/webhooks/tok/mollie"
    assert body["expiresAt"] == "2024-03-31T23:59:59+00:00"
    assert call.request.headers["Authorization"] == "Bearer test_key"
    assert call.request.headers["Idempotency-Key"].startswith("dc-link-")


def test_the_core_matcher_finds_the_letter_by_the_links_description() -> None:
    # Mollie copies the link's description onto the payment; matching step 2 reads it there
    event = PaymentEvent(
        provider="mollie",
        event_id="tr_1:paid",
        kind=PaymentEventKind.PAID,
        payment_id="tr_1",
        amount=Money(Decimal("121.00")),
        occurred_at=datetime(2024, 3, 2, tzinfo=UTC),
        description="1234567890123456 INV-2024-001 INV-2024-002",
    )
    candidate = matching.Candidate(
        item_id=12,
        administration_id=1,
        invoice_number="INV-2024-001",
        debtor_code="D123",
        debtor_name="Jan",
        debtor_iban="",
        due_date=date(2024, 1, 31),
        open_amount=Decimal("100"),
        currency="EUR",
    )
    found = matching.match_payment(
        event,
        [candidate],
        items_for_reference=lambda ref: [12] if ref == "1234567890123456" else [],
    )
    assert found is not None
    assert found.method == "betalingskenmerk"


@responses.activate
def test_the_same_letter_gets_the_same_link() -> None:
    responses.post(f"{API}/v2/payment-links", json=CREATED, status=201)
    maker = links()
    assert maker.link_for(letter()) == maker.link_for(letter()) == URL
    assert len(responses.calls) == 1


@responses.activate
def test_the_idempotency_key_is_stable_per_letter_and_changes_with_the_total() -> None:
    responses.post(f"{API}/v2/payment-links", json=CREATED, status=201)
    links().link_for(letter())
    links().link_for(letter())
    links().link_for(letter(total="99.99"))
    keys = [c.request.headers["Idempotency-Key"] for c in responses.calls]
    assert keys[0] == keys[1] != keys[2]


@responses.activate
def test_a_server_error_is_retried_with_the_same_idempotency_key() -> None:
    responses.post(f"{API}/v2/payment-links", status=503)
    responses.post(f"{API}/v2/payment-links", json=CREATED, status=201)
    assert links().link_for(letter()) == URL
    keys = {c.request.headers["Idempotency-Key"] for c in responses.calls}
    assert len(responses.calls) == 2 and len(keys) == 1


@responses.activate
def test_a_refusal_is_a_channel_error() -> None:
    responses.post(
        f"{API}/v2/payment-links",
        status=422,
        json={"status": 422, "detail": "The amount is lower than the minimum"},
    )
    with pytest.raises(ChannelError) as caught:
        links().link_for(letter())
    assert "minimum" in str(caught.value)
    assert "test_key" not in str(caught.value)


@responses.activate
def test_an_answer_without_a_link_is_a_channel_error() -> None:
    responses.post(f"{API}/v2/payment-links", json={"resource": "payment-link"}, status=201)
    with pytest.raises(ChannelError):
        links().link_for(letter())


def test_nothing_to_pay_gets_no_link() -> None:
    with pytest.raises(ValueError, match="nothing to pay"):
        links().link_for(letter(total="0.00"))


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [
        ("121", "EUR", "121.00"),
        ("0.005", "EUR", "0.01"),
        ("500", "JPY", "500"),
        ("1E+2", "EUR", "100.00"),
    ],
)
def test_amount_values_have_the_currencys_decimals(amount: str, currency: str, value: str) -> None:
    assert amount_value(Decimal(amount), currency) == value


def test_config() -> None:
    assert isinstance(create_links({"api_key": "test_x"}), MolliePaymentLinks)
    for bad in (
        {},
        {"api_key": "test_x", "api_url": "x"},
        {"api_key": "test_x", "expires_days": 0},
    ):
        with pytest.raises(ConfigError):
            create_links(bad)
