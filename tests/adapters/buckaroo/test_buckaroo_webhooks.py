"""Buckaroo pushes: the JSON push's hmac header and the form push's brq_signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.buckaroo import REQUEST_URL_HEADER
from adapters.buckaroo import create_provider
from adapters.buckaroo.provider import BuckarooProvider
from adapters.buckaroo.provider import form_signature
from adapters.buckaroo.provider import json_signature
from adapters.buckaroo.provider import php_urlencode
from adapters.buckaroo.provider import signing_uri
from connector.domain import Money
from connector.errors import ConfigError
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEventKind

FIXTURES = Path(__file__).parent / "fixtures"

# research law-and-psp.md §T.3 BUCKAROO-JSON-01
WEBSITE_KEY, SECRET = "ABCDEF1234", "SECRETKEY123"
URL = "https://example.com/webhooks/buckaroo"
NONCE, T = "nonce123", 1700000000
JSON_BODY = (FIXTURES / "json_push_paid.raw").read_bytes()
JSON_SIGNATURE = "Cw/m+OLF0yHj6EN2nMk83oAXEWrEFmKrtyRil/NL3aU="
JSON_AUTH = f"hmac {WEBSITE_KEY}:{JSON_SIGNATURE}:{NONCE}:{T}"

# BUCKAROO-POST-01
FORM_FIELDS = [
    ("brq_amount", "121.00"),
    ("brq_currency", "EUR"),
    ("brq_invoicenumber", "INV-2024-001"),
    ("brq_statuscode", "190"),
    ("brq_test", "true"),
    ("brq_transactions", "4E8BD922192746C3918BF4077CXXXXXX"),
    ("ADD_invoice", "INV-2024-001"),
    ("other_field", "ignored"),
]
FORM_SIGNATURE = "1688d10af9ccf5e6cb7cbea0ec52e4cf64d39feb"


def json_headers(auth: str = JSON_AUTH, url: str = URL) -> dict[str, str]:
    return {"Authorization": auth, REQUEST_URL_HEADER: url, "Content-Type": "application/json"}


def signed_json(
    body: bytes, secret: str = SECRET, t: int = T, nonce: str = NONCE
) -> dict[str, str]:
    """An independent signer for the JSON push (not the adapter's)."""
    content = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
    uri = "example.com%2fwebhooks%2fbuckaroo"
    data = f"{WEBSITE_KEY}POST{uri}{t}{nonce}{content}"
    mac = base64.b64encode(hmac.new(secret.encode(), data.encode(), hashlib.sha256).digest())
    return json_headers(f"hmac {WEBSITE_KEY}:{mac.decode()}:{nonce}:{t}")


def form_body(fields: list[tuple[str, str]], secret: str = SECRET) -> bytes:
    """An independent signer for the form push, then url-encoded as Buckaroo posts it."""
    signed = sorted(
        (f for f in fields if f[0].lower().split("_")[0] in ("brq", "add", "cust")),
        key=lambda f: f[0].lower(),
    )
    data = "".join(f"{k}={v}" for k, v in signed) + secret
    signature = hashlib.sha1(data.encode()).hexdigest()  # noqa: S324
    return urlencode([*fields, ("brq_signature", signature)]).encode()


def parse(body: bytes, headers: dict[str, str] | None = None, secrets=None, now: float = T):
    return list(
        BuckarooProvider().parse_webhook(
            body, headers or {}, [SECRET] if secrets is None else secrets, now
        )
    )


# --- T.3 vectors ------------------------------------------------------------------------


def test_buckaroo_json_01_signing_uri_and_signature() -> None:
    assert signing_uri(URL) == "example.com%2fwebhooks%2fbuckaroo"
    assert base64.b64encode(hashlib.md5(JSON_BODY).digest()) == b"MtSKf1CBt7uNVMtXPHilkA=="  # noqa: S324
    assert json_signature(JSON_BODY, SECRET, WEBSITE_KEY, URL, NONCE, str(T)) == JSON_SIGNATURE


def test_buckaroo_json_01_valid_paid_invoice_amount() -> None:
    (event,) = parse(JSON_BODY, json_headers())
    assert event.kind is PaymentEventKind.PAID
    assert event.references["invoice_number"] == "INV-2024-001"
    assert event.amount == Money(Decimal("121.00"), "EUR")
    assert str(event.amount.amount) == "121.00"  # parsed as Decimal, never a float
    assert event.event_id == "4E8BD922192746C3918BF4077CXXXXXX:190"
    assert event.payment_id == "4E8BD922192746C3918BF4077CXXXXXX"
    assert event.description == "INV-2024-001"


def test_buckaroo_post_01_signature() -> None:
    assert form_signature(FORM_FIELDS, SECRET) == FORM_SIGNATURE


def test_buckaroo_post_01_valid_paid() -> None:
    body = urlencode([*FORM_FIELDS, ("brq_signature", FORM_SIGNATURE)]).encode()
    (event,) = parse(body)
    assert (event.kind, event.amount) == (PaymentEventKind.PAID, Money(Decimal("121.00"), "EUR"))
    assert event.references["invoice_number"] == "INV-2024-001"
    assert event.references["invoice"] == "INV-2024-001"  # the ADD_ parameter


# --- JSON push: replay, secrets, URL -------------------------------------------------------


@pytest.mark.parametrize("now", [T - 301, T + 301])
def test_a_json_push_outside_the_tolerance_is_refused(now: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(JSON_BODY, json_headers(), now=now)
    assert caught.value.status == 401


def test_the_tolerance_can_be_switched_off_or_changed() -> None:
    assert create_provider({"timestamp_tolerance": 0}).parse_webhook(
        JSON_BODY, json_headers(), [SECRET], T + 86400
    )
    strict = create_provider({"timestamp_tolerance": 10})
    with pytest.raises(WebhookRejected):
        strict.parse_webhook(JSON_BODY, json_headers(), [SECRET], T + 11)


def test_rotation_old_and_new_secret_are_both_accepted() -> None:
    secrets = ["OLDSECRET", "NEWSECRET"]
    for secret in secrets:
        assert parse(JSON_BODY, signed_json(JSON_BODY, secret), secrets)
        assert parse(form_body(FORM_FIELDS, secret), {}, secrets)


@pytest.mark.parametrize(
    ("headers", "secrets"),
    [
        (json_headers(), ["WRONG"]),
        (json_headers(), []),
        ({REQUEST_URL_HEADER: URL}, [SECRET]),  # no Authorization
        (json_headers(auth=f"Bearer {JSON_SIGNATURE}"), [SECRET]),
        (json_headers(auth=f"hmac {WEBSITE_KEY}:{JSON_SIGNATURE}:{NONCE}"), [SECRET]),
        (json_headers(auth=f"hmac {WEBSITE_KEY}:{JSON_SIGNATURE}:{NONCE}:abc"), [SECRET]),
        (json_headers(auth=f"hmac OTHERKEY:{JSON_SIGNATURE}:{NONCE}:{T}"), [SECRET]),
        (json_headers(auth=f"hmac {WEBSITE_KEY}:{JSON_SIGNATURE}:other:{T}"), [SECRET]),
        (json_headers(url="https://example.com/webhooks/other"), [SECRET]),
        ({"Authorization": JSON_AUTH}, [SECRET]),  # the edge passed no URL
        (json_headers(auth=f"hmac {WEBSITE_KEY}:é{JSON_SIGNATURE}:{NONCE}:{T}"), [SECRET]),
    ],
)
def test_bad_json_push_authentication_is_401(headers: dict[str, str], secrets: list[str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(JSON_BODY, headers, secrets)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)


def test_the_url_scheme_does_not_matter_but_its_case_is_folded() -> None:
    assert parse(JSON_BODY, json_headers(url="http://EXAMPLE.com/webhooks/buckaroo"))


def test_a_truncated_json_body_is_refused() -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(JSON_BODY[:-3], json_headers())
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "body",
    [
        b'{"Transaction": {"Key": "K1", "Status": {"Code": {"Code": 190}}}}',  # no currency
        b'{"Transaction": {"Key": "K1", "Currency": "EUR", "Status": {"Code": {"Code": 190}}}}',
        b'{"Transaction": {"Key": "K1", "Currency": "EUR", "AmountDebit": "lots",'
        b' "Status": {"Code": {"Code": 190}}}}',
        b'{"Other": 1}',
        b"{not json",
        b'{"Transaction": []}',
    ],
)
def test_a_signed_but_unusable_json_push_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(body, signed_json(body))
    assert caught.value.status == 400


# --- form push ----------------------------------------------------------------------------


def test_a_wrong_or_missing_brq_signature_is_401() -> None:
    tampered = form_body(FORM_FIELDS).replace(b"121.00", b"1.00")
    for body in (tampered, urlencode(FORM_FIELDS).encode(), b""):
        with pytest.raises(WebhookRejected) as caught:
            parse(body)
        assert caught.value.status == 401


def test_unsigned_fields_do_not_count_and_signed_ones_do() -> None:
    body = form_body(FORM_FIELDS)
    assert parse(body + b"&other_field2=changed")  # not a brq/add/cust field
    with pytest.raises(WebhookRejected):
        parse(body + b"&add_extra=sneaked")


@pytest.mark.parametrize(
    "body",
    [
        b"brq_amount=1&BRQ_AMOUNT=2",  # collide when lower-cased
        b"\xff\xfe",
        b"a=1&&&b",
    ],
)
def test_a_malformed_form_push_is_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(body)
    assert caught.value.status == 400


def test_html_entities_and_url_encoding_in_values() -> None:
    fields = [*FORM_FIELDS[:-2], ("brq_customer_name", "Jansen & Zn")]
    (event,) = parse(form_body(fields))
    assert event.payer_name == "Jansen & Zn"


def test_the_form_push_timestamp_is_dutch_local_time() -> None:
    fields = [*FORM_FIELDS, ("brq_timestamp", "2024-03-01 10:05:00")]
    (event,) = parse(form_body(fields))
    assert event.occurred_at == datetime(2024, 3, 1, 10, 5, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert event.occurred_at == datetime(2024, 3, 1, 9, 5, tzinfo=UTC)


# --- mapping -----------------------------------------------------------------------------


def with_status(code: str, extra: list[tuple[str, str]] | None = None) -> list[Any]:
    fields = [(k, code if k == "brq_statuscode" else v) for k, v in FORM_FIELDS]
    return parse(form_body(fields + (extra or [])))


@pytest.mark.parametrize("code", ["490", "491", "492", "690", "890", "891"])
def test_failure_codes_are_failed(code: str) -> None:
    (event,) = with_status(code)
    assert event.kind is PaymentEventKind.FAILED
    assert event.event_id == f"4E8BD922192746C3918BF4077CXXXXXX:{code}"


@pytest.mark.parametrize("code", ["790", "791", "792", "793", "999"])
def test_pending_and_unknown_codes_give_no_event(code: str) -> None:
    assert with_status(code) == []


def test_a_duplicate_push_gives_the_same_event_id() -> None:
    body = form_body(FORM_FIELDS)
    assert parse(body)[0].event_id == parse(body)[0].event_id
    assert parse(JSON_BODY, json_headers())[0].event_id == parse(body)[0].event_id


def test_a_json_refund_push() -> None:
    body = (FIXTURES / "json_push_refund.json").read_bytes()
    (event,) = parse(body, signed_json(body))
    assert event.kind is PaymentEventKind.REFUNDED
    assert event.amount == Money(Decimal("21.00"), "EUR")
    assert event.payment_id == "4E8BD922192746C3918BF4077CXXXXXX"  # the payment it refunds
    assert event.event_id == "9A1B2C3D4E5F60718293A4B5C6D7E8F9:190"
    assert event.references["connector_items"] == "12,13"
    assert event.references["order"] == "ORD-1"
    assert event.payer_name == "J. de Vries"


def test_a_json_reversal_push_is_a_chargeback() -> None:
    body = (FIXTURES / "json_push_reversal.json").read_bytes()
    (event,) = parse(body, signed_json(body))
    assert event.kind is PaymentEventKind.CHARGED_BACK
    assert event.payment_id == "4E8BD922192746C3918BF4077CXXXXXX"
    assert event.amount == Money(Decimal("121.00"), "EUR")


def test_form_refund_and_reversal_pushes() -> None:
    refund = [
        ("brq_amount_credit", "21.00"),
        ("brq_currency", "EUR"),
        ("brq_invoicenumber", "INV-2024-001"),
        ("brq_statuscode", "190"),
        ("brq_transactions", "REFUNDKEY"),
        ("brq_relatedtransaction_refund", "4E8BD922192746C3918BF4077CXXXXXX"),
    ]
    (event,) = parse(form_body(refund))
    assert (event.kind, event.payment_id) == (
        PaymentEventKind.REFUNDED,
        "4E8BD922192746C3918BF4077CXXXXXX",
    )
    storno = [
        ("brq_amount_credit", "121.00"),
        ("brq_currency", "EUR"),
        ("brq_statuscode", "190"),
        ("brq_transaction_type", "C501"),
        ("brq_transactions", "STORNOKEY"),
    ]
    (event,) = parse(form_body(storno))
    assert event.kind is PaymentEventKind.CHARGED_BACK


def test_a_failed_refund_is_not_a_failed_payment() -> None:
    fields = [
        ("brq_amount_credit", "21.00"),
        ("brq_currency", "EUR"),
        ("brq_statuscode", "490"),
        ("brq_transactions", "REFUNDKEY"),
    ]
    assert parse(form_body(fields)) == []


def test_php_urlencode() -> None:
    assert php_urlencode("a b~c/é") == "a+b%7Ec%2F%C3%A9"


def test_reply_is_a_plain_200() -> None:
    assert BuckarooProvider().reply([]).status == 200


@pytest.mark.parametrize("tolerance", [-1, "300", True])
def test_config_errors(tolerance: object) -> None:
    with pytest.raises(ConfigError):
        create_provider({"timestamp_tolerance": tolerance})


# --- fuzz --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300),
    auth=st.text(max_size=80) | st.just(JSON_AUTH),
    url=st.text(max_size=40) | st.just(URL),
    secrets=st.lists(st.text(max_size=20), max_size=3),
    now=st.floats(allow_nan=True) | st.integers(0, 2**40),
)
def test_fuzz_arbitrary_input_only_ever_raises_webhook_rejected(
    body: bytes, auth: str, url: str, secrets: list[str], now: float
) -> None:
    headers = {"Authorization": auth, REQUEST_URL_HEADER: url}
    try:
        BuckarooProvider().parse_webhook(body, headers, secrets, now)
    except WebhookRejected as exc:
        assert exc.status in (400, 401)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    tx=st.dictionaries(
        st.sampled_from(
            [
                "Key",
                "Currency",
                "AmountDebit",
                "AmountCredit",
                "Status",
                "RelatedTransactions",
                "AdditionalParameters",
                "TransactionType",
                "Invoice",
            ]
        ),
        json_values
        | st.sampled_from(["EUR", "K1", "190", "C501"])
        | st.fixed_dictionaries({"Code": st.fixed_dictionaries({"Code": json_values})}),
    ),
    form=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "brq_amount",
                    "brq_amount_credit",
                    "brq_currency",
                    "brq_statuscode",
                    "brq_transactions",
                    "brq_timestamp",
                    "add_x",
                    "BRQ_AMOUNT",
                ]
            ),
            st.text(max_size=10),
        ),
        max_size=6,
    ),
)
def test_fuzz_signed_push_shapes_only_ever_raise_webhook_rejected(
    tx: dict[str, Any], form: list[tuple[str, str]]
) -> None:
    body = json.dumps({"Transaction": tx}).encode()
    for payload, headers in ((body, signed_json(body)), (form_body(form), {})):
        try:
            events = parse(payload, headers)
        except WebhookRejected as exc:
            assert exc.status in (400, 401)
        else:
            assert all(e.occurred_at.tzinfo is not None for e in events)
