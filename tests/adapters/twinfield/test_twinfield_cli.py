"""End to end: `connector connect twinfield` through the real CLI and the shared test
authorization server, `connector sync` against the fake Twinfield, the stored items equal to
Twinfield's open lines to the cent, and a payment booked and matched once, twice asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from adapters.twinfield.auth import SCOPES
from connector.domain import Money
from connector.oauth.service import OAuthLedgers
from connector.settings import load_settings
from connector.store import Store
from connector.store import records
from connector.vault import new_key
from tests.fakes.cli import CliResult
from tests.fakes.cli import cli_runner
from tests.fakes.oauth_server import FakeOAuthServer
from tests.fakes.twinfield import FakeDebtor
from tests.fakes.twinfield import FakeTwinfield

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def servers() -> Iterator[tuple[FakeOAuthServer, FakeTwinfield]]:
    with FakeOAuthServer(require_pkce=False, scopes=SCOPES) as login, FakeTwinfield() as tw:
        tw.trust(lambda token: token in login.issued)
        office = tw.add_office("NLA001", "Bakkerij De Korenschoof")
        office.add_debtor(FakeDebtor("0042", "ACME B.V.", vat="NL123456789B01"))
        office.add_debtor(FakeDebtor("0007", "J. Jansen", send_reminder="true"))
        office.add_invoice("0042", "202500069", "121.00", date(2025, 1, 1), date(2025, 1, 31))
        office.add_invoice("0007", "202600001", "19.99", date(2026, 1, 5), date(2026, 2, 4))
        office.add_invoice("0007", "202600002", "0.01", date(2026, 1, 6), date(2026, 2, 5))
        yield login, tw


@pytest.fixture
def env(
    store_url: str,
    servers: tuple[FakeOAuthServer, FakeTwinfield],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    login, tw = servers
    # api_url is not a Twinfield key (the cluster comes from the validation endpoint): the
    # config schema refuses a key nobody reads
    oauth = {k: v for k, v in login.settings().items() if k != "api_url"}
    section = {**oauth, "validation_url": tw.validation_url}
    lines = ["[ledgers.twinfield]", *(f'{k} = "{v}"' for k, v in section.items())]
    lines.append("certified = true")  # the 25-credit tier would make this test wait
    (tmp_path / "connector.toml").write_text("\n".join(lines) + "\n")
    values = {
        "CONNECTOR_DATABASE_URL": store_url,
        "CONNECTOR_CONFIG": str(tmp_path / "connector.toml"),
        "CONNECTOR_SECRET_KEY": new_key(),
        "CONNECTOR_TWINFIELD_CLIENT_SECRET": login.client.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    return cli_runner(capsys)(*args)


def test_connect_sync_and_pay_through_the_cli(
    env: dict[str, str],
    servers: tuple[FakeOAuthServer, FakeTwinfield],
    store_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    login, tw = servers
    assert cli(capsys, "init")[0] == 0
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.run_cli",
            "connect",
            "twinfield",
            "--no-browser",
            "--port",
            "0",
            "--name",
            "tw",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = (process.stdout.readline() if process.stdout else "").rstrip("\n")
        assert url.startswith(f"{login.url}/oauth/authorize?"), url
        assert "scope=openid+twf.user+twf.organisation+twf.organisationUser+offline_access" in url
        page = requests.get(url, timeout=10)  # the browser approves and returns to the CLI
        assert page.status_code == 200
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "connected 'tw' (twinfield)" in out and "NLA001" in out
    # the token endpoint was called with the client credentials as HTTP Basic
    assert login.token_requests

    code, out, err = cli(capsys, "sync")
    assert code == 0, err
    code, out, err = cli(capsys, "items", "--json")
    assert code == 0, err
    listed = {row["external_id"]: Decimal(row["open_amount"]) for row in json.loads(out)}
    office = tw.offices["NLA001"]
    expected = {f"{t.code}:{t.number}:{line.id}": line.open for t, line in office.open_lines()}
    assert listed == expected  # to the cent, "0.01" included

    # a payment through the core's own wiring (stored tokens, settings, registry), twice
    store = Store(store_url)
    try:
        oauth = OAuthLedgers(load_settings(os.environ), store, dict(env))
        with store.begin() as conn:
            connection = records.find_connection(conn, "tw")
            [admin] = records.list_administrations(conn, connection_id=connection.id)
        ledger = oauth.open_ledger(connection)
        [item] = [i for i in ledger.read_items(admin.domain(), ["VRK:202500069:1"])]
        first = ledger.record_payment(
            admin.domain(), item, Money(Decimal("121.00")), date(2026, 3, 1), "dc-1-1"
        )
        second = ledger.record_payment(
            admin.domain(), item, Money(Decimal("121.00")), date(2026, 3, 1), "dc-1-1"
        )
    finally:
        store.dispose()
    assert not first.already_recorded and second.already_recorded
    assert first.ledger_reference == second.ledger_reference
    assert len([k for k in office.transactions if k[0] == "BNK"]) == 1
    assert len(tw.calls("match")) == 1
    assert "VRK:202500069:1" not in {
        f"{t.code}:{t.number}:{ln.id}" for t, ln in office.open_lines()
    }
    code, out, err = cli(capsys, "sync")
    assert code == 0, err
    code, out, _err = cli(capsys, "items", "--json")
    assert "VRK:202500069:1" not in {row["external_id"] for row in json.loads(out)}
    # no token in what the CLI printed
    assert not any(secret in out + err for secret in login.issued if len(secret) > 8)
