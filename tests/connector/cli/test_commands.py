from __future__ import annotations

import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.cli import cli_runner

AMOUNT = re.compile(r"^-?\d+\.\d{2}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    """Run `connector ...` in-process against a fresh store in a fresh working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)

    return cli_runner(capsys)


def _write_items(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.csv").write_text(text, encoding="utf-8")


def test_demo_then_items_json(cli):
    result = cli("demo")
    assert result.code == 0, result.err
    assert "Aging of open items" in result.out
    for name in ("Bakkerij van Dijk", "Installatiebedrijf Jansen", "Studio Noord"):
        assert name in result.out
    items = cli("items", "--json").json()
    assert len(items) >= 1400
    first = items[0]
    assert {
        "administration",
        "id",
        "invoice_number",
        "debtor_code",
        "invoice_date",
        "due_date",
        "currency",
        "open_amount",
        "status",
    } <= set(first)
    assert all(AMOUNT.match(i["open_amount"]) for i in items)
    assert all(ISO_DATE.match(i["due_date"]) for i in items)
    assert {i["status"] for i in items} == {"open", "overdue"}
    overdue = cli("items", "--status", "overdue", "--json").json()
    assert 0 < len(overdue) < len(items)
    aging = cli("report", "aging", "--json").json()
    total = sum(Decimal(row["total"]) for row in aging)
    assert total == sum(Decimal(i["open_amount"]) for i in items)
    debtors = cli("debtors", "--json").json()
    assert {"administration", "code", "name", "email", "kind"} <= set(debtors[0])
    assert {d["kind"] for d in debtors} == {"business", "consumer"}
    # The demo ends with a dunning run in review mode: every letter is written, none sent.
    assert "Dunning run in review mode" in result.out
    letters = sorted(p.relative_to("review") for p in Path("review").rglob("*.eml"))
    assert letters and len(letters) == len(list(Path("review").rglob("*.pdf")))
    history = cli("dunning", "history", "--json").json()
    assert {h["status"] for h in history} <= {"review", "blocked"}
    assert not any(h["status"] == "sent" for h in history)
    again = cli("demo")
    assert again.code == 0  # running it again is harmless: the same letters, reviewed again
    assert sorted(p.relative_to("review") for p in Path("review").rglob("*.eml")) == letters
    assert len(cli("dunning", "history", "--json").json()) == len(history)
    assert len(cli("items", "--json").json()) == len(items)


def test_malformed_file_is_listed_and_changes_nothing(cli, tmp_path):
    exports = tmp_path / "exports" / "acme"
    _write_items(
        exports,
        "invoice_number,debtor_code,due_date,open_amount\n"
        'F1,D1,2026-03-01,100.00\nF2,D2,01-04-2026,"1.234,56"\n',
    )
    assert cli("init").code == 0
    assert cli("connect", "files", "--name", "acme", "--path", str(exports)).code == 0
    assert cli("sync").code == 0
    before = cli("items", "--status", "all", "--json").json()
    assert [i["open_amount"] for i in before] == ["100.00", "1234.56"]

    _write_items(
        exports,
        "invoice_number,debtor_code,due_date,open_amount\n"
        "F1,D1,2026-03-01,50.00\nF2,D2,31-02-2026,12\nF3,,2026-03-01,x\n",
    )
    result = cli("sync")
    assert result.code == 1
    problems = [line.strip() for line in result.err.splitlines() if line.startswith("  ")]
    assert problems == [
        "items.csv:3: due_date: not a date: '31-02-2026' (expected 2026-03-01 or 01-03-2026)",
        "items.csv:4: debtor_code: empty; a debtor code is required",
        "items.csv:4: open_amount: not an amount: 'x' (expected an amount such as 1234,56 "
        "or 1.234,56 or 1234.56)",
    ]
    assert "Traceback" not in result.err
    assert cli("items", "--status", "all", "--json").json() == before


def test_store_not_initialised_is_a_configuration_error(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = cli("items")
    assert result.code == 2
    assert result.err.strip().endswith("is not set up; run: connector init")
    assert cli("init").code == 0
    assert cli("items").code == 0


def test_exit_codes_and_one_line_errors(cli, tmp_path):
    unknown = cli("connect", "sap")
    assert unknown.code == 2
    [line] = unknown.err.strip().splitlines()
    assert line.startswith("connector: error: unknown ledger 'sap'; installed: ")
    assert "files" in line.split("installed: ")[1].split(", ")
    missing = cli("connect", "files", "--path", str(tmp_path / "nowhere"))
    assert missing.code == 2 and len(missing.err.strip().splitlines()) == 1
    assert cli("items", "--administration", "42").code == 1
    assert cli("items", "--status", "later").code == 2
    (tmp_path / "connector.toml").write_text('timezone = "Nowhere/Land"\n')
    bad = cli("items")
    assert bad.code == 2
    assert bad.err.strip() == (
        "connector: error: connector.toml: timezone: expected an IANA timezone such as "
        "Europe/Amsterdam, got 'Nowhere/Land'"
    )


def test_sync_without_connections_says_what_to_do(cli):
    cli("init")
    result = cli("sync")
    assert result.code == 0 and "connect a ledger first" in result.out


def test_installed_console_script_runs_the_demo(tmp_path):
    """The README's second command, as a user runs it."""
    exe = shutil.which("connector") or str(Path(sys.executable).parent / "connector")
    proc = subprocess.run(
        [exe, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Aging of open items" in proc.stdout
    assert (tmp_path / "connector.db").exists()


def test_run_once_creates_the_store_and_syncs(cli, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'run.db'}")
    exports = tmp_path / "exports" / "acme"
    _write_items(exports, "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,7\n")
    result = cli("run", "--once")  # migrates a store that did not exist yet
    assert result.code == 0
    assert cli("connect", "files", "--path", str(exports)).code == 0
    with caplog.at_level("INFO", logger="connector"):
        assert cli("run", "--once").code == 0
    assert "synced acme: 1 items, 1 new" in caplog.text
    assert cli("items", "--json").json()[0]["open_amount"] == "7.00"
