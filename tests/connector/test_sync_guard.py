"""Issue 12 point 6: a sync that would close more than a share of the open items stops.

In the core sync engine, so every ledger has it: the files ledger (a header-only export),
and any other ledger (here the fake one) whose feed suddenly lists much less.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from connector.domain import Administration
from connector.domain import Debtor
from connector.errors import ConfigError
from connector.store import Store
from connector.store import records
from connector.sync import CloseGuard
from connector.sync import close_guard_from
from connector.sync import sync_all
from tests.fakes.cli import cli_runner
from tests.fakes.ledger import FakeLedger
from tests.fakes.ledger import item

CLOCK = lambda: datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # noqa: E731


@pytest.fixture
def ledger() -> FakeLedger:
    fake = FakeLedger(admins=[Administration("a", "Alpha")])
    fake.debtors_by_admin = {"a": [Debtor("D1", "Jansen B.V.")]}
    fake.set_items("a", [item(n) for n in range(40)])
    return fake


def _sync(store: Store, ledger: FakeLedger, **kwargs):
    with store.begin() as conn:
        if not records.list_connections(conn):
            c = records.save_connection(conn, name="fake", ledger="fake", config={}, now=CLOCK())
            records.save_administrations(conn, c.id, ledger.administrations())
    [summary] = sync_all(store, lambda _c: ledger, clock=CLOCK, **kwargs)
    return summary


def _open(store: Store) -> int:
    with store.begin() as conn:
        return len(records.list_items(conn, status="open"))


def test_closing_more_than_half_is_refused_and_changes_nothing(store: Store, ledger) -> None:
    assert _sync(store, ledger).new == 40
    ledger.set_items("a", [item(n) for n in range(15)])  # 25 of 40 would close
    refused = _sync(store, ledger)
    assert not refused.ok
    assert refused.error == (
        "Alpha: this sync would close 25 of its 40 open items (62 %, more than the 50 % "
        "allowed by [sync] max_close_share); nothing was changed. Check the export or the "
        "ledger; if they are right, run: connector sync --allow-mass-close"
    )
    assert _open(store) == 40
    allowed = _sync(store, ledger, guard=CloseGuard(allow=True))
    assert allowed.ok and allowed.closed == 25
    assert _open(store) == 15


def test_up_to_the_share_passes_and_the_share_is_configurable(store: Store, ledger) -> None:
    _sync(store, ledger)
    ledger.set_items("a", [item(n) for n in range(20)])  # exactly half
    assert _sync(store, ledger).closed == 20
    ledger.set_items("a", [item(n) for n in range(5)])  # 15 of 20
    assert not _sync(store, ledger).ok
    assert _sync(store, ledger, guard=CloseGuard(max_share=0.8)).closed == 15


def test_a_few_closes_in_a_small_administration_pass(store: Store, ledger) -> None:
    ledger.set_items("a", [item(n) for n in range(4)])
    _sync(store, ledger)
    ledger.set_items("a", [item(0)])  # three of four paid: ordinary
    assert _sync(store, ledger).closed == 3


def test_an_empty_listing_of_a_larger_administration_is_refused(store: Store, ledger) -> None:
    _sync(store, ledger)
    ledger.set_items("a", [])
    refused = _sync(store, ledger)
    assert "would close 40 of its 40 open items (100 %" in refused.error
    assert _open(store) == 40


def test_the_last_invoices_of_a_small_administration_may_all_be_paid(store: Store, ledger):
    ledger.set_items("a", [item(n) for n in range(3)])
    _sync(store, ledger)
    ledger.set_items("a", [])
    assert _sync(store, ledger).closed == 3


def test_the_guard_from_the_config() -> None:
    assert close_guard_from({}, allow=False, where="c.toml") == CloseGuard(0.5, False)
    assert close_guard_from({"max_close_share": 0.9}, allow=True, where="c.toml") == CloseGuard(
        0.9, True
    )
    for bad in (0, 1.5, "half", True, -0.1):
        with pytest.raises(ConfigError, match=r"c.toml: sync.max_close_share: expected a share"):
            close_guard_from({"max_close_share": bad}, allow=False, where="c.toml")


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    return cli_runner(capsys)


HEADER = "invoice_number,debtor_code,due_date,open_amount\n"


def test_a_header_only_export_stops_the_sync_until_allowed(cli, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    rows = "".join(f"F{n},D1,2026-03-01,10.00\n" for n in range(12))
    (exports / "items.csv").write_text(HEADER + rows, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--name", "acme", "--path", str(exports)).code == 0
    assert cli("sync").code == 0

    (exports / "items.csv").write_text(HEADER, encoding="utf-8")  # the header only
    result = cli("sync")
    assert result.code == 1
    assert "would close 12 of its 12 open items" in result.out
    assert "connector sync --allow-mass-close" in result.out
    assert "Traceback" not in result.err
    assert len(cli("items", "--json").json()) == 12

    # The share from the config file: 100 % lets it through.
    (tmp_path / "connector.toml").write_text("[sync]\nmax_close_share = 1.0\n", encoding="utf-8")
    assert cli("sync").code == 0
    assert cli("items", "--json").json() == []


def test_allow_mass_close_flag(cli, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    rows = "".join(f"F{n},D1,2026-03-01,10.00\n" for n in range(12))
    (exports / "items.csv").write_text(HEADER + rows, encoding="utf-8")
    cli("init")
    cli("connect", "files", "--name", "acme", "--path", str(exports))
    cli("sync")
    (exports / "items.csv").write_text(HEADER + "F0,D1,2026-03-01,10.00\n", encoding="utf-8")
    assert cli("sync").code == 1
    result = cli("sync", "--allow-mass-close")
    assert result.code == 0, result.err
    assert len(cli("items", "--json").json()) == 1


def test_a_bad_share_in_the_config_is_one_line(cli, tmp_path: Path) -> None:
    cli("init")
    for value, expected in (('"half"', "a valid number"), ("1.5", "a share above 0 and at most 1")):
        (tmp_path / "connector.toml").write_text(f"[sync]\nmax_close_share = {value}\n")
        result = cli("sync")
        assert result.code == 2
        assert f"sync.max_close_share: expected {expected}" in result.err
        assert "Traceback" not in result.err and len(result.err.splitlines()) == 1


def test_the_scheduled_sync_has_the_guard_and_reads_the_share(cli, tmp_path: Path) -> None:
    from connector.cli.jobs import sync_job

    exports = tmp_path / "exports"
    exports.mkdir()
    rows = "".join(f"F{n},D1,2026-03-01,10.00\n" for n in range(12))
    (exports / "items.csv").write_text(HEADER + rows, encoding="utf-8")
    config = tmp_path / "connector.toml"
    config.write_text("[sync]\nmax_close_share = 0.5\n", encoding="utf-8")
    cli("init")
    cli("connect", "files", "--name", "acme", "--path", str(exports))
    sync_job(str(config))
    (exports / "items.csv").write_text(HEADER, encoding="utf-8")
    sync_job(str(config))
    assert len(cli("items", "--json").json()) == 12  # refused
    config.write_text("[sync]\nmax_close_share = 1\n", encoding="utf-8")
    sync_job(str(config))
    assert cli("items", "--json").json() == []
