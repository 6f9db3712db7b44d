"""Mollie webhooks: classic (fetch the payment) and next-gen (signed), per the research."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from responses import matchers

from adapters.mollie import create_provider
from adapters.mollie.client import MollieClient
from adapters.mollie.provider import MollieProvider
from adapters.mollie.provider import sign
from connector.domain import Money
from connector.errors import ConfigError
from connector.errors import EventUnusable
from connector.errors import RetriableLedgerError
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind

FIXTURES = Path(__file__).parent / "fixtures"
API = "https://api.mollie.test"
KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC).timestamp()
PAYMENT = f"{API}/v2/payments/tr_WDqYK6vllg"

# research law-and-psp.md §T.3 MOLLIE-NG-01
NG_SECRET = "mollie_test_signing_secret"
NG_BODY = (FIXTURES / "event_payment_link_paid.raw").read_bytes()
NG_SIGNATURE = "f9c2974dece0ea53b7eb519d02412e29828a243b1b13bc8220822578a30f2701"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def provider() -> MollieProvider:
    return MollieProvider(lambda key: MollieClient(key, api_url=API, wait_initial=0))


def classic(
    payment_id: str = "tr_WDqYK6vllg", secrets: Sequence[str] = (KEY,)
) -> list[PaymentEvent]:
    body = f"id={payment_id}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return list(provider().parse_webhook(body, headers, list(secrets), NOW))


def ng_headers(body: bytes, secret: str = NG_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Mollie-Signature": f"sha256={mac}", "Content-Type": "application/json"}


def next_gen(body: bytes, headers: dict[str, str], secrets: Sequence[str] = (NG_SECRET,)):
    return list(provider().parse_webhook(body, headers, list(secrets), NOW))


def stub_payment(name: str, url: str = PAYMENT) -> None:
    responses.get(
        url,
        json=fixture(name),
        match=[
            matchers.query_param_matcher({"embed": "refunds,chargebacks"}),
            matchers.header_matcher({"Authorization": f"Bearer {KEY}"}),
        ],
    )


# --- T.3 vectors ------------------------------------------------------------------------


def test_mollie_ng_01_the_adapter_computes_the_published_signature() -> None:
    assert sign(NG_BODY, NG_SECRET) == NG_SIGNATURE


@pytest.mark.parametrize(
    "header",
    [
        f"sha256={NG_SIGNATURE}",  # MOLLIE-NG-01
        f"sha256={'0' * 64}, sha256={NG_SIGNATURE}",  # two headers during a rotation
        NG_SIGNATURE,  # the bare digest (Mollie's own sample compares that)
    ],
)
def test_mollie_ng_01_valid(header: str) -> None:
    # payment-link.paid without an API key among the secrets: verified, nothing to book
    assert next_gen(NG_BODY, {"X-Mollie-Signature": header}) == []


def test_mollie_ng_01_a_naive_comparison_with_the_prefix_would_fail() -> None:
    assert f"sha256={NG_SIGNATURE}" != sign(NG_BODY, NG_SECRET)
    assert next_gen(NG_BODY, {"x-mollie-signature": f"SHA256={NG_SIGNATURE}"}) == []


@responses.activate
def test_mollie_cl_01_an_unknown_payment_is_acknowledged_without_events() -> None:
    responses.get(f"{API}/v2/payments/tr_unknown123", status=404, json={"status": 404})
    assert classic("tr_unknown123") == []


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_mollie_cl_01_mollie_failing_makes_the_edge_answer_5xx(status: int) -> None:
    responses.get(PAYMENT, status=status)
    with pytest.raises(RetriableLedgerError):
        classic()
    assert len(responses.calls) == 2  # retried once within Mollie's 15 seconds


@responses.activate
def test_mollie_cl_01_mollie_unreachable_is_retriable() -> None:
    responses.get(PAYMENT, body=requests.ConnectionError("no route"))
    with pytest.raises(RetriableLedgerError) as caught:
        classic()
    assert KEY not in str(caught.value)


@responses.activate
def test_a_refused_api_key_is_retriable_so_mollie_calls_again_after_the_fix() -> None:
    responses.get(PAYMENT, status=401, json={"status": 401, "detail": "Invalid API key"})
    with pytest.raises(RetriableLedgerError) as caught:
        classic()
    assert KEY not in str(caught.value)


@responses.activate
def test_garbage_from_the_api_is_retriable_not_a_crash() -> None:
    responses.get(PAYMENT, json={"id": "tr_WDqYK6vllg", "amount": "lots"})
    with pytest.raises(RetriableLedgerError):
        classic()


def test_no_api_key_configured_is_retriable() -> None:
    with pytest.raises(RetriableLedgerError):
        classic(secrets=())


# --- classic happy paths and state ids ----------------------------------------------------


@responses.activate
def test_a_paid_payment() -> None:
    stub_payment("payment_paid.json")
    (event,) = classic()
    assert event.provider == "mollie"
    assert event.kind is PaymentEventKind.PAID
    assert event.event_id == "tr_WDqYK6vllg:paid"
    assert event.payment_id == "tr_WDqYK6vllg"
    assert event.amount == Money(Decimal("121.00"), "EUR")
    assert str(event.amount.amount) == "121.00"
    assert event.occurred_at == datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
    assert event.references["connector_items"] == "12,13"
    assert event.references["payment_link_id"] == "pl_4Y0eZitmBnQ6IDoMqZQKh"
    assert event.description.startswith("1234567890123456")
    assert (event.payer_name, event.payer_iban) == ("J. de Vries", "NL91ABNA0417164300")


@responses.activate
def test_a_redelivery_of_the_same_state_gives_the_same_ids_and_a_refund_a_new_one() -> None:
    stub_payment("payment_paid.json")
    stub_payment("payment_paid.json")
    stub_payment("payment_refunded.json")
    first, again, refunded = classic(), classic(), classic()
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert [e.event_id for e in refunded] == [
        "tr_WDqYK6vllg:paid",
        "tr_WDqYK6vllg:refund:re_4qqhO89gsT",
    ]
    refund = refunded[1]
    assert refund.kind is PaymentEventKind.REFUNDED
    assert refund.amount == Money(Decimal("10.00"), "EUR")  # the refund's own amount
    assert refund.payment_id == "tr_WDqYK6vllg"


@responses.activate
def test_a_pending_refund_is_not_booked_yet() -> None:
    stub_payment("payment_refunded.json")
    ids = [e.event_id for e in classic()]
    assert "tr_WDqYK6vllg:refund:re_pending1" not in ids


@responses.activate
def test_refunds_are_listed_when_mollie_did_not_embed_them() -> None:
    responses.get(PAYMENT, json=fixture("payment_refunded_not_embedded.json"))
    responses.get(f"{PAYMENT}/refunds", json=fixture("refund_list.json"))
    kinds = [e.kind for e in classic()]
    assert kinds == [PaymentEventKind.PAID, PaymentEventKind.REFUNDED]


@responses.activate
def test_a_chargeback_and_its_reversal() -> None:
    stub_payment("payment_charged_back.json")
    stub_payment("payment_chargeback_reversed.json")
    charged = classic()
    reversed_ = classic()
    assert [(e.kind, e.event_id) for e in charged[1:]] == [
        (PaymentEventKind.CHARGED_BACK, "tr_WDqYK6vllg:chargeback:chb_n9z0tp")
    ]
    assert [(e.kind, e.event_id) for e in reversed_[1:]] == [
        (PaymentEventKind.CHARGED_BACK, "tr_WDqYK6vllg:chargeback:chb_n9z0tp"),
        (PaymentEventKind.CHARGEBACK_REVERSED, "tr_WDqYK6vllg:chargeback:chb_n9z0tp:reversed"),
    ]
    assert reversed_[2].amount == Money(Decimal("121.00"), "EUR")
    assert reversed_[2].occurred_at == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)


@responses.activate
def test_an_expired_payment_is_failed() -> None:
    stub_payment("payment_expired.json")
    (event,) = classic()
    assert (event.kind, event.event_id) == (PaymentEventKind.FAILED, "tr_WDqYK6vllg:expired")


@responses.activate
def test_an_open_payment_gives_nothing_yet() -> None:
    data = fixture("payment_expired.json")
    data["status"] = "open"
    responses.get(PAYMENT, json=data)
    assert classic() == []


@responses.activate
def test_a_payment_link_webhook_books_the_links_payments() -> None:
    responses.get(
        f"{API}/v2/payment-links/pl_4Y0eZitmBnQ6IDoMqZQKh/payments",
        json=fixture("link_payments.json"),
    )
    stub_payment("payment_paid.json")
    (event,) = classic("pl_4Y0eZitmBnQ6IDoMqZQKh")
    assert event.event_id == "tr_WDqYK6vllg:paid"  # the same fact as the payment's webhook
    assert event.references["payment_link_id"] == "pl_4Y0eZitmBnQ6IDoMqZQKh"


def test_other_resources_are_acknowledged_without_fetching() -> None:
    assert classic("ord_pbjz8x") == []  # no responses stub: a fetch would fail


@pytest.mark.parametrize(
    "body",
    [b"", b"id=", b"id=../../v2/methods", b"foo=bar", b"id=tr_1&id=tr_2", b"\xff\xfe", b"id" * 600],
)
def test_a_malformed_classic_body_is_a_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        provider().parse_webhook(body, {}, [KEY], NOW)
    assert caught.value.status == 400


# --- next-gen -----------------------------------------------------------------------------


def ng_fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_next_gen_payment_paid_with_a_full_payload_needs_no_fetch() -> None:
    body = ng_fixture("event_payment_paid_full.json")
    (event,) = next_gen(body, ng_headers(body))
    assert (event.kind, event.event_id) == (PaymentEventKind.PAID, "tr_WDqYK6vllg:paid")
    assert event.amount == Money(Decimal("121.00"), "EUR")


@responses.activate
def test_next_gen_without_an_entity_fetches_the_payment() -> None:
    stub_payment("payment_paid.json")
    body = ng_fixture("event_payment_paid_simple.json")
    (event,) = next_gen(body, ng_headers(body), secrets=(NG_SECRET, KEY))
    assert event.event_id == "tr_WDqYK6vllg:paid"


def test_next_gen_without_an_entity_and_without_api_key_is_refused_loudly() -> None:
    body = ng_fixture("event_payment_paid_simple.json")
    with pytest.raises(WebhookRejected) as caught:
        next_gen(body, ng_headers(body))
    assert caught.value.status == 400
    assert "full payload" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "kind", "event_id"),
    [
        (
            "event_refund_refunded.json",
            PaymentEventKind.REFUNDED,
            "tr_WDqYK6vllg:refund:re_4qqhO89gsT",
        ),
        (
            "event_chargeback_received.json",
            PaymentEventKind.CHARGED_BACK,
            "tr_WDqYK6vllg:chargeback:chb_n9z0tp",
        ),
        (
            "event_chargeback_reversed.json",
            PaymentEventKind.CHARGEBACK_REVERSED,
            "tr_WDqYK6vllg:chargeback:chb_n9z0tp:reversed",
        ),
    ],
)
def test_next_gen_refunds_and_chargebacks_use_the_classic_ids(
    name: str, kind: PaymentEventKind, event_id: str
) -> None:
    body = ng_fixture(name)
    (event,) = next_gen(body, ng_headers(body))
    assert (event.kind, event.event_id, event.payment_id) == (kind, event_id, "tr_WDqYK6vllg")


@responses.activate
def test_next_gen_payment_link_paid_is_resolved_through_the_api_when_a_key_is_there() -> None:
    responses.get(
        f"{API}/v2/payment-links/pl_qng5gbbv8NAZ5gpM5ZYgx/payments",
        json=fixture("link_payments.json"),
    )
    stub_payment("payment_paid.json")
    (event,) = next_gen(NG_BODY, {"X-Mollie-Signature": f"sha256={NG_SIGNATURE}"}, (NG_SECRET, KEY))
    assert event.event_id == "tr_WDqYK6vllg:paid"
    assert event.references["payment_link_id"] == "pl_qng5gbbv8NAZ5gpM5ZYgx"


def test_next_gen_rotation_old_and_new_secret_are_both_accepted() -> None:
    body = ng_fixture("event_payment_paid_full.json")
    for secret in ("old_signing_secret", "new_signing_secret"):
        events = next_gen(
            body, ng_headers(body, secret), ("old_signing_secret", "new_signing_secret")
        )
        assert [e.event_id for e in events] == ["tr_WDqYK6vllg:paid"]


@pytest.mark.parametrize(
    ("body", "headers", "secrets"),
    [
        (NG_BODY, {"X-Mollie-Signature": f"sha256={NG_SIGNATURE}"}, ("wrong",)),
        (NG_BODY, {"X-Mollie-Signature": f"sha256={NG_SIGNATURE}"}, ()),
        (NG_BODY[:-5], {"X-Mollie-Signature": f"sha256={NG_SIGNATURE}"}, (NG_SECRET,)),
        (NG_BODY, {"X-Mollie-Signature": ""}, (NG_SECRET,)),
        (NG_BODY, {"X-Mollie-Signature": "sha256="}, (NG_SECRET,)),
        (NG_BODY, {"X-Mollie-Signature": "sha256=é"}, (NG_SECRET,)),
        (NG_BODY, {}, (NG_SECRET,)),  # a JSON event without a signature
    ],
)
def test_next_gen_bad_signatures_are_401(
    body: bytes, headers: dict[str, str], secrets: tuple[str, ...]
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        next_gen(body, headers, secrets)
    assert caught.value.status == 401
    assert NG_SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"resource": "event"}',
        b'{"id": "event_1", "type": "payment.paid", "entityId": "tr_1",'
        b' "_embedded": {"entity": {"id": "tr_1", "amount": {"value": 12.5, "currency": "EUR"}}}}',
        b'{"id": "event_1", "type": "refund.refunded", "entityId": "re_1",'
        b' "_embedded": {"entity": {"id": "re_1", "status": "refunded"}}}',
    ],
)
def test_next_gen_signed_garbage_is_kept_as_unusable(body: bytes) -> None:
    # signed by Mollie: a retry cannot make it usable; the edge keeps it as rejected
    with pytest.raises(EventUnusable) as caught:
        next_gen(body, ng_headers(body))
    assert caught.value.status == 200


@pytest.mark.parametrize("value", ["1000000000000.00", "121.000001", "-1.00"])
def test_a_signed_amount_out_of_range_or_scale_is_unusable(value: str) -> None:
    # issue 16.9: such an amount used to reach the store and fail there (503 for days)
    data = json.loads(ng_fixture("event_payment_paid_full.json"))
    data["_embedded"]["entity"]["amount"]["value"] = value
    body = json.dumps(data).encode()
    with pytest.raises(EventUnusable, match="amount"):
        next_gen(body, ng_headers(body))


@responses.activate
def test_an_amount_mollie_reports_that_cannot_be_booked_is_unusable_on_classic_too() -> None:
    payment = fixture("payment_paid.json")
    payment["amount"]["value"] = "121.000001"
    responses.get(PAYMENT, json=payment)
    with pytest.raises(EventUnusable, match="decimals"):
        classic()


# --- signing secrets and API keys are kept apart (issue 16.11) -----------------------------


def test_a_body_signed_with_the_api_key_is_refused() -> None:
    body = ng_fixture("event_payment_paid_full.json")
    for secrets in ((KEY,), (KEY, NG_SECRET)):
        with pytest.raises(WebhookRejected) as caught:
            next_gen(body, ng_headers(body, secret=KEY), secrets)
        assert caught.value.status == 401
        assert KEY not in str(caught.value)


@responses.activate
def test_a_signing_secret_is_never_sent_to_mollie_as_an_api_key() -> None:
    responses.get(PAYMENT, json=fixture("payment_paid.json"))
    with pytest.raises(RetriableLedgerError, match="API key"):
        classic(secrets=(NG_SECRET,))
    assert len(responses.calls) == 0


def test_reply_is_a_plain_200() -> None:
    assert provider().reply([]).status == 200


def test_config() -> None:
    assert isinstance(create_provider({}), MollieProvider)
    with pytest.raises(ConfigError):
        create_provider({"api_url": "mollie.com"})
    with pytest.raises(ConfigError):
        create_provider({"timeout": 0})
    for bad in (
        {"chargeback_poll_days": -1},
        {"chargeback_poll_minutes": 0},
        {"chargeback_poll_days": "7"},
    ):
        with pytest.raises(ConfigError):
            create_provider(bad)


# --- fuzz --------------------------------------------------------------------------------


class _Offline(MollieClient):
    def __init__(self) -> None:
        super().__init__("test_offline", api_url="http://offline.invalid")

    def get_payment(self, payment_id: str) -> dict[str, Any] | None:
        return None

    def list_link_payments(self, link_id: str) -> list[dict[str, Any]] | None:
        return None


def offline() -> MollieProvider:
    return MollieProvider(lambda key: _Offline())


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200)
    | st.from_regex(rb"id=[a-z]{2,4}_[A-Za-z0-9]{0,12}", fullmatch=True),
    headers=st.dictionaries(
        st.sampled_from(["X-Mollie-Signature", "Content-Type", "x-mollie-signature", "Other"]),
        st.text(max_size=80),
        max_size=3,
    ),
    secrets=st.lists(st.text(max_size=20), max_size=3),
)
def test_fuzz_arbitrary_input_only_ever_raises_webhook_rejected(
    body: bytes, headers: dict[str, str], secrets: list[str]
) -> None:
    try:
        offline().parse_webhook(body, headers, secrets, NOW)
    except EventUnusable:
        assert "X-Mollie-Signature" in headers or "x-mollie-signature" in headers
    except WebhookRejected as exc:
        assert exc.status in (400, 401)
    except RetriableLedgerError:  # only: no API key to fetch with
        assert not any(s.startswith(("live_", "test_", "access_")) for s in secrets)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
entities = st.dictionaries(
    st.sampled_from(
        ["id", "paymentId", "amount", "status", "paidAt", "reversedAt", "createdAt", "metadata"]
    ),
    json_values
    | st.sampled_from(["tr_1", "re_1", "chb_1", "paid", "refunded", "2024-01-01T00:00:00Z"])
    | st.fixed_dictionaries({"currency": st.sampled_from(["EUR", "eur", "X"]), "value": st.text()}),
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.fixed_dictionaries(
        {
            "id": json_values | st.just("event_1"),
            "type": st.sampled_from(
                [
                    "payment.paid",
                    "payment.failed",
                    "refund.refunded",
                    "chargeback.received",
                    "chargeback.reversed",
                    "payment-link.paid",
                    "other",
                ]
            ),
            "entityId": st.sampled_from(["tr_1", "re_1", "chb_1", "pl_1", ""]) | json_values,
            "_embedded": st.fixed_dictionaries({"entity": entities}) | json_values,
        }
    )
)
def test_fuzz_signed_event_shapes_only_ever_raise_webhook_rejected(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    try:
        events = offline().parse_webhook(body, ng_headers(body), [NG_SECRET], NOW)
    except EventUnusable as exc:
        assert str(exc)
    except WebhookRejected as exc:
        assert exc.status == 400  # only: no entity and no API key to fetch with
    else:
        assert all(e.occurred_at.tzinfo is not None for e in events)
