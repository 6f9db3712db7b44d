"""Adyen notifications: Basic auth, per-item HMAC with the hex key, batches, mapping, [accepted]."""

from __future__ import annotations

import base64
import contextlib
import copy
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

from adapters.adyen import create_provider
from adapters.adyen.provider import AdyenProvider
from adapters.adyen.provider import sign
from connector.domain import Money
from connector.errors import ConfigError
from connector.errors import EventUnusable
from connector.errors import WebhookRejected
from connector.payments.model import PaymentEventKind

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC).timestamp()

# research law-and-psp.md §T.3 ADYEN-01 (Adyen's published vector)
HEX_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
KEY = bytes.fromhex(HEX_KEY)
ADYEN_01 = "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
ADYEN_01_STRING = (
    "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
)
ADYEN_02 = "2q/PBI8UVbrlKk2xOK6yLUee5G7juwQHxfujrnhkIwQ="
ADYEN_03 = "ClpDGG0lG70nAkVYqahcHbLokrvd0a6RkaykhXwRxls="

USER, PASSWORD = "adyen_ws", "s3cr:et"
SECRETS = [HEX_KEY, f"basic:{USER}:{PASSWORD}"]


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def delivery() -> dict[str, Any]:
    return json.loads((FIXTURES / "authorisation.json").read_text())


def item_of(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return data["notificationItems"][index]["NotificationRequestItem"]


def signing_data(item: dict[str, Any]) -> str:
    """An independent signing string: the eight fields joined by ":" as Adyen's libraries do."""
    amount = item.get("amount") or {}
    fields = [
        item.get("pspReference"),
        item.get("originalReference"),
        item.get("merchantAccountCode"),
        item.get("merchantReference"),
        amount.get("value"),
        amount.get("currency"),
        item.get("eventCode"),
        item.get("success"),
    ]
    return ":".join("" if f is None else str(f) for f in fields)


def resign(item: dict[str, Any], key: bytes = KEY) -> None:
    data = signing_data(item)
    mac = hmac.new(key, data.encode(), hashlib.sha256).digest()
    item.setdefault("additionalData", {})["hmacSignature"] = base64.b64encode(mac).decode()


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def parse(data: dict[str, Any] | bytes, headers: dict[str, str] | None = None, secrets=None):
    body = data if isinstance(data, bytes) else body_of(data)
    return list(
        AdyenProvider().parse_webhook(
            body,
            basic() if headers is None else headers,
            SECRETS if secrets is None else secrets,
            NOW,
        )
    )


# --- T.3 vectors ------------------------------------------------------------------------


def test_adyen_01_signing_string_and_signature() -> None:
    item = item_of(delivery())
    assert signing_data(item) == ADYEN_01_STRING
    assert sign(ADYEN_01_STRING, KEY) == ADYEN_01


def test_adyen_01_the_published_item_is_accepted() -> None:
    (event,) = parse(delivery())
    assert event.kind is PaymentEventKind.PAID


def test_adyen_02_a_changed_amount_does_not_verify() -> None:
    data = delivery()
    item_of(data)["amount"]["value"] = 1131
    assert sign(signing_data(item_of(data)), KEY) == ADYEN_02
    with pytest.raises(WebhookRejected) as caught:
        parse(data)
    assert caught.value.status == 401


def test_adyen_03_a_colon_in_a_value_verifies_only_as_adyens_libraries_sign_it() -> None:
    data = delivery()
    item = item_of(data)
    item["merchantReference"] = "INV:2024-001"
    plain = "7914073381342284::TestMerchant:INV:2024-001:1130:EUR:AUTHORISATION:true"
    escaped = "7914073381342284::TestMerchant:INV\\:2024-001:1130:EUR:AUTHORISATION:true"
    assert signing_data(item) == plain
    assert sign(escaped, KEY) == ADYEN_03  # the research's (escaped) vector
    resign(item)  # as Adyen's Java/Node/Python libraries compute it: no escaping
    assert parse(data)[0].description == "INV:2024-001"
    # issue 15.4: the escaped form is no library's, so it is refused
    item["additionalData"]["hmacSignature"] = ADYEN_03
    with pytest.raises(WebhookRejected) as caught:
        parse(data)
    assert caught.value.status == 401


def test_a_signature_over_an_escaped_reference_does_not_validate_another_reference() -> None:
    # a genuine signature over merchantReference "INV-1\\:INV-2" (the libraries sign the
    # backslash as it is) must not also validate "INV-1:INV-2", which matching would use
    data = delivery()
    item = item_of(data)
    item["merchantReference"] = "INV-1\\:INV-2"
    resign(item)
    assert parse(data)[0].description == "INV-1\\:INV-2"
    genuine = item["additionalData"]["hmacSignature"]
    item["merchantReference"] = "INV-1:INV-2"
    item["additionalData"]["hmacSignature"] = genuine
    with pytest.raises(WebhookRejected) as caught:
        parse(data)
    assert caught.value.status == 401


def test_adyen_04_one_bad_item_refuses_the_whole_batch() -> None:
    data = delivery()
    second = copy.deepcopy(item_of(data))
    second["pspReference"] = "7914073381342285"
    second["additionalData"]["hmacSignature"] = "A" * 43 + "="
    data["notificationItems"].append({"NotificationRequestItem": second})
    with pytest.raises(WebhookRejected) as caught:
        parse(data)
    assert caught.value.status == 401


def test_a_batch_of_valid_items_gives_one_event_each() -> None:
    data = delivery()
    second = copy.deepcopy(item_of(data))
    second.update(pspReference="8814073381342299", merchantReference="INV-2")
    resign(second)
    data["notificationItems"].append({"NotificationRequestItem": second})
    events = parse(data)
    assert [e.payment_id for e in events] == ["7914073381342284", "8814073381342299"]


# --- Basic auth and keys ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic "},
        basic(password="wrong"),
        basic(user="other"),
    ],
)
def test_missing_or_wrong_basic_auth_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(delivery(), headers)
    assert caught.value.status == 401
    assert PASSWORD not in str(caught.value) and HEX_KEY not in str(caught.value)


def test_basic_auth_is_required_unless_switched_off() -> None:
    with pytest.raises(WebhookRejected):
        parse(delivery(), {}, [HEX_KEY])
    relaxed = create_provider({"require_basic_auth": False})
    assert relaxed.parse_webhook(body_of(delivery()), {}, [HEX_KEY], NOW)


def test_the_header_name_is_case_insensitive() -> None:
    assert parse(delivery(), {"authorization": basic()["Authorization"]})


@pytest.mark.parametrize(
    "secrets",
    [
        [f"basic:{USER}:{PASSWORD}"],  # no HMAC key
        [f"basic:{USER}:{PASSWORD}", "not-hex"],
        [f"basic:{USER}:{PASSWORD}", "00" * 32],  # the wrong key
    ],
)
def test_no_or_the_wrong_hmac_key_is_401(secrets: list[str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(delivery(), basic(), secrets)
    assert caught.value.status == 401


def test_rotation_old_and_new_keys_and_credentials_are_all_accepted() -> None:
    new_key = "AB" * 32
    secrets = [HEX_KEY, f"hmac:{new_key}", f"basic:{USER}:{PASSWORD}", "basic:new_user:new_pw"]
    assert parse(delivery(), basic(), secrets)
    data = delivery()
    resign(item_of(data), bytes.fromhex(new_key))
    assert parse(data, basic("new_user", "new_pw"), secrets)


def test_an_item_without_a_signature_is_401() -> None:
    data = delivery()
    del item_of(data)["additionalData"]["hmacSignature"]
    with pytest.raises(WebhookRejected) as caught:
        parse(data)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[accepted]",
        b"{}",
        b'{"notificationItems": []}',
        b'{"notificationItems": [{"Other": {}}]}',
        b'{"notificationItems": [1]}',
        b"\xff\xfe",
        b"{" * 50000,
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(body)
    assert caught.value.status == 400


def test_a_truncated_body_is_400() -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse(body_of(delivery())[:-20])
    assert caught.value.status == 400


def test_a_signed_item_with_an_unusable_amount_is_kept_as_unusable() -> None:
    data = delivery()
    item_of(data)["amount"]["currency"] = "euro"
    resign(item_of(data))
    with pytest.raises(EventUnusable, match="7914073381342284"):
        parse(data)


@pytest.mark.parametrize(("value", "currency"), [(10**40, "EUR"), (10**14, "EUR"), (-5, "EUR")])
def test_a_signed_amount_out_of_range_is_unusable_not_a_store_failure(
    value: int, currency: str
) -> None:
    # issue 16.9: 10^40 used to reach the store and get 503, so Adyen retried for days
    data = delivery()
    item_of(data)["amount"] = {"value": value, "currency": currency}
    resign(item_of(data))
    with pytest.raises(EventUnusable, match="outside 0 to 10\\^12") as caught:
        parse(data)
    assert caught.value.status == 200


# --- mapping -----------------------------------------------------------------------------


def test_the_authorisation_is_a_payment_with_our_references() -> None:
    (event,) = parse(delivery())
    assert event.provider == "adyen"
    assert event.event_id == "7914073381342284:AUTHORISATION:true"
    assert event.payment_id == "7914073381342284"
    assert event.amount == Money(Decimal("11.30"), "EUR")
    assert event.references["invoice_number"] == "TestPayment-1407325143704"
    assert event.description == "TestPayment-1407325143704"
    # additionalData is not signed: a hint for a person, never a matching reference
    assert event.references["unsigned.connector_items"] == "12,13"
    assert "connector_items" not in event.references


def test_unsigned_metadata_never_overrides_the_signed_merchant_reference() -> None:
    # issue 16.8: additionalData.metadata.invoice_number replaced merchantReference
    data = delivery()
    item = item_of(data)
    item["additionalData"]["metadata.invoice_number"] = "INV-OF-SOMEONE-ELSE"
    item["additionalData"]["metadata.psp_reference"] = "forged"
    item["additionalData"]["cardHolderName"] = "Someone Else"
    (event,) = parse(data)  # the signature still holds: none of this is signed
    assert event.references["invoice_number"] == "TestPayment-1407325143704"
    assert event.references["psp_reference"] == "7914073381342284"
    assert event.references["unsigned.invoice_number"] == "INV-OF-SOMEONE-ELSE"
    assert event.payer_name == ""  # would feed the debtor-and-amount match
    assert event.references["unsigned.payer_name"] == "Someone Else"


def test_the_unsigned_event_date_is_a_hint_and_the_receipt_time_is_used() -> None:
    data = delivery()
    item_of(data)["eventDate"] = "2019-01-01T00:00:00+01:00"  # changed in transit: still valid
    (event,) = parse(data)
    assert event.occurred_at == datetime.fromtimestamp(NOW, UTC)
    assert event.references["unsigned.event_date"] == "2019-01-01T00:00:00+01:00"


def test_a_duplicate_delivery_gives_the_same_event_id() -> None:
    assert parse(delivery())[0].event_id == parse(delivery())[0].event_id


def event_for(code: str, success: str = "true", **extra: Any) -> list[Any]:
    data = delivery()
    item = item_of(data)
    item.update(eventCode=code, success=success, pspReference="9914000000000001", **extra)
    item.setdefault("originalReference", "7914073381342284")
    resign(item)
    return parse(data)


@pytest.mark.parametrize(
    ("code", "success", "kind"),
    [
        ("AUTHORISATION", "false", PaymentEventKind.FAILED),
        ("CANCELLATION", "true", PaymentEventKind.FAILED),
        ("TECHNICAL_CANCEL", "true", PaymentEventKind.FAILED),
        ("OFFER_CLOSED", "true", PaymentEventKind.FAILED),
        ("REFUND", "true", PaymentEventKind.REFUNDED),
        ("CANCEL_OR_REFUND", "true", PaymentEventKind.REFUNDED),
        ("NOTIFICATION_OF_CHARGEBACK", "true", PaymentEventKind.DISPUTE_OPENED),
        ("REQUEST_FOR_INFORMATION", "true", PaymentEventKind.DISPUTE_OPENED),
        ("CHARGEBACK", "true", PaymentEventKind.CHARGED_BACK),
        ("SECOND_CHARGEBACK", "true", PaymentEventKind.CHARGED_BACK),
        ("CHARGEBACK_REVERSED", "true", PaymentEventKind.CHARGEBACK_REVERSED),
        ("PREARBITRATION_WON", "true", PaymentEventKind.CHARGEBACK_REVERSED),
    ],
)
def test_event_codes(code: str, success: str, kind: PaymentEventKind) -> None:
    (event,) = event_for(code, success)
    assert event.kind is kind
    assert event.payment_id == "7914073381342284"  # the payment it concerns
    assert event.event_id == f"9914000000000001:{code}:{success}"


@pytest.mark.parametrize(
    ("code", "success"),
    [
        ("REFUND", "false"),
        ("REFUND_FAILED", "true"),
        ("REFUNDED_REVERSED", "true"),
        ("PREARBITRATION_LOST", "true"),
        ("NOTIFICATION_OF_FRAUD", "true"),
        ("CAPTURE", "true"),  # auto capture: the AUTHORISATION was the payment
        ("REPORT_AVAILABLE", "true"),
    ],
)
def test_codes_without_a_ledger_effect_are_acknowledged_without_events(
    code: str, success: str
) -> None:
    assert event_for(code, success) == []


def test_cancel_or_refund_that_cancelled_is_failed() -> None:
    (event,) = event_for("CANCEL_OR_REFUND", additionalData={"modification.action": "cancel"})
    assert event.kind is PaymentEventKind.FAILED


def test_manual_capture_books_the_capture_not_the_authorisation() -> None:
    provider = create_provider({"capture": "manual"})
    assert provider.parse_webhook(body_of(delivery()), basic(), SECRETS, NOW) == []
    data = delivery()
    item = item_of(data)
    item.update(
        eventCode="CAPTURE", pspReference="8814000000000002", originalReference="7914073381342284"
    )
    resign(item)
    (event,) = provider.parse_webhook(body_of(data), basic(), SECRETS, NOW)
    assert (event.kind, event.payment_id) == (PaymentEventKind.PAID, "7914073381342284")


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [(1130, "EUR", "11.30"), (500, "JPY", "500"), (1234, "KWD", "1.234")],
)
def test_minor_units_by_the_currency_exponent(value: int, currency: str, expected: str) -> None:
    data = delivery()
    item_of(data)["amount"] = {"value": value, "currency": currency}
    resign(item_of(data))
    (event,) = parse(data)
    assert str(event.amount.amount) == expected


def test_reply_is_accepted() -> None:
    reply = AdyenProvider().reply([])
    assert (reply.status, reply.body) == (200, "[accepted]")


@pytest.mark.parametrize("config", [{"capture": "later"}, {"require_basic_auth": "yes"}])
def test_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        create_provider(config)


# --- fuzz --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300),
    auth=st.text(max_size=60) | st.just(basic()["Authorization"]),
    secrets=st.lists(st.text(max_size=70), max_size=3) | st.just(SECRETS),
)
def test_fuzz_arbitrary_input_only_ever_raises_webhook_rejected(
    body: bytes, auth: str, secrets: list[str]
) -> None:
    try:
        AdyenProvider().parse_webhook(body, {"Authorization": auth}, secrets, NOW)
    except EventUnusable:
        pass  # only after every item verified
    except WebhookRejected as exc:
        assert exc.status in (400, 401)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "pspReference",
                "originalReference",
                "merchantReference",
                "eventCode",
                "success",
                "amount",
                "eventDate",
                "additionalData",
            ]
        ),
        json_values
        | st.sampled_from(["CHARGEBACK", "AUTHORISATION", "REFUND", "true", "false"])
        | st.fixed_dictionaries(
            {"value": json_values, "currency": st.sampled_from(["EUR", "JPY", "x"])}
        ),
    ),
    sign_it=st.booleans(),
)
def test_fuzz_item_shapes_only_ever_raise_webhook_rejected(
    fields: dict[str, Any], sign_it: bool
) -> None:
    data = delivery()
    item = item_of(data)
    item.update(fields)
    if sign_it and isinstance(item.get("additionalData"), dict):
        with contextlib.suppress(AttributeError, TypeError):
            resign(item)
    try:
        events = parse(data)
    except EventUnusable as exc:
        assert str(exc)
    except WebhookRejected as exc:
        assert exc.status in (400, 401)
    else:
        assert all(e.occurred_at.tzinfo is not None for e in events)
