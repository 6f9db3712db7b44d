"""Issue 12.1 / 12.2: a letter goes out only when a debtor can pay it and the channel can
reach the debtor; otherwise it is held with one reason. And the problem lines of
`connector check` (sender completeness, rate-table coverage, templates render)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from connector.domain import Address
from connector.domain import Debtor
from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.model import Sender
from connector.dunning.readiness import BOUNCED_TAG
from connector.dunning.readiness import letter_problems
from connector.dunning.readiness import rate_table_problems
from connector.dunning.readiness import reach_problem
from connector.dunning.readiness import resolve_channels
from connector.dunning.readiness import sender_completeness_problems
from connector.dunning.readiness import sender_problems
from connector.dunning.readiness import template_problems
from connector.dunning.render import TEMPLATE_NAMES
from connector.dunning.render import TemplateRenderer
from tests.fakes.dunning import ADDRESS
from tests.fakes.dunning import COMPLETE_SENDER
from tests.fakes.dunning import debtor
from tests.fakes.dunning import row
from tests.fakes.dunning import run_plan
from tests.fakes.dunning import snapshot
from tests.fakes.dunning import view
from tests.fakes.letters import SENDER
from tests.fakes.letters import business_letter

COMPLETE = Sender(name="Acme B.V.", **COMPLETE_SENDER)


def test_a_complete_sender_has_no_problems():
    assert sender_problems(COMPLETE) == []
    assert sender_problems(SENDER) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"iban": ""}, "sender has no IBAN"),
        ({"iban": "NL91ABNA0417164301"}, "sender's IBAN 'NL91ABNA0417164301' is not valid"),
        ({"street": ""}, "sender has no postal address (street, postal_code, city)"),
        ({"city": ""}, "sender has no postal address (street, postal_code, city)"),
        ({"kvk_number": ""}, "sender has no KvK number"),
        ({"kvk_number": "1234"}, "sender's KvK number '1234' is not 8 digits"),
        ({"email": ""}, "sender has no reply address (email)"),
        (
            {"email": "dunning@localhost"},
            "sender's reply address 'dunning@localhost' is not an e-mail address",
        ),
        ({"name": " "}, "sender has no name"),
    ],
)
def test_each_missing_detail_is_one_reason(change, problem):
    assert sender_problems(replace(COMPLETE, **change)) == [problem]


def test_a_letter_without_amount_or_reference_is_not_sendable():
    letter = business_letter()
    assert letter_problems(letter) == []
    assert letter_problems(replace(letter, payment_reference="")) == [
        "the letter has no valid payment reference"
    ]
    assert letter_problems(replace(letter, total=Decimal(0))) == ["the letter has no amount to pay"]


def test_the_plan_holds_a_letter_whose_sender_has_no_iban():
    """Pain (issue 12.1): 0 of 175 demo letters carried an IBAN, and all were 'sent'."""
    snap = snapshot([row(1)], admins=[view(iban="")])
    [action] = run_plan(snap, "2025-01-20").actions
    assert action.hold == "sender has no IBAN"


def test_the_plan_sends_a_complete_letter():
    [action] = run_plan(snapshot([row(1)]), "2025-01-20").actions
    assert action.hold == ""


# --- 12.2: post to nowhere ---------------------------------------------------------------------


def test_reach_per_channel():
    nowhere = Debtor("D9", "Nergens B.V.")
    assert reach_problem(ChannelKind.EMAIL, nowhere) == "debtor has no e-mail address"
    assert reach_problem(ChannelKind.LETTER, nowhere) == "debtor has no postal address"
    assert reach_problem(ChannelKind.OUTBOX, nowhere) is not None
    assert reach_problem(ChannelKind.CALL, nowhere) is None  # a task for a person
    half = Debtor("D9", "Half B.V.", address=Address("Kerkstraat 1", "", "Utrecht"))
    assert reach_problem(ChannelKind.LETTER, half) == "debtor has no postal address"
    bounced = Debtor("D9", "B", email="weg@example.nl", tags=(BOUNCED_TAG,), address=ADDRESS)
    assert reach_problem(ChannelKind.EMAIL, bounced) == (
        "debtor's e-mail address weg@example.nl bounced before"
    )
    assert reach_problem(ChannelKind.OUTBOX, bounced) is None  # the PDF can still be posted


def test_a_channel_that_cannot_reach_falls_back_or_holds():
    no_address = Debtor("D1", "X", email="x@example.nl")
    channels, hold, _notes = resolve_channels((ChannelKind.LETTER,), ChannelKind.EMAIL, no_address)
    assert (channels, hold) == ((ChannelKind.EMAIL,), "")
    channels, hold, _notes = resolve_channels((ChannelKind.LETTER,), None, no_address)
    assert hold == "debtor has no postal address (letter)"


def test_a_final_notice_to_a_debtor_without_postal_address_is_held_not_sent():
    """Pain (issue 12.2): PDF letters for debtors without an address were marked sent."""
    nowhere = debtor("D1", address=Address())
    snap = snapshot([row(1, due="2025-01-10")], debtors=[nowhere])
    [action] = run_plan(snap, "2025-02-20").actions  # 41 days: the backlog's final notice
    assert action.letter.step_name == "final_notice"
    assert action.hold == "debtor has no postal address (letter)"


def test_a_reminder_without_email_address_falls_back_to_the_letter():
    snap = snapshot([row(1)], debtors=[debtor("D1", email="")])
    [action] = run_plan(snap, "2025-01-20").actions
    assert action.letter.channels == (ChannelKind.LETTER,) and action.hold == ""


# --- connector check -------------------------------------------------------------------------


def test_check_lines_for_sender_completeness():
    lines = sender_completeness_problems([("acme", replace(COMPLETE, iban="", kvk_number=""))])
    where = 'set it under [administrations."acme".sender]'
    assert lines == [
        f"administration acme: letters are held: sender has no IBAN; {where}",
        f"administration acme: letters are held: sender has no KvK number; {where}",
    ]
    assert sender_completeness_problems([("acme", COMPLETE)]) == []


def test_check_line_for_rate_table_coverage():
    table = law.shipped_rate_table()
    assert rate_table_problems(table, table.known_through, "rates.toml") == []
    [line] = rate_table_problems(table, date(2099, 1, 1), "rates.toml")
    day_after = date.fromordinal(table.known_through.toordinal() + 1)
    assert line == (
        f"interest rate table ends {table.known_through}: letters that would charge interest "
        f"are held; add the rates from {day_after} to rates.toml"
    )


def test_check_lines_for_templates(tmp_path):
    renderer = TemplateRenderer()
    templates = [(1, name, SENDER) for name in TEMPLATE_NAMES]
    assert template_problems(renderer, templates, date(2026, 3, 6)) == []
    broken = tmp_path / "nl"
    broken.mkdir()
    (broken / "reminder_1.j2").write_text(
        "{% extends layout %}{% block subject %}{{ no_such_thing }}{% endblock %}"
    )
    lines = template_problems(
        TemplateRenderer(templates_dir=tmp_path), [(1, "reminder_1", SENDER)], date(2026, 3, 6)
    )
    assert len(lines) == 1 and lines[0].startswith("template nl/reminder_1:")


def test_check_dunning_gives_one_line_per_problem_for_connector_check(world):
    import tomllib
    from types import MappingProxyType

    from connector.dunning.readiness import check_dunning
    from connector.settings import Settings

    day = law.shipped_rate_table().known_through
    bare = check_dunning(Settings(), world.store, today=day)
    assert any(
        line.startswith("administration Acme: letters are held: sender has no IBAN")
        for line in bare
    )
    fields = "\n".join(f'{k} = "{v}"' for k, v in COMPLETE_SENDER.items())
    text = f"[administrations.Acme.sender]\n{fields}\n"
    settings = Settings(raw=MappingProxyType(tomllib.loads(text)))
    assert check_dunning(settings, world.store, today=day) == []
    [late] = check_dunning(settings, world.store, today=date(2099, 1, 1))
    assert late.startswith(f"interest rate table ends {day}")
    broken = Settings(raw=MappingProxyType(tomllib.loads('[dunning]\nmode = "x"\n')))
    [line] = check_dunning(broken, world.store, today=day)
    assert "dunning.mode" in line
