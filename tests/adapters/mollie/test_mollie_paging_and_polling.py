"""Mollie lists read to their end (`_links.next`), and the chargeback poll for next-gen tenants.

Against a loopback fake as strict as Mollie's docs (tests/adapters/mollie/fake_mollie.py), and
beside Mollie's official client (mollie-api-python), which pages the same lists its own way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from mollie.api.client import Client as OfficialClient

from adapters.mollie import create_provider
from adapters.mollie.client import MollieClient
from adapters.mollie.provider import MollieProvider
from connector.errors import LedgerError
from connector.payments.model import PaymentEventKind
from tests.adapters.mollie.fake_mollie import FakeMollie

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
SIGNING = "mollie_test_signing_secret"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def payment(number: int, **changes: Any) -> dict[str, Any]:
    found = fixture("payment_paid.json")
    found.update(id=f"tr_pay{number:05d}", **changes)
    return found


def refund(payment_id: str, number: int) -> dict[str, Any]:
    return {
        "resource": "refund",
        "id": f"re_ref{number:05d}",
        "amount": {"value": "1.00", "currency": "EUR"},
        "status": "refunded",
        "createdAt": "2024-03-05T09:00:00+00:00",
        "description": "Korting",
        "paymentId": payment_id,
    }


def chargeback(payment_id: str, number: int, created: datetime, **changes: Any) -> dict[str, Any]:
    found = {
        "resource": "chargeback",
        "id": f"chb_cb{number:05d}",
        "amount": {"value": "121.00", "currency": "EUR"},
        "createdAt": created.isoformat(),
        "reversedAt": None,
        "paymentId": payment_id,
    }
    found.update(changes)
    return found


@pytest.fixture
def fake() -> Iterator[FakeMollie]:
    server = FakeMollie().start()
    try:
        yield server
    finally:
        server.stop()


def client(fake: FakeMollie) -> MollieClient:
    return MollieClient(KEY, api_url=fake.url, wait_initial=0)


def provider(fake: FakeMollie, **config: Any) -> MollieProvider:
    return create_provider({"api_url": fake.url, **config})


# --- the fake is as strict as the docs ------------------------------------------------------


def test_the_fake_refuses_what_mollie_refuses(fake: FakeMollie) -> None:
    fake.payments["tr_pay00001"] = payment(1)
    auth = {"Authorization": f"Bearer {KEY}"}
    base = f"{fake.url}/v2/payments/tr_pay00001"
    assert requests.get(f"{base}/refunds", params={"limit": "251"}, headers=auth, timeout=5).json()[
        "field"
    ] == ("limit")
    assert (
        requests.get(f"{base}/refunds", params={"offset": "5"}, headers=auth, timeout=5).status_code
        == 400
    )
    assert requests.get(base, timeout=5).json()["title"] == "Unauthorized Request"
    assert requests.get(f"{fake.url}/v2/nothing", headers=auth, timeout=5).status_code == 404


# --- _links.next is followed (issue 15.5) -----------------------------------------------------


def test_refund_and_chargeback_lists_beyond_250_are_read_to_the_end(fake: FakeMollie) -> None:
    fake.payments["tr_pay00001"] = payment(1)
    fake.refunds["tr_pay00001"] = [refund("tr_pay00001", n) for n in range(600, 0, -1)]
    start = NOW - timedelta(days=1)
    fake.chargebacks = [chargeback("tr_pay00001", n, start) for n in range(260, 0, -1)]
    refunds = client(fake).list_refunds("tr_pay00001")
    assert [r["id"] for r in refunds] == [r["id"] for r in fake.refunds["tr_pay00001"]]
    assert len(client(fake).list_chargebacks("tr_pay00001")) == 260
    pages = [r for r in fake.requests if "/refunds" in r]
    assert len(pages) == 3  # 250 + 250 + 100, each asked with limit=250
    assert all("limit=250" in r for r in pages)


def test_a_reusable_link_with_more_than_250_payments_books_them_all(fake: FakeMollie) -> None:
    listed = [payment(n) for n in range(251, 0, -1)]
    fake.link_payments["pl_reusable1"] = listed
    fake.payments.update({p["id"]: p for p in listed})
    body = b"id=pl_reusable1"
    events = provider(fake).parse_webhook(body, {}, [KEY], NOW.timestamp())
    assert len(events) == 251  # main stopped at the first 250
    assert {e.payment_id for e in events} == {p["id"] for p in listed}
    assert all(e.references["payment_link_id"] == "pl_reusable1" for e in events)


@responses.activate
def test_a_next_link_to_another_host_is_not_followed() -> None:
    api = "https://api.mollie.test"
    responses.get(
        f"{api}/v2/payments/tr_1/refunds",
        json={
            "count": 0,
            "_embedded": {"refunds": []},
            "_links": {"next": {"href": "https://evil.example/v2/payments/tr_1/refunds?from=x"}},
        },
    )
    with pytest.raises(LedgerError, match="not followed"):
        MollieClient(KEY, api_url=api, wait_initial=0).list_refunds("tr_1")
    assert len(responses.calls) == 1  # the key never went to evil.example


def test_our_pages_are_the_official_clients_pages(fake: FakeMollie) -> None:
    # mollie-api-python pages with PaginationList.get_next(); both must see the same items
    fake.payments["tr_pay00001"] = payment(1)
    fake.refunds["tr_pay00001"] = [refund("tr_pay00001", n) for n in range(300, 0, -1)]
    start = NOW - timedelta(days=2)
    fake.chargebacks = [chargeback("tr_pay00001", n, start) for n in range(270, 0, -1)]
    official = OfficialClient(api_endpoint=fake.url)
    official.set_api_key(KEY)

    def every(page: Any) -> list[str]:
        ids = []
        while page is not None:
            ids += [item.id for item in page]
            page = page.get_next()
        return ids

    their_refunds = every(official.payments.get("tr_pay00001").refunds.list(limit=250))
    assert [r["id"] for r in client(fake).list_refunds("tr_pay00001")] == their_refunds
    their_chargebacks = every(official.chargebacks.list(limit=250, embed="payment"))
    ours = client(fake).recent_chargebacks(lambda c: True)
    assert [c["id"] for c in ours] == their_chargebacks
    assert len(their_chargebacks) == 270


# --- the chargeback poll for tenants on next-gen webhooks -------------------------------------


def poll_fake(fake: FakeMollie) -> None:
    fake.payments["tr_pay00001"] = payment(1)
    fake.payments["tr_pay00002"] = payment(2, metadata={"connector_items": "7"})
    recent = [
        chargeback("tr_pay00002", 3, NOW - timedelta(hours=2)),
        chargeback(
            "tr_pay00001",
            2,
            NOW - timedelta(days=20),
            reversedAt=(NOW - timedelta(days=3)).isoformat(),
        ),
    ]
    old = [chargeback("tr_pay00001", n, NOW - timedelta(days=200 + n)) for n in range(1, 400)]
    fake.chargebacks = recent + old


def test_next_gen_tenants_are_polled_for_recent_chargebacks(fake: FakeMollie) -> None:
    poll_fake(fake)
    events = provider(fake).poll([KEY, SIGNING], NOW.timestamp())
    assert [(e.kind, e.event_id) for e in events] == [
        (PaymentEventKind.CHARGED_BACK, "tr_pay00002:chargeback:chb_cb00003"),
        (PaymentEventKind.CHARGED_BACK, "tr_pay00001:chargeback:chb_cb00002"),
        (PaymentEventKind.CHARGEBACK_REVERSED, "tr_pay00001:chargeback:chb_cb00002:reversed"),
    ]
    # the payment came embedded: its metadata is what matching uses
    assert events[0].references["connector_items"] == "7"
    assert events[0].payment_id == "tr_pay00002"
    # newest first: the poll stops at the first chargeback older than the window
    assert fake.requests == ["/v2/chargebacks?embed=payment&limit=250"]


def test_the_poll_gives_the_classic_webhooks_ids_so_each_fact_is_stored_once(
    fake: FakeMollie,
) -> None:
    poll_fake(fake)
    polled = {e.event_id for e in provider(fake).poll([KEY, SIGNING], NOW.timestamp())}
    fake.payments["tr_pay00002"]["amountChargedBack"] = {"value": "121.00", "currency": "EUR"}
    classic = provider(fake).parse_webhook(b"id=tr_pay00002", {}, [KEY], NOW.timestamp())
    assert {e.event_id for e in classic if e.kind is PaymentEventKind.CHARGED_BACK} <= polled


@pytest.mark.parametrize(
    ("secrets", "config"),
    [
        ([KEY], {}),  # classic only: the classic webhook reports every chargeback
        ([SIGNING], {}),  # no API key: nothing to ask Mollie with
        ([KEY, SIGNING], {"chargeback_poll_days": 0}),  # switched off
    ],
)
def test_no_poll_without_next_gen_or_an_api_key_or_when_off(
    fake: FakeMollie, secrets: list[str], config: dict[str, Any]
) -> None:
    poll_fake(fake)
    assert provider(fake, **config).poll(secrets, NOW.timestamp()) == []
    assert fake.requests == []


def test_the_poll_runs_once_per_interval_of_the_minute_job() -> None:
    hourly = create_provider({"chargeback_poll_minutes": 60})
    start = datetime(2024, 6, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    due = [hourly.poll_due(start + 60 * minute) for minute in range(120)]
    assert due.count(True) == 2
    assert create_provider({"chargeback_poll_days": 0}).poll_due(start) is False


def test_a_chargeback_that_cannot_be_booked_is_logged_and_does_not_block_the_others(
    fake: FakeMollie, caplog: pytest.LogCaptureFixture
) -> None:
    poll_fake(fake)
    bad = copy.deepcopy(fake.chargebacks[0])
    bad.update(id="chb_bad", amount={"value": "1.000001", "currency": "EUR"})
    fake.chargebacks.insert(0, bad)
    events = provider(fake).poll([KEY, SIGNING], NOW.timestamp())
    assert len(events) == 3
    assert "chb_bad cannot be booked" in caplog.text
    assert "decimals" in caplog.text


# --- end to end: the scheduler's payments job polls and processes -------------------------------


def test_the_payments_job_polls_mollie_and_stores_the_chargebacks(
    fake: FakeMollie, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from connector.cli.jobs import payments_job
    from connector.payments import events as event_store
    from connector.payments.tables import webhook_events
    from connector.store import Store
    from connector.vault import Vault

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", key)
    monkeypatch.delenv("CONNECTOR_DATABASE_URL", raising=False)
    config = tmp_path / "connector.toml"
    config.write_text(
        f'database_url = "{store_url}"\n\n[providers.mollie]\n'
        f'api_url = "{fake.url}"\nchargeback_poll_minutes = 1\nchargeback_poll_days = 400\n'
    )
    fake.payments["tr_pay00002"] = payment(2)
    fake.chargebacks = [chargeback("tr_pay00002", 3, datetime.now(UTC) - timedelta(days=1))]
    store = Store(store_url)
    vault = Vault([key])
    with store.begin() as conn:
        endpoint, _ = event_store.create_endpoint(conn, name="acme", administration_ids=[], now=NOW)
        for secret in (KEY, SIGNING):
            event_store.add_secret(conn, endpoint.id, "mollie", vault.encrypt(secret), NOW)
    payments_job(str(config))
    with store.begin() as conn:
        stored = conn.execute(select(webhook_events.c.event_id, webhook_events.c.kind)).all()
    store.dispose()
    assert [(row.event_id, row.kind) for row in stored] == [
        ("tr_pay00002:chargeback:chb_cb00003", "charged_back")
    ]
    assert "/v2/chargebacks?embed=payment&limit=250" in fake.requests
