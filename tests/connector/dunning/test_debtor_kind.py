"""Issue 13.1: a debtor whose kind is not known is a consumer, in every adapter and the plan."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.exact import mapping as exact_mapping
from adapters.files.client import Cell
from adapters.files.client import Table
from adapters.files.mapping import Problems
from adapters.files.mapping import derived_debtors
from adapters.files.mapping import parse_debtors
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.kinds import describe_kind
from tests.fakes.cli import cli_runner


def test_the_domain_default_is_consumer() -> None:
    assert Debtor("X", "X").kind is DebtorKind.CONSUMER


@pytest.mark.parametrize(
    ("vat", "kvk", "kind"),
    [
        ("", "", DebtorKind.CONSUMER),
        ("NL001234567B01", "", DebtorKind.BUSINESS),
        ("", "12345678", DebtorKind.BUSINESS),
        ("  ", "", DebtorKind.CONSUMER),
    ],
)
def test_exact_account_is_a_business_only_with_a_vat_or_kvk_number(
    vat: str, kvk: str, kind: DebtorKind
) -> None:
    row = {
        "ID": "g",
        "Code": "  42",
        "Name": "P. Jansen",
        "VATNumber": vat,
        "ChamberOfCommerce": kvk,
    }
    assert exact_mapping.debtor(row).kind is kind


def _table(header: list[str], *rows: list[Cell]) -> Table:
    return Table(tuple(header), 1, iter(enumerate([list(r) for r in rows], start=2)))


def test_files_ledger_without_kind_is_consumer() -> None:
    problems = Problems()
    parsed = parse_debtors(_table(["Debiteur", "Naam"], ["D1", "Acme"]), "d.csv", problems)
    assert parsed.debtors[0].kind is DebtorKind.CONSUMER
    assert derived_debtors({"D9": "Iemand"})[0].kind is DebtorKind.CONSUMER


def test_describe_kind_names_the_rule() -> None:
    assert describe_kind("consumer", "", "") == "consumer (no VAT/KvK number)"
    assert describe_kind("business", "NL001234567B01", "") == "business (VAT/KvK number)"
    assert describe_kind("business", "", "") == "business (as the ledger says)"
    assert describe_kind("consumer", "", "12345678") == "consumer (as the ledger says)"


ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,K1,2024-12-01,2025-01-01,100.00,100.00,EUR
F-2,K2,2024-12-01,2025-01-01,100.00,100.00,EUR
"""
DEBTORS = """debtor_code,name,email,vat_number
K1,Onbekend Soort,k1@example.nl,
K2,Zaak BV,k2@example.nl,NL001234567B01
"""


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    return cli_runner(capsys)


def test_cli_debtors_shows_the_rule_and_no_bik_for_an_unknown_kind(cli, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    listing = cli("debtors")
    assert listing.code == 0, listing.err
    k1 = next(line for line in listing.out.splitlines() if "K1" in line)
    assert "consumer (no VAT/KvK number)" in k1
    rows = {d["code"]: d for d in cli("debtors", "--json").json()}
    assert rows["K1"]["kind"] == "consumer"
    assert rows["K1"]["kind_rule"] == "consumer (no VAT/KvK number)"
    # The files ledger takes the kind column when there is one; without it: consumer.
    assert rows["K2"]["kind"] == "consumer"
    # A sommatie with BIK: the debtor of unknown kind gets the consumer 14-day letter, which
    # announces the costs and never charges them.
    (tmp_path / "connector.toml").write_text(SOMMATIE, encoding="utf-8")
    import os

    os.environ["CONNECTOR_CONFIG"] = str(tmp_path / "connector.toml")
    try:
        plan = cli("dunning", "plan", "--date", "2025-01-10", "--json")
    finally:
        del os.environ["CONNECTOR_CONFIG"]
    assert plan.code == 0, plan.err
    k1_letter = next(x for x in plan.json() if x["debtor_code"] == "K1")
    assert k1_letter["step"] == "sommatie"
    assert Decimal(k1_letter["collection_costs"]) == 0


SOMMATIE = """
[policies.default]
[[policies.default.steps]]
name = "sommatie"
kind = "final_notice"
days_after_due = 3
channels = ["email"]
template = "final_notice"
consumer_template = "final_notice_consumer"
collection_costs = "bik"
"""
