"""Point 12.7: `connector demo` never writes its fictitious data into a store with real data."""

from __future__ import annotations

import pytest

from connector.store import Store
from connector.store import records
from tests.fakes.cli import cli_runner

ITEMS = (
    "administration,debtor_code,debtor_name,invoice_number,due_date,open_amount,currency\n"
    "acme,K1,Klant Een,F-1,2024-12-01,100.00,EUR\n"
)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'real.db'}")
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    return cli_runner(capsys)


def _connections(url: str) -> list[tuple[str, str]]:
    store = Store(url)
    try:
        with store.begin() as conn:
            return [(c.name, c.ledger) for c in records.list_connections(conn)]
    finally:
        store.dispose()


def test_demo_refuses_a_store_with_real_connections_unless_given_its_own(cli, tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--name", "books", "--path", str(folder)).code == 0
    real = f"sqlite:///{tmp_path / 'real.db'}"

    refused = cli("demo")
    assert refused.code == 2
    assert refused.err.strip().splitlines() == [
        f"connector: error: the store {real} holds connections that are not the demo's "
        "('books' (files)); the demo would mix fictitious administrations into it. Run it on "
        "a store of its own: connector demo --store demo.db"
    ]
    assert _connections(real) == [("books", "files")]
    assert not (tmp_path / "demo-data").exists()  # nothing was written at all

    own = cli("demo", "--store", "demo.db")
    assert own.code == 0, own.err
    assert _connections(real) == [("books", "files")]
    assert _connections(f"sqlite:///{tmp_path / 'demo.db'}") == [("demo", "files")]
