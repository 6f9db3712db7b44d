"""`connector users add | grant | list`, and the core beneath it (argon2 hashes, sign-in)."""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import select

from connector.firms import users as firm_users
from connector.firms.tables import users
from connector.store import Store
from tests.fakes.cli import cli_runner

PASSWORD = "lang genoeg wachtwoord"


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    run = cli_runner(capsys)
    assert run("init").code == 0
    return run


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_with_password_stdin_stores_an_argon2_hash_not_the_password(
    cli, monkeypatch, store_url
):
    _stdin(monkeypatch, PASSWORD + "\n")
    result = cli(
        "users",
        "add",
        "Anna@Kantoor.NL",
        "--firm",
        "Kantoor",
        "--role",
        "owner",
        "--password-stdin",
    )
    assert result.code == 0, result.err
    assert "user anna@kantoor.nl (owner) of firm Kantoor added" in result.out
    store = Store(store_url)
    with store.begin() as conn:
        stored = conn.execute(select(users.c.email, users.c.password_hash)).one()
        now = datetime.now(UTC)
        assert firm_users.authenticate(conn, "anna@kantoor.nl", PASSWORD, now) is not None
        assert firm_users.authenticate(conn, "anna@kantoor.nl", PASSWORD + "x", now) is None
        assert firm_users.authenticate(conn, "nobody@kantoor.nl", PASSWORD, now) is None
    store.dispose()
    assert stored.email == "anna@kantoor.nl"
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    listed = cli("users", "list")
    assert "anna@kantoor.nl" in listed.out and "Kantoor" in listed.out


def test_add_asks_for_the_password_twice_at_a_prompt(cli, monkeypatch):
    asked: list[str] = []
    answers = iter([PASSWORD, "something else", PASSWORD, PASSWORD])

    def getpass(prompt: str = "") -> str:  # click's hidden prompt reads through getpass
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", getpass)
    result = cli("users", "add", "b@kantoor.nl", "--firm", "Kantoor", "--role", "viewer")
    assert result.code == 0, result.err
    # A confirmation that differs is asked again, never taken.
    assert len(asked) == 4 and "Repeat" in asked[1]


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--role", "admin"], PASSWORD, "Invalid value for '--role'"),
        (["--role", "owner"], "kort", "at least 10 characters"),
        (["--role", "owner", "--administration", "99"], PASSWORD, "no administration '99'"),
    ],
)
def test_bad_input_is_one_line_and_no_user(cli, monkeypatch, store_url, args, password, message):
    _stdin(monkeypatch, password + "\n")
    result = cli("users", "add", "c@kantoor.nl", "--firm", "Kantoor", *args, "--password-stdin")
    assert result.code == 2 or result.code == 1
    assert message in result.err
    assert "Traceback" not in result.err
    store = Store(store_url)
    with store.begin() as conn:
        assert conn.execute(select(users.c.id)).first() is None
    store.dispose()


def test_the_same_email_twice_is_refused(cli, monkeypatch):
    for expected in (0, 2):
        _stdin(monkeypatch, PASSWORD + "\n")
        result = cli(
            "users",
            "add",
            "d@kantoor.nl",
            "--firm",
            "Kantoor",
            "--role",
            "owner",
            "--password-stdin",
        )
        assert result.code == expected
    assert "exists already" in result.err
