"""`connector connect / connections / disconnect / keep-alive / secrets` with an OAuth ledger.

The end-to-end sign-in runs the real CLI in a subprocess (`tests.fakes.run_cli` installs the
test ledger, which has no entry point since tests are not shipped); a test client plays the
browser: it opens the printed URL, the fake server approves at once and redirects to the
CLI's loopback callback. The other commands run in-process against the same store.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from connector.errors import ReconnectRequired
from connector.oauth import flow
from connector.oauth.service import OAuthLedgers
from connector.store import Store
from connector.vault import new_key
from tests.fakes import oauth_ledger
from tests.fakes import oauth_support
from tests.fakes.cli import CliResult as Result
from tests.fakes.cli import cli_runner
from tests.fakes.oauth_server import FakeOAuthServer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def server():
    with FakeOAuthServer() as fake:
        yield fake


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def env(store_url, server, key, tmp_path, monkeypatch):
    """A working folder with connector.toml for the test ledger, and the environment."""
    section = server.settings()
    lines = ["[ledgers.testledger]", *(f'{k} = "{v}"' for k, v in section.items())]
    (tmp_path / "connector.toml").write_text("\n".join(lines) + "\n")
    values = {
        "CONNECTOR_DATABASE_URL": store_url,
        "CONNECTOR_CONFIG": str(tmp_path / "connector.toml"),
        **oauth_support.environ(server, key),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    oauth_ledger.register(monkeypatch)
    return values


@pytest.fixture
def cli(env, capsys):
    return cli_runner(capsys)


@pytest.fixture
def clock():
    return oauth_support.Clock()


@pytest.fixture
def oauth(env, store_url, server, clock):
    """The same store, seen by the connector's own OAuthLedgers (another process)."""
    store = Store(store_url)
    settings = oauth_support.settings(store_url, server)
    yield OAuthLedgers(settings, store, dict(env), clock=clock)
    store.dispose()


def start_connect(env, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.run_cli", "connect", "testledger", *args],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = process.stdout.readline().rstrip("\n")
    return process, url


def finish(process: subprocess.Popen) -> Result:
    out, err = process.communicate(timeout=30)
    return Result(process.returncode, out, err)


def test_connect_end_to_end_then_list_sync_and_disconnect(cli, env, server, store_url, key):
    assert cli("init").code == 0
    process, url = start_connect(env, "--no-browser", "--port", "0", "--name", "acme")
    assert url.startswith(f"{server.url}/oauth/authorize?"), url
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", query["redirect_uri"])
    page = requests.get(url, timeout=10)  # the browser: approve, follow to the callback
    assert page.status_code == 200 and "return to the terminal" in page.text
    result = finish(process)
    assert result.code == 0, result.err
    assert "connected 'acme' (testledger); administrations:" in result.out
    assert "Bakkerij van Dijk" in result.out and "1001" in result.out
    assert f"waiting up to 300 s for the answer on {query['redirect_uri']}" in result.err

    listing = cli("connections", "--json")
    assert listing.code == 0
    [row] = listing.json()
    assert row["name"] == "acme" and row["ledger"] == "testledger" and row["status"] == "active"
    assert row["administrations"] == [{"id": 1, "external_id": "1001", "name": "Bakkerij van Dijk"}]
    assert row["access_token_expires_at"] and row["refreshes"] == 0
    text = cli("connections")
    assert "acme" in text.out and "Bakkerij van Dijk" in text.out and "TOKEN EXPIRES" in text.out

    synced = cli("sync")
    assert synced.code == 0 and "Bakkerij van Dijk" in synced.out

    gone = cli("disconnect", "acme")
    assert gone.code == 0, gone.err
    assert "disconnected 'acme' (testledger): revoked at testledger; tokens deleted" in gone.out
    assert server.revocations == [server.issued[-1]] and server.family_revoked
    [row] = cli("connections", "--json").json()
    assert row["status"] == "disconnected" and row["access_token_expires_at"] is None
    assert [a["name"] for a in row["administrations"]] == ["Bakkerij van Dijk"]  # history stays
    assert cli("administrations").out.count("Bakkerij van Dijk") == 1

    everything = result.out + result.err + listing.out + text.out + synced.out + gone.out
    secrets = [*server.issued, key]
    assert oauth_support.leaks(secrets, everything) == []
    assert oauth_support.leaks(secrets, oauth_support.stored_text(store_url)) == []


def test_a_denied_authorization_exits_1_with_one_line(cli, env, server):
    cli("init")
    server.deny = True
    process, url = start_connect(env, "--no-browser", "--port", "0")
    requests.get(url, timeout=10)
    result = finish(process)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("connector: error: testledger did not grant access (access_denied")
    assert lines[-1].endswith("nothing was stored")
    assert cli("connections", "--json").json() == []


def test_a_wrong_state_exits_1(cli, env, server):
    cli("init")
    process, url = start_connect(env, "--no-browser", "--port", "0")
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    parts = urlsplit(location)
    answer = dict(parse_qsl(parts.query))
    answer["state"] = "forged-" + answer["state"]
    requests.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(answer)}", timeout=10)
    result = finish(process)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == (
        "connector: error: the answer from testledger does not belong to this sign-in "
        "(wrong state); nothing was stored; start again"
    )
    assert server.token_requests == []  # the code was never exchanged


def test_no_answer_within_the_timeout_exits_1(cli):
    cli("init")
    result = cli("connect", "testledger", "--no-browser", "--port", "0", "--timeout", "1")
    assert result.code == 1
    assert result.out.startswith("http://127.0.0.1:")  # the URL, alone on the first line
    assert result.err.strip().splitlines()[-1] == (
        "connector: error: no answer from the browser within 1 s; nothing was stored; "
        "run connect again (or pass a longer --timeout)"
    )


def test_configuration_problems_stop_before_the_url(cli, monkeypatch):
    cli("init")
    monkeypatch.delenv("CONNECTOR_SECRET_KEY")
    result = cli("connect", "testledger", "--no-browser", "--port", "0")
    assert result.code == 2 and result.out == ""
    assert "CONNECTOR_SECRET_KEY is not set" in result.err
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", new_key())
    monkeypatch.delenv("CONNECTOR_TESTLEDGER_CLIENT_SECRET")
    result = cli("connect", "testledger", "--no-browser", "--port", "0")
    assert result.code == 2 and result.out == ""
    assert "CONNECTOR_TESTLEDGER_CLIENT_SECRET is not set" in result.err
    assert cli("connect", "testledger", "--path", "/tmp").code == 2


def test_a_port_in_use_is_a_usage_error(cli):
    cli("init")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("connect", "testledger", "--no-browser", "--port", str(port))
    assert result.code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.err


def test_reconnect_required_is_listed_and_sync_says_why(cli, oauth, server, clock):
    cli("init")
    connection = oauth_support.connect(oauth)
    flow.discover(oauth, connection)
    clock.advance(700)
    server.drop_next_refresh = True
    with pytest.raises(ReconnectRequired):
        oauth.tokens(connection).access_token()

    [row] = cli("connections", "--json").json()
    assert row["status"] == "reconnect_required" and row["status_changed_at"]
    assert "the answer to a token refresh was lost" in row["status_reason"]
    assert "1: connection 'acme' must be connected again" in cli("connections").out
    synced = cli("sync")
    assert synced.code == 1
    assert "skipped: connection 'acme' must be connected again" in synced.out
    assert server.refresh_attempts == 2  # the lost one and its single check; sync tried none


def test_secrets_rotate_then_old_key_no_longer_opens(cli, oauth, env, monkeypatch):
    cli("init")
    oauth_support.connect(oauth)
    old = env["CONNECTOR_SECRET_KEY"]
    new = cli("secrets", "new-key").out.strip()
    Fernet(new.encode())  # a valid key
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", f"{new},{old}")
    rotated = cli("secrets", "rotate")
    assert rotated.code == 0 and "re-encrypted 1 stored record(s)" in rotated.out
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", old)
    refused = cli("keep-alive")
    assert refused.code == 2
    assert refused.err.strip() == (
        "connector: error: CONNECTOR_SECRET_KEY cannot decrypt the stored secrets of "
        "connection_tokens 1: set the key it was encrypted with (after a new key, "
        "comma-separated, until `connector secrets rotate` has run)"
    )
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", new)
    alive = cli("keep-alive")
    assert alive.code == 0 and "not due" in alive.out


def test_disconnect_a_files_connection_keeps_its_history(cli, tmp_path):
    cli("init")
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\n2026-1,D1,2026-01-31,100.00\n"
    )
    assert cli("connect", "files", "--name", "csv", "--path", str(exports)).code == 0
    assert cli("sync").code == 0
    gone = cli("disconnect", "csv")
    assert gone.code == 0 and "disconnected 'csv' (files): no tokens were stored" in gone.out
    [row] = cli("connections", "--json").json()
    assert row["status"] == "disconnected"
    assert [i["invoice_number"] for i in cli("items", "--json").json()] == ["2026-1"]
    assert cli("sync").out.startswith("nothing to sync")
    assert cli("disconnect", "nope").code == 1
