"""Our Adyen HMAC check beside the official one (`Adyen.util.is_valid_hmac_notification`).

Same cases, same verdict, per item. Where we are deliberately stricter: a delivery with one
bad item is refused whole (research vector ADYEN-04), while the SDK looks only at the first
item. Adyen's notifications carry no send timestamp (eventDate is not signed), so there is no
timestamp case beyond checking that changing eventDate changes no verdict.
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from Adyen import util as adyen_util
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from adapters.adyen.provider import AdyenProvider
from adapters.adyen.provider import verify_item
from connector.errors import WebhookRejected

FIXTURES = Path(__file__).parent / "fixtures"
HEX_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
OTHER_KEY = "00" * 31 + "01"
NOW = 1709290000.0


def item() -> dict[str, Any]:
    data = json.loads((FIXTURES / "authorisation.json").read_text())
    return data["notificationItems"][0]["NotificationRequestItem"]


def sdk_sign(found: dict[str, Any], key: str = HEX_KEY) -> dict[str, Any]:
    """Sign with the official library's own signer."""
    unsigned = {k: v for k, v in found.items() if k != "additionalData"}
    signature = adyen_util.generate_notification_sig(unsigned, key).decode()
    found.setdefault("additionalData", {})["hmacSignature"] = signature
    return found


def sdk_accepts(found: dict[str, Any], key: str = HEX_KEY) -> bool:
    try:
        return bool(adyen_util.is_valid_hmac_notification(copy.deepcopy(found), key))
    except Exception:  # noqa: BLE001 - an empty signature is a ValueError there
        return False


def we_accept(found: dict[str, Any], key: str = HEX_KEY) -> bool:
    try:
        verify_item(found, [bytes.fromhex(key)])
    except WebhookRejected:
        return False
    return True


def changed(**fields: Any) -> Callable[[], dict[str, Any]]:
    """A signed item, then `fields` changed after signing."""

    def build() -> dict[str, Any]:
        found = sdk_sign(item())
        for name, value in fields.items():
            if name in ("value", "currency"):
                found["amount"][name] = value
            else:
                found[name] = value
        return found

    return build


def resigned(**fields: Any) -> Callable[[], dict[str, Any]]:
    """An item with `fields` set, then signed by the official library."""

    def build() -> dict[str, Any]:
        found = item()
        found.update(fields)
        return sdk_sign(found)

    return build


def escaped_signature() -> dict[str, Any]:
    # signed over the escaped string (research after hookdeck), which no library builds
    found = item()
    found["merchantReference"] = "INV:2024-001"
    string = "7914073381342284::TestMerchant:INV\\:2024-001:1130:EUR:AUTHORISATION:true"
    mac = hmac.new(bytes.fromhex(HEX_KEY), string.encode(), "sha256").digest()
    found["additionalData"]["hmacSignature"] = base64.b64encode(mac).decode()
    return found


def reference_swapped_under_escaping() -> dict[str, Any]:
    # issue 15.4: a genuine signature over "INV-1\:INV-2" presented with "INV-1:INV-2"
    found = resigned(merchantReference="INV-1\\:INV-2")()
    found["merchantReference"] = "INV-1:INV-2"
    return found


def unsigned_changes() -> dict[str, Any]:
    found = sdk_sign(item())
    found["eventDate"] = "2019-01-01T00:00:00+01:00"
    found["reason"] = "changed"
    found["additionalData"]["metadata.invoice_number"] = "INV-OTHER"
    return found


def empty_signature() -> dict[str, Any]:
    found = item()
    found["additionalData"]["hmacSignature"] = ""
    return found


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "the published vector ADYEN-01": item,
    "signed by the library": lambda: sdk_sign(item()),
    "tampered value": changed(value=1131),
    "tampered currency": changed(currency="USD"),
    "tampered merchantReference": changed(merchantReference="TestPayment-other"),
    "tampered pspReference": changed(pspReference="7914073381342285"),
    "tampered originalReference": changed(originalReference="1234"),
    "tampered merchantAccountCode": changed(merchantAccountCode="OtherMerchant"),
    "tampered eventCode": changed(eventCode="REFUND"),
    "tampered success": changed(success="false"),
    "unsigned fields changed (eventDate, reason, additionalData)": unsigned_changes,
    "a colon in the reference, signed by the library": resigned(merchantReference="INV:2024-001"),
    "a backslash in the reference": resigned(merchantReference="INV\\2024"),
    "escaped colon and backslash": resigned(merchantReference="A\\:B\\\\C:D"),
    "non-ASCII in the reference": resigned(merchantReference="Café-Ω-001"),
    "signed over the escaped string": escaped_signature,
    "reference swapped under escaping": reference_swapped_under_escaping,
    "an original reference": resigned(originalReference="8313842560770001", eventCode="REFUND"),
    "empty hmacSignature": empty_signature,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_verdict_as_adyen_python(name: str) -> None:
    found = CASES[name]()
    assert we_accept(found) == sdk_accepts(found), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_verdict_with_the_wrong_key(name: str) -> None:
    found = CASES[name]()
    assert we_accept(found, OTHER_KEY) == sdk_accepts(found, OTHER_KEY) is False


def test_the_cases_cover_both_verdicts() -> None:
    verdicts = {name: sdk_accepts(build()) for name, build in CASES.items()}
    assert verdicts["the published vector ADYEN-01"] and verdicts["signed by the library"]
    assert not verdicts["tampered value"]
    assert not verdicts["signed over the escaped string"]
    assert not verdicts["reference swapped under escaping"]


def test_several_items_we_refuse_the_batch_where_the_sdk_checks_only_the_first() -> None:
    good, bad = sdk_sign(item()), changed(value=1)()
    bad["pspReference"] = "7914073381342299"
    data = {
        "live": "false",
        "notificationItems": [{"NotificationRequestItem": i} for i in (good, bad)],
    }
    assert adyen_util.is_valid_hmac_notification(copy.deepcopy(data), HEX_KEY)
    body = json.dumps(data).encode()
    with pytest.raises(WebhookRejected) as caught:
        AdyenProvider(require_basic_auth=False).parse_webhook(body, {}, [HEX_KEY], NOW)
    assert caught.value.status == 401


def test_several_keys_during_a_rotation_each_as_the_sdk_would_with_that_key() -> None:
    found = sdk_sign(item(), OTHER_KEY)
    assert sdk_accepts(found, OTHER_KEY) and not sdk_accepts(found, HEX_KEY)
    verify_item(found, [bytes.fromhex(HEX_KEY), bytes.fromhex(OTHER_KEY)])


@settings(max_examples=300, deadline=None)
@given(
    reference=st.text(alphabet=st.sampled_from("AZaz09:\\\\-_ é"), max_size=20),
    value=st.integers(min_value=0, max_value=10**9),
    tamper=st.sampled_from(["none", "merchantReference", "value", "eventCode"]),
)
def test_random_references_get_the_sdks_verdict(reference: str, value: int, tamper: str) -> None:
    found = item()
    found["merchantReference"] = reference
    found["amount"]["value"] = value
    sdk_sign(found)
    if tamper == "merchantReference":
        found["merchantReference"] = reference.replace(":", "\\:") or "x"
    elif tamper == "value":
        found["amount"]["value"] = value + 1
    elif tamper == "eventCode":
        found["eventCode"] = "CAPTURE"
    assert we_accept(found) == sdk_accepts(found)
