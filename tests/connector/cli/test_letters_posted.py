"""Issue 13.3: the term of a printed 14-day letter runs from its recorded posting date."""

from __future__ import annotations

import json
from datetime import date
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fakes.cli import cli_runner

ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,C1,2024-12-01,2025-01-01,300.00,300.00,EUR
"""
DEBTORS = """debtor_code,name,kind,email,street,postal_code,city
C1,J. de Vries,consumer,,Dorpsstraat 1,1234 AB,Ergens
"""
POLICY = """
[channels.letter]
folder = "print"

[policies.default]
[[policies.default.steps]]
name = "veertiendagenbrief"
kind = "final_notice"
days_after_due = 3
channels = ["letter"]
template = "final_notice"
consumer_template = "final_notice_consumer"
collection_costs = "bik"
[[policies.default.steps]]
name = "incasso"
kind = "collection"
after_previous_term = true
channels = ["collection"]
template = "collection_notice"
collection_costs = "bik"

[administrations.export.sender]   # complete, or every letter is held (12.1)
name = "Export B.V."
street = "Kade 1"
postal_code = "1011 AA"
city = "Amsterdam"
iban = "NL91ABNA0417164300"
kvk_number = "12345678"
email = "debiteuren@export.example"
"""


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    (tmp_path / "connector.toml").write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    return cli_runner(capsys)


def test_recording_a_later_posting_date_moves_the_term_and_the_hand_over(cli, tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    sent = cli("dunning", "run", "--date", "2025-01-06")  # a Monday
    assert sent.code == 0, sent.err
    [letter] = cli("dunning", "history", "--json").json()
    presumed_end = date.fromisoformat(letter["term_end"])
    # The letter lay in the print folder for a week before it was posted.
    pdfs = sorted((tmp_path / "print").glob("*.pdf"))
    assert len(pdfs) == 1
    result = cli("letters", "posted", str(pdfs[0]), "--date", "2025-01-13")
    assert result.code == 0, result.err
    assert "1 letter(s) recorded as posted on 2025-01-13" in result.out
    [after] = cli("dunning", "history", "--json").json()
    assert date.fromisoformat(after["delivered_on"]) > date.fromisoformat(letter["delivered_on"])
    new_end = date.fromisoformat(after["term_end"])
    assert new_end > presumed_end
    # No hand-over (and no costs) on the day after the presumed term, only after the new one.
    day_after = presumed_end + timedelta(days=1)
    early = cli("dunning", "plan", "--date", day_after.isoformat(), "--json")
    assert [x["step"] for x in early.json()] == []
    late = cli("dunning", "plan", "--date", (new_end + timedelta(days=1)).isoformat(), "--json")
    assert [x["step"] for x in late.json()] == ["incasso"]
    # Never earlier: recording an earlier posting date changes no date.
    again = cli("letters", "posted", "--all", "--date", "2025-01-06")
    assert again.code == 0 and "0 letter(s)" in again.out  # --all skips recorded ones
    assert json.dumps(cli("dunning", "history", "--json").json()) == json.dumps([after])
    handover = cli("dunning", "run", "--date", (new_end + timedelta(days=1)).isoformat())
    assert handover.code == 0, handover.err
    [dossier_file] = (tmp_path / "collection").glob("*.json")
    dossier = json.loads(dossier_file.read_text())
    [sent_letter] = dossier["letters"]
    assert sent_letter["presumed_delivered_on"] == after["delivered_on"]
    assert "delivered_on" not in sent_letter


def test_a_returned_14_day_letter_means_no_costs(cli, tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    assert cli("dunning", "run", "--date", "2025-01-06").code == 0
    [letter] = cli("dunning", "history", "--json").json()
    after_term = date.fromisoformat(letter["term_end"]) + timedelta(days=1)
    before = cli("dunning", "plan", "--date", after_term.isoformat(), "--json").json()
    assert [(x["step"], x["collection_costs"]) for x in before] == [("incasso", "45.00")]
    result = cli("letters", "returned", letter["key"], "--reason", "onbekend op adres")
    assert result.code == 0, result.err
    after = cli("dunning", "plan", "--date", after_term.isoformat(), "--json").json()
    assert [(x["step"], x["collection_costs"]) for x in after] == [("incasso", "0.00")]
    assert cli("letters", "returned", "1/C1/nope/1").code == 1
