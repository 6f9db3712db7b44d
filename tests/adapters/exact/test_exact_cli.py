"""End to end through the CLI against the fake Exact: connect (the real OAuth flow, in a
subprocess, with a test client playing the browser), sync, items equal to Exact's
receivables to the cent, and a payment written back once even when the answer to the
booking is lost and the write is repeated."""

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
from typing import Any

import pytest
import requests
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from connector.payments.tables import outbox
from connector.store import Store
from connector.store import records
from connector.store.schema import open_items
from connector.vault import new_key
from tests.fakes import oauth_support
from tests.fakes.cli import CliResult as Result
from tests.fakes.cli import cli_runner
from tests.fakes.exact import FakeExact

ROOT = Path(__file__).resolve().parents[3]
CLI = "import sys; from connector.cli import main; main(sys.argv[1:])"


@pytest.fixture
def fake() -> Iterator[FakeExact]:
    with FakeExact() as server:
        server.add_division(101, "Bakkerij van Dijk BV")
        server.add_division(102, "Van Dijk Holding")
        server.seed(101, accounts=40, receivables=150)
        server.seed(102, accounts=3, receivables=7, start_code=7000)
        yield server


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def env(store_url: str, fake: FakeExact, key: str, tmp_path: Path, monkeypatch) -> dict[str, str]:
    (tmp_path / "connector.toml").write_text(
        "[ledgers.exact]\n"
        f'client_id = "{fake.client_id}"\n'
        f'api_url = "{fake.url}"\n'
        'payment_journal = "20"\n'
        "retry_wait_seconds = 0.01\n"
    )
    values = {
        "CONNECTOR_DATABASE_URL": store_url,
        "CONNECTOR_CONFIG": str(tmp_path / "connector.toml"),
        "CONNECTOR_SECRET_KEY": key,
        "CONNECTOR_EXACT_CLIENT_SECRET": fake.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def cli(env: dict[str, str], capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    return cli_runner(capsys)


def connect(env: dict[str, str], fake: FakeExact) -> Result:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "connect",
            "exact",
            "--no-browser",
            "--port",
            "0",
            "--name",
            "acme",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().rstrip("\n") if process.stdout else ""
    assert url.startswith(f"{fake.url}/api/oauth2/auth?"), url  # follows api_url
    page = requests.get(url, timeout=10)  # the browser: Exact approves, back to the CLI
    assert page.status_code == 200
    out, err = process.communicate(timeout=60)
    return Result(process.returncode, url + "\n" + out, err)


def stored(store: Store, division: str) -> dict[str, tuple[Decimal, str]]:
    with store.begin() as conn:
        admin = records.find_administration(conn, division)
        rows = conn.execute(
            select(open_items.c.external_id, open_items.c.open_amount, open_items.c.currency)
            .where(open_items.c.administration_id == admin.id)
            .where(open_items.c.status == "open")
        )
        return {ext: (Decimal(amount), cur) for ext, amount, cur in rows}


def queue_payment(store: Store, key: str, amount: str) -> tuple[int, str]:
    """A payment as the payments side queues it: an outbox row for the ledger write."""
    now = datetime.now(UTC)
    with store.begin() as conn:
        admin = records.find_administration(conn, "101")
        item = conn.execute(
            select(open_items.c.id, open_items.c.external_id)
            .where(open_items.c.administration_id == admin.id)
            .where(open_items.c.open_amount > Decimal(100))
            .order_by(open_items.c.external_id)
        ).first()
        assert item is not None
        values: dict[str, Any] = {
            "idempotency_key": key,
            "administration_id": admin.id,
            "item_id": item.id,
            "action": "record_payment",
            "amount": Decimal(amount),
            "currency": "EUR",
            "paid_on": date(2026, 3, 2),
            "reason": "",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "ledger_reference": "",
            "created_at": now,
        }
        conn.execute(insert(outbox).values(**values))
        return item.id, item.external_id


def test_connect_sync_and_write_back_once(cli, env, fake, store_url, key) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").code == 0
    connected = connect(env, fake)
    assert connected.code == 0, connected.err
    assert "connected 'acme' (exact); administrations:" in connected.out
    assert "Bakkerij van Dijk BV" in connected.out and "Van Dijk Holding" in connected.out

    synced = cli("sync")
    assert synced.code == 0, synced.err
    store = Store(store_url)
    try:
        for division in ("101", "102"):
            assert stored(store, division) == fake.open_by_key(int(division))
        again = cli("sync")  # unchanged: three calls per division plus discovery
        assert again.code == 0
        assert (fake.too_many, fake.blocks) == (0, 0)

        _item_id, external_id = queue_payment(store, "dc-e2e-1", "25.00")
        fake.drop_next_answer("POST", "financialtransaction/BankEntries")
        processed = cli("payments", "process")
        assert processed.code == 0, processed.err
        assert "ledger writes: 1 done" in processed.out
        booked = [ln for ln in fake.divisions[101].lines if "[dc-e2e-1]" in ln["Description"]]
        assert len(booked) == 1 and booked[0]["AmountFC"] == Decimal("25.00")

        # The write is repeated (its confirmation lost on our side too): still one booking.
        with store.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.idempotency_key == "dc-e2e-1")
                .values(status="pending")
            )
        assert "ledger writes: 1 done" in cli("payments", "process").out
        booked = [ln for ln in fake.divisions[101].lines if "[dc-e2e-1]" in ln["Description"]]
        assert len(booked) == 1
        [row] = json.loads(cli("outbox", "--json").out)
        assert row["status"] == "done" and row["ledger_reference"].startswith("20/")

        # Exact now shows the receipt on the debtor's account, next to the open invoice.
        assert cli("sync").code == 0
        assert stored(store, "101") == fake.open_by_key(101)
        assert external_id in stored(store, "101")
    finally:
        store.dispose()

    everything = connected.out + connected.err + synced.out + synced.err + processed.out
    secrets = [*fake.issued, key, fake.client_secret]
    assert oauth_support.leaks(secrets, everything) == []
    assert oauth_support.leaks(secrets, oauth_support.stored_text(store_url)) == []
