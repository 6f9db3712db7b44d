"""Issue 13.2: one consumer 14-day letter takes in every claim in default (art. 6:96 lid 7 BW)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.dunning import law
from connector.dunning.model import StepKind
from connector.dunning.plan import ItemState
from connector.dunning.plan import TermLetter
from tests.fakes.cli import cli_runner
from tests.fakes.dunning import D
from tests.fakes.dunning import d
from tests.fakes.dunning import debtor
from tests.fakes.dunning import row
from tests.fakes.dunning import run_plan
from tests.fakes.dunning import snapshot


def _state(step: str, index: int, sent_on: str, action: int) -> ItemState:
    return ItemState(action, "default", step, index, "sent", d(sent_on), d(sent_on), None)


def test_the_14_day_letter_takes_in_every_overdue_item_and_sums_the_principals():
    # Item 1 is due for the final notice; item 2 is overdue but only at reminder_1; item 3 has
    # no letter yet but is overdue; item 4 is not due yet and stays out.
    snap = snapshot(
        [
            row(1, amount="300.00", debtor="C1", due="2024-03-01"),
            row(2, amount="200.00", debtor="C1", due="2024-03-20"),
            row(3, amount="100.00", debtor="C1", due="2024-04-01"),
            row(4, amount="999.00", debtor="C1", due="2024-05-01"),
        ],
        debtors=[debtor("C1", consumer=True)],
        states={
            1: _state("reminder_2", 1, "2024-03-19", 7),
            2: _state("reminder_1", 0, "2024-03-22", 8),
        },
    )
    result = run_plan(snap, "2024-04-04")
    letters = [a for a in result.actions if a.letter.step_kind is not StepKind.COLLECTION]
    assert len(letters) == 1, [a.key for a in result.actions]
    letter = letters[0].letter
    assert letter.step_name == "final_notice"
    assert [i.item_id for i in letter.items] == [1, 2, 3]
    assert letter.principal == D("600.00")
    # Costs over the summed principals: 15 % of 600 = 90.00, not 3 x the € 40 minimum.
    assert letter.legal_term is not None
    assert letter.legal_term.costs_if_unpaid == law.collection_costs(D("600.00")).total
    assert letter.legal_term.costs_if_unpaid == D("90.00")


def test_no_second_14_day_letter_for_an_item_that_could_have_been_in_the_first():
    # A 14-day letter went out on 2024-04-04 for item 1; item 2 was overdue then (due
    # 2024-03-20) but was left out. It must not get a 14-day letter of its own.
    term = TermLetter(9, D("300.00"), d("2024-04-23"), (1,))
    snap = snapshot(
        [
            row(1, amount="300.00", debtor="C1", due="2024-03-01"),
            row(2, amount="200.00", debtor="C1", due="2024-03-20"),
        ],
        debtors=[debtor("C1", consumer=True)],
        states={
            1: ItemState(
                9,
                "default",
                "final_notice",
                2,
                "sent",
                d("2024-04-04"),
                d("2024-04-06"),
                d("2024-04-23"),
            ),
            2: _state("reminder_2", 1, "2024-04-05", 10),
        },
        term_of={1: 9},
        terms={9: term},
    )
    for day in ("2024-04-23", "2024-05-01", "2024-06-01"):
        for action in run_plan(snap, day).actions:
            if action.letter.step_name == "final_notice":
                assert 2 not in [i.item_id for i in action.letter.items], day


ITEMS = """invoice_number,debtor_code,invoice_date,due_date,amount,open_amount,currency
F-1,C1,2024-12-01,2025-01-01,300.00,300.00,EUR
F-2,C1,2024-12-03,2025-01-03,200.00,200.00,EUR
"""
DEBTORS = """debtor_code,name,kind,email
C1,J. de Vries,consumer,c1@example.nl
"""
POLICY = """
[policies.default]
[[policies.default.steps]]
name = "veertiendagenbrief"
kind = "final_notice"
days_after_due = 3
channels = ["email"]
template = "final_notice"
consumer_template = "final_notice_consumer"
collection_costs = "bik"
interest = "statutory"
"""


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    (tmp_path / "connector.toml").write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    return cli_runner(capsys)


def test_cli_plan_puts_both_overdue_invoices_in_one_14_day_letter(cli, tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "items.csv").write_text(ITEMS, encoding="utf-8")
    (folder / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    assert cli("init").code == 0
    assert cli("connect", "files", "--path", str(folder)).code == 0
    assert cli("sync").code == 0
    # On 2025-01-04 F-1 is due for the letter; F-2 is overdue (in default) and joins it.
    plan = cli("dunning", "plan", "--date", "2025-01-04", "--json")
    assert plan.code == 0, plan.err
    letters = plan.json()
    assert len(letters) == 1
    assert letters[0]["invoice_numbers"] == ["F-1", "F-2"]
    assert Decimal(letters[0]["principal"]) == Decimal("500.00")
    assert date(2025, 1, 4)


# --- 13.4 and 13.12: policy validation ---------------------------------------------------------

FINAL_WITHOUT_CONSUMER_TEMPLATE = """
[policies.default]
[[policies.default.steps]]
name = "sommatie"
kind = "final_notice"
days_after_due = 3
channels = ["email"]
template = "final_notice"
collection_costs = "bik"
"""
REMINDER_TERM_TOO_LONG = """
[policies.default]
[[policies.default.steps]]
name = "herinnering"
kind = "reminder"
days_after_due = 2
channels = ["email"]
template = "reminder_1"
pay_within_days = 14
[[policies.default.steps]]
name = "aanmaning"
kind = "final_notice"
days_after_due = 10
channels = ["email"]
template = "final_notice"
consumer_template = "final_notice_consumer"
collection_costs = "bik"
"""


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (FINAL_WITHOUT_CONSUMER_TEMPLATE, "steps[0].consumer_template: a final_notice step needs"),
        (
            REMINDER_TERM_TOO_LONG,
            "steps[0].pay_within_days: the term of 'herinnering' ends on day 16",
        ),
    ],
)
def test_cli_refuses_a_policy_a_court_would_hold_against_us(cli, tmp_path: Path, policy, message):
    (tmp_path / "connector.toml").write_text(policy, encoding="utf-8")
    assert cli("init").code == 0
    result = cli("dunning", "plan", "--date", "2025-01-04")
    assert result.code == 2, (result.out, result.err)
    assert message in result.err
    assert "Traceback" not in result.err


def test_interest_already_owed_has_its_own_line_and_matching_words():
    from connector.dunning.policy import DEFAULT_POLICY
    from connector.dunning.policy import ConsumerInterestFrom
    from connector.dunning.policy import make_policy

    from_due = make_policy(
        "default",
        DEFAULT_POLICY.steps,
        consumer_interest_from=ConsumerInterestFrom.DUE_DATE,
    )
    snap = snapshot(
        [row(1, amount="3000.00", debtor="C1", due="2024-03-01")],
        debtors=[debtor("C1", consumer=True)],
        states={1: _state("reminder_2", 1, "2024-03-19", 7)},
    )
    [action] = run_plan(snap, "2024-04-04", policies={"default": from_due}).actions
    letter = action.letter
    assert letter.interest > 0
    assert letter.legal_term is not None
    text = " ".join(letter.legal_term.statements)
    interest = f"{letter.interest:.2f}".replace(".", ",")
    assert f"Daarnaast bent u tot de datum van deze brief € {interest} wettelijke rente" in text
    assert "Wij verzoeken u dit totaalbedrag te betalen" in text
    assert "bent u bovendien de wettelijke rente" not in text
    assert "loopt door tot de dag van betaling" in text
