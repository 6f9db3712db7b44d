"""A seeded store with two firms and three personas, and the app serving the workspace.

Acme (firm) has the administration of the `export` files ledger with letters awaiting approval
(approval mode); Other (firm) has its own. Personas: owner@acme.test (owner of Acme),
viewer@acme.test (read-only colleague, granted Acme's administration), owner@other.test (a
user of another firm).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fakes.cli import cli_runner

PASSWORD = "correct horse battery"
ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,K1,2024-12-01,2025-01-01,100.00,100.00,EUR
F-2,K1,2024-12-05,2025-01-05,250.00,250.00,EUR
F-4,K2,2024-12-01,2025-01-01,80.00,80.00,EUR
F-5,K3,2024-12-01,2025-03-01,500.00,500.00,EUR
"""
DEBTORS = """debtor_code,name,kind,email,phone
K1,Bakkerij Korf,business,k1@example.nl,050-1111111
K2,J. Jansen,consumer,,
K3,Later BV,business,k3@example.nl,
"""
OTHER_ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
X-1,Z1,2024-12-01,2025-01-01,999.00,999.00,EUR
"""
OTHER_DEBTORS = """debtor_code,name,kind,email,phone
Z1,Geheim BV,business,z1@example.nl,
"""
CONFIG = """
[policies.default]
min_days_between_letters = 0
[[policies.default.steps]]
name = "bellen"
kind = "reminder"
days_after_due = 3
channels = ["call"]

[administrations.export]
approval = true
[administrations.other]
approval = true
"""

OWNER = "owner@acme.test"
VIEWER = "viewer@acme.test"
OUTSIDER = "owner@other.test"


@dataclass
class Seeded:
    url: str
    acme_admin: int
    other_admin: int


def _books(folder: Path, items: str, debtors: str) -> Path:
    folder.mkdir()
    (folder / "items.csv").write_text(items, encoding="utf-8")
    (folder / "debtors.csv").write_text(debtors, encoding="utf-8")
    return folder


@pytest.fixture
def seeded(store_url, tmp_path, monkeypatch, capsys) -> Seeded:
    """The store seeded through the CLI itself: init, connect, sync, a run in approval mode,
    users add (password on stdin)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.setenv("CONNECTOR_WORKSPACE_SECRET", "test workspace secret")
    monkeypatch.delenv("CONNECTOR_SECRET_KEY", raising=False)
    config = tmp_path / "connector.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(config))
    cli = cli_runner(capsys)
    assert cli("init").code == 0
    export = _books(tmp_path / "export", ITEMS, DEBTORS)
    other = _books(tmp_path / "other", OTHER_ITEMS, OTHER_DEBTORS)
    assert cli("connect", "files", "--name", "acme", "--path", str(export)).code == 0
    assert cli("connect", "files", "--name", "other", "--path", str(other)).code == 0
    result = cli("sync")
    assert result.code == 0, result.err
    admins = cli("administrations", "--json")
    ids = {a["external_id"]: a["id"] for a in admins.json()} if admins.code == 0 else {}
    run = cli("dunning", "run", "--date", "2025-01-10")
    assert run.code == 0, run.err + run.out
    assert "await approval" in run.out, run.out
    for email, firm, role, admin in (
        (OWNER, "Acme", "owner", "export"),
        (VIEWER, "Acme", "viewer", "export"),
        (OUTSIDER, "Other", "owner", "other"),
    ):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        added = cli(
            "users",
            "add",
            email,
            "--firm",
            firm,
            "--role",
            role,
            "--administration",
            str(ids.get(admin, admin)),
            "--password-stdin",
        )
        assert added.code == 0, added.err
    return Seeded(store_url, int(ids.get("export", 0)), int(ids.get("other", 0)))


@pytest.fixture
def app(seeded) -> Iterator[Flask]:
    from connector.cli.context import Context
    from connector.cli.http import build_app

    ctx = Context(config_path=None, debug=False)
    flask_app = build_app(ctx)
    flask_app.config["TESTING"] = True
    yield flask_app
    ctx.close()


CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/w/login")
    response = client.post(
        "/w/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 302, response.text


@pytest.fixture
def client_for(app) -> Iterator[object]:
    made: list[FlaskClient] = []

    def make(email: str | None) -> FlaskClient:
        client = app.test_client()
        client.environ_base["wsgi.url_scheme"] = "https"  # the session cookie is Secure
        if email is not None:
            login(client, email)
        made.append(client)
        return client

    yield make
