"""End to end through the CLI: `connector connect moneybird --no-browser` against the shared
test authorization server and the fake Moneybird, `connector sync`, `connector items --json`
equal to the fake's open invoices, and a payment written back exactly once.

`connect` runs in a subprocess (it waits for the browser's answer on a loopback port); a
test client plays the browser. The other commands run in-process against the same store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests

from connector.domain import Money
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.payments.model import PaymentEventKind
from connector.store import Store
from connector.vault import new_key
from tests.fakes import oauth_support
from tests.fakes.cli import CliResult as Result
from tests.fakes.cli import cli_runner
from tests.fakes.moneybird import EXTERNAL
from tests.fakes.moneybird import FakeMoneybird
from tests.fakes.oauth_server import FakeOAuthServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def oauth_server() -> Iterator[FakeOAuthServer]:
    # Moneybird: a confidential client, no PKCE, scope sales_invoices.
    with FakeOAuthServer(require_pkce=False, scopes=("sales_invoices",)) as server:
        yield server


@pytest.fixture
def moneybird(oauth_server: FakeOAuthServer) -> Iterator[FakeMoneybird]:
    with FakeMoneybird.trusting(oauth_server, limit=20, window=0.5) as fake:
        yield fake


@pytest.fixture
def env(store_url, oauth_server, moneybird, tmp_path, monkeypatch) -> dict[str, str]:
    section = {
        "client_id": oauth_server.client.client_id,
        "authorize_url": f"{oauth_server.url}/oauth/authorize",
        "token_url": f"{oauth_server.url}/oauth/token",
        "api_url": moneybird.api_url,
        "rate_limit_requests": moneybird.limit,
        "rate_limit_window_seconds": moneybird.window,
    }
    lines = ["[ledgers.moneybird]", *(f"{k} = {json.dumps(v)}" for k, v in section.items())]
    (tmp_path / "connector.toml").write_text("\n".join(lines) + "\n")
    values = {
        "CONNECTOR_DATABASE_URL": store_url,
        "CONNECTOR_CONFIG": str(tmp_path / "connector.toml"),
        "CONNECTOR_SECRET_KEY": new_key(),
        "CONNECTOR_MONEYBIRD_CLIENT_SECRET": oauth_server.client.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def cli(env, capsys):
    return cli_runner(capsys)


def connect(env: dict[str, str]) -> Result:
    process = subprocess.Popen(
        # the CLI as installed (the test ledger it adds is not used here)
        [sys.executable, "-m", "tests.fakes.run_cli", "connect", "moneybird", "--no-browser"]
        + ["--port", "0"],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().rstrip("\n")
    query = dict(parse_qsl(urlsplit(url).query))
    assert "code_challenge" not in query  # Moneybird takes no PKCE
    assert query["scope"] == "sales_invoices"
    page = requests.get(url, timeout=10)  # the browser: approve, follow to the callback
    assert page.status_code == 200, page.text
    out, err = process.communicate(timeout=60)
    return Result(process.returncode, url + "\n" + out, err)


def seed(fake: FakeMoneybird) -> str:
    adm = fake.add_administration("Parkietje B.V.")
    fake.add_administration("Opgezegd B.V.", suspended=True)
    first = fake.add_contact(adm, company_name="Bakkerij van Dijk")["id"]
    second = fake.add_contact(adm, company_name=None, firstname="Jan", lastname="Janssen")["id"]
    fake.add_invoice(adm, first, "1210.00", number="2026-00001")
    fake.add_invoice(adm, first, "99.99", invoice_date=date(2019, 4, 1), number="2019-00007")
    fake.add_invoice(
        adm,
        second,
        "500.00",
        paid="123.45",
        state="late",
        number="2025-00100",
        invoice_date=date(2025, 6, 1),
    )
    fake.add_invoice(adm, second, "-60.50", number="2026-00002")  # a credit note
    fake.add_invoice(adm, second, "75.00", state="paid", paid="75.00", number="2026-00003")
    fake.add_invoice(adm, first, "42.10", kind=EXTERNAL, number="WEB-118", no_due_date=True)
    return adm


def items(cli) -> dict[str, tuple[str, Decimal]]:
    listed = cli("items", "--json")
    assert listed.code == 0, listed.err
    return {
        row["external_id"]: (row["invoice_number"], Decimal(row["open_amount"]))
        for row in json.loads(listed.out)
        if row["status"] != "paid"
    }


def test_connect_sync_items_and_a_payment_written_back_once(
    cli, env, oauth_server, moneybird, store_url
) -> None:
    adm = seed(moneybird)
    assert cli("init").code == 0

    connected = connect(env)
    assert connected.code == 0, connected.err
    assert "connected 'moneybird' (moneybird); administrations:" in connected.out
    assert "Parkietje B.V." in connected.out and "Opgezegd" not in connected.out

    synced = cli("sync")
    assert synced.code == 0, synced.out + synced.err
    expected = moneybird.open_invoices(adm)
    assert len(expected) == 5
    assert items(cli) == expected  # same numbers, same open amounts to the cent

    # A customer pays invoice 2026-00001 through a payment provider; the answer to the
    # first write is lost, the outbox tries again and finds its own payment.
    store = Store(store_url)
    try:
        with store.begin() as conn:
            endpoint, _token = event_store.create_endpoint(
                conn, name="shop", administration_ids=[1], now=datetime.now(UTC)
            )
            event_store.store_events(
                conn,
                endpoint.id,
                [
                    PaymentEvent(
                        provider="mollie",
                        event_id="tr_1:paid",
                        kind=PaymentEventKind.PAID,
                        payment_id="tr_1",
                        amount=Money(Decimal("1210.00")),
                        occurred_at=datetime.now(UTC),
                        description="Betaling factuur 2026-00001",
                    )
                ],
                datetime.now(UTC),
            )
    finally:
        store.dispose()
    moneybird.lose_next_write = True
    processed = cli("payments", "process")
    assert processed.code == 0, processed.err
    assert "ledger writes: 1 done" in processed.out
    assert cli("payments", "process").code == 0  # nothing left to write

    [invoice] = [
        inv
        for inv in moneybird.admins[adm].invoices["sales_invoices"].values()
        if inv["invoice_id"] == "2026-00001"
    ]
    assert moneybird.lost == 1
    payments = invoice["payments"]
    assert len(payments) == 1  # written twice, booked once
    assert payments[0]["transaction_identifier"].startswith("dc-")
    assert payments[0]["price"] == "1210.0"
    assert invoice["state"] == "paid"

    outbox = json.loads(cli("outbox", "--json").out)
    assert [(o["status"], o["idempotency_key"]) for o in outbox] == [
        ("done", payments[0]["transaction_identifier"])
    ]
    assert outbox[0]["ledger_reference"] == payments[0]["id"]

    # The next sync agrees with Moneybird: the paid invoice is closed.
    assert cli("sync").code == 0
    assert items(cli) == moneybird.open_invoices(adm)
    assert invoice["id"] not in items(cli)

    everything = connected.out + connected.err + synced.out + processed.out
    assert oauth_support.leaks(oauth_server.issued, everything) == []
