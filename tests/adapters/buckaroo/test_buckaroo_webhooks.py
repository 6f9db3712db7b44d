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
from connector.errors import EventUnusable
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEventKind

FIXTURES = Path(__file__).parent / "fixtures"

# research law-and-psp.md §T.3 BUCKAROO-JSON-01
WEBSITE_KEY, SECRET = "ABCDEF1234", "SECRETKEY123"
URL = "https://example.com/webhooks/buckaroo"
BASE = "https://example.com"  # [providers.buckaroo] public_base_url
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


# BPE 3.0 "Digital Signature" order, as Buckaruby spells it out (symbols, digits, letters)
BPE_CHAR_ORDER = "_0123456789abcdefghijklmnopqrstuvwxyz"


def bpe_key(name: str) -> list[int]:
    return [BPE_CHAR_ORDER.index(c) for c in name.lower()]


def form_body(
    fields: list[tuple[str, str]],
    secret: str = SECRET,
    digest: Any = hashlib.sha1,
    order: str = "php",
) -> bytes:
    """An independent signer for the form push, then url-encoded as Buckaroo posts it.

    `order` "php" is the PHP SDK's strcmp of lower-cased names, "bpe" BPE 3.0's documented
    order; `digest` the hash chosen in the Plaza (SHA-1, SHA-256 or SHA-512).
    """
    chosen = [f for f in fields if f[0].lower().split("_")[0] in ("brq", "add", "cust")]
    if order == "php":
        signed = sorted(chosen, key=lambda f: f[0].lower())
    else:
        signed = sorted(chosen, key=lambda f: bpe_key(f[0]))
    data = "".join(f"{k}={v}" for k, v in signed) + secret
    signature = digest(data.encode()).hexdigest()
    return urlencode([*fields, ("brq_signature", signature)]).encode()


def parse(
    body: bytes,
    headers: dict[str, str] | None = None,
    secrets=None,
    now: float = T,
    base: str = BASE,
):
    return list(
        BuckarooProvider(public_base_url=base).parse_webhook(
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


@pytest.mark.parametrize("later", [301, 3 * 86400, 30 * 86400])
def test_a_retry_or_manual_resend_with_the_first_header_is_accepted(later: int) -> None:
    # issue 15.2: Buckaroo re-attempts 11 times over 3 days (and the Plaza can re-send);
    # nothing says a retry is signed anew, so the first header must still be accepted
    (event,) = parse(JSON_BODY, json_headers(), now=T + later)
    assert event.event_id == parse(JSON_BODY, json_headers())[0].event_id  # stored once


def test_a_window_can_be_switched_on_but_only_one_covering_the_retries() -> None:
    assert create_provider({}).timestamp_tolerance == 0
    wide = create_provider({"timestamp_tolerance": 5 * 86400, "public_base_url": BASE})
    assert wide.parse_webhook(JSON_BODY, json_headers(), [SECRET], T + 4 * 86400)
    with pytest.raises(WebhookRejected) as caught:
        wide.parse_webhook(JSON_BODY, json_headers(), [SECRET], T + 6 * 86400)
    assert caught.value.status == 401
    for short in (10, 300, 3 * 86400):
        with pytest.raises(ConfigError, match="at least"):
            create_provider({"timestamp_tolerance": short})


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
        (json_headers(url="http://[broken/webhooks/buckaroo"), [SECRET]),  # unreadable URL
        (json_headers(auth=f"hmac {WEBSITE_KEY}:é{JSON_SIGNATURE}:{NONCE}:{T}"), [SECRET]),
    ],
)
def test_bad_json_push_authentication_is_401(headers: dict[str, str], secrets: list[str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(JSON_BODY, headers, secrets)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)


def test_the_url_scheme_does_not_matter_but_its_case_is_folded() -> None:
    assert parse(JSON_BODY, json_headers(), base="http://EXAMPLE.com")


def test_the_signed_host_comes_from_public_base_url_not_from_the_request() -> None:
    # issue 16.11: behind a proxy the request reaches us as http://10.0.0.5:8000/...; the
    # host in it is the client's Host header, which a caller can set to anything
    internal = json_headers(url="http://10.0.0.5:8000/webhooks/buckaroo")
    assert parse(JSON_BODY, internal)
    evil = "evil.example%2fwebhooks%2fbuckaroo"
    content = base64.b64encode(hashlib.md5(JSON_BODY).digest()).decode()  # noqa: S324
    data = f"{WEBSITE_KEY}POST{evil}{T}{NONCE}{content}"
    mac = base64.b64encode(hmac.new(SECRET.encode(), data.encode(), hashlib.sha256).digest())
    forged_host = json_headers(
        f"hmac {WEBSITE_KEY}:{mac.decode()}:{NONCE}:{T}",
        url="https://evil.example/webhooks/buckaroo",
    )
    with pytest.raises(WebhookRejected) as caught:
        parse(JSON_BODY, forged_host)
    assert caught.value.status == 401


def test_without_public_base_url_a_json_push_is_refused_with_what_to_set() -> None:
    with pytest.raises(WebhookRejected, match=r"public_base_url") as caught:
        BuckarooProvider().parse_webhook(JSON_BODY, json_headers(), [SECRET], T)
    assert caught.value.status == 401
    # the form push does not sign its URL, so it needs no base
    assert BuckarooProvider().parse_webhook(form_body(FORM_FIELDS), {}, [SECRET], T)


def test_public_base_url_keeps_a_path_prefix_and_the_query() -> None:
    url = "https://example.com/pay/webhooks/buckaroo?x=1"
    content = base64.b64encode(hashlib.md5(JSON_BODY).digest()).decode()  # noqa: S324
    data = f"{WEBSITE_KEY}POST{php_urlencode('example.com/pay/webhooks/buckaroo?x=1').lower()}"
    data += f"{T}{NONCE}{content}"
    mac = base64.b64encode(hmac.new(SECRET.encode(), data.encode(), hashlib.sha256).digest())
    headers = json_headers(
        f"hmac {WEBSITE_KEY}:{mac.decode()}:{NONCE}:{T}",
        url="http://127.0.0.1:8000/webhooks/buckaroo?x=1",
    )
    assert signing_uri(url) in data
    assert parse(JSON_BODY, headers, base="https://example.com/pay/")


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
def test_a_signed_but_unusable_json_push_is_kept_as_unusable(body: bytes) -> None:
    # signed by Buckaroo: a retry can never make it usable (the edge stores it as rejected)
    with pytest.raises(EventUnusable):
        parse(body, signed_json(body))


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1e40", "EUR"), ("1000000000000", "EUR"), ('"121.000001"', "EUR"), ("121.5", "JPY")],
)
def test_a_signed_amount_out_of_range_or_scale_is_unusable(amount: str, currency: str) -> None:
    # issue 16.9: before, 10^40 or six decimals reached the store and got 503 for days
    tx = f'"Key": "K1", "Currency": "{currency}", "AmountDebit": {amount}'
    body = ('{"Transaction": {' + tx + ', "Status": {"Code": {"Code": 190}}}}').encode()
    with pytest.raises(EventUnusable, match="K1") as caught:
        parse(body, signed_json(body))
    assert caught.value.status == 200
    assert "\n" not in str(caught.value)
    fields = [(k, "121.000001" if k == "brq_amount" else v) for k, v in FORM_FIELDS]
    with pytest.raises(EventUnusable, match="decimals"):
        parse(form_body(fields))


def test_trailing_zeros_are_not_extra_decimals() -> None:
    fields = [(k, "121.000" if k == "brq_amount" else v) for k, v in FORM_FIELDS]
    (event,) = parse(form_body(fields))
    assert event.amount == Money(Decimal("121.00"), "EUR")


# --- form push ----------------------------------------------------------------------------


def test_a_wrong_or_missing_brq_signature_is_401() -> None:
    tampered = form_body(FORM_FIELDS).replace(b"121.00", b"1.00")
    for body in (tampered, urlencode(FORM_FIELDS).encode(), b""):
        with pytest.raises(WebhookRejected) as caught:
            parse(body)
        assert caught.value.status == 401


@pytest.mark.parametrize("digest", [hashlib.sha1, hashlib.sha256, hashlib.sha512])
def test_a_form_push_signed_with_sha1_sha256_or_sha512_is_accepted(digest: Any) -> None:
    # issue 15.1: the merchant chooses the hash in the Plaza
    (event,) = parse(form_body(FORM_FIELDS, digest=digest))
    assert event.kind is PaymentEventKind.PAID
    tampered = form_body(FORM_FIELDS, digest=digest).replace(b"121.00", b"1.00")
    with pytest.raises(WebhookRejected) as caught:
        parse(tampered)
    assert caught.value.status == 401


def test_a_digest_of_another_length_is_refused() -> None:
    body = form_body(FORM_FIELDS, digest=hashlib.sha224)
    with pytest.raises(WebhookRejected, match="SHA-1, SHA-256 or SHA-512"):
        parse(body)


# names where the orders differ: strcmp puts "add_item1" first ("1" < "_"), BPE "add_item_1"
ORDER_FIELDS = [*FORM_FIELDS, ("add_item_1", "A"), ("add_item1", "B"), ("cust_a0", "C")]


@pytest.mark.parametrize("order", ["php", "bpe"])
def test_a_signature_in_either_sort_order_is_accepted(order: str) -> None:
    # issue 15.3: BPE 3.0's documented order and the PHP SDK's byte order
    assert sorted(["add_item1", "add_item_1"], key=bpe_key) == ["add_item_1", "add_item1"]
    assert sorted(["add_item1", "add_item_1"]) == ["add_item1", "add_item_1"]
    (event,) = parse(form_body(ORDER_FIELDS, order=order, digest=hashlib.sha256))
    assert event.references["item_1"] == "A"
    assert event.references["item1"] == "B"


def test_the_bpe_order_matches_the_documented_example() -> None:
    names = ["aCa", "a0", "aba", "a_a", "aab", "a1a", "aaA", "a0a"]
    assert sorted(names, key=bpe_key) == ["a_a", "a0", "a0a", "a1a", "aaA", "aab", "aba", "aCa"]


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


@pytest.mark.parametrize(
    "config",
    [
        {"timestamp_tolerance": -1},
        {"timestamp_tolerance": "300"},
        {"timestamp_tolerance": True},
        {"public_base_url": "example.com"},
        {"public_base_url": "ftp://example.com"},
        {"public_base_url": "https://example.com/?a=1"},
        {"public_base_url": 42},
    ],
)
def test_config_errors(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        create_provider(config)


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
        BuckarooProvider(public_base_url=BASE).parse_webhook(body, headers, secrets, now)
    except EventUnusable:
        pass  # only ever after a valid signature
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
        except EventUnusable as exc:
            assert str(exc)
        except WebhookRejected as exc:
            assert exc.status in (400, 401)
        else:
            assert all(e.occurred_at.tzinfo is not None for e in events)
