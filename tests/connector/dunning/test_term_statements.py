"""Issue 13.5 (and 13.4's template half): a 14-day letter is sent, and its term stored, only
when the rendered text and PDF carry every required statement and no term end date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.render import TemplateRenderer
from connector.dunning.run import Dunning
from connector.dunning.statements import term_letter_problems
from connector.dunning.tables import ActionStatus
from tests.fakes.dunning import World
from tests.fakes.dunning import ledger_item
from tests.fakes.letters import consumer_letter

DROPS_THE_LEGAL_BLOCK = (
    "{% extends layout %}{% block subject %}Aanmaning{% endblock %}"
    "{% block intro %}Betaal alstublieft.{% endblock %}{% block legal %}{% endblock %}"
)
PRINTS_A_DATE = (
    "{% extends layout %}{% block subject %}Aanmaning{% endblock %}"
    "{% block intro %}Betaal uiterlijk {{ date(letter.pay_by) }}.{% endblock %}"
)


def _renderer(tmp_path: Path, body: str) -> TemplateRenderer:
    target = tmp_path / "own" / "nl" / "final_notice_consumer.j2"
    target.parent.mkdir(parents=True)
    target.write_text(body, encoding="utf-8")
    return TemplateRenderer(templates_dir=tmp_path / "own")


def test_the_shipped_14_day_letter_passes() -> None:
    letter = consumer_letter()
    assert term_letter_problems(letter, TemplateRenderer().render(letter, with_pdf=True)) == []


def test_a_template_without_the_statements_is_refused(tmp_path: Path) -> None:
    letter = consumer_letter()
    rendered = _renderer(tmp_path, DROPS_THE_LEGAL_BLOCK).render(letter, with_pdf=True)
    problems = term_letter_problems(letter, rendered)
    assert any(p.startswith("the text lacks the required statement") for p in problems)
    assert any(p.startswith("the PDF lacks the required statement") for p in problems)


def test_a_template_printing_the_term_end_is_refused(tmp_path: Path) -> None:
    letter = consumer_letter(pay_by=date(2026, 3, 20))
    rendered = _renderer(tmp_path, PRINTS_A_DATE).render(letter, with_pdf=True)
    problems = term_letter_problems(letter, rendered)
    assert "the text prints the term's end date 2026-03-20: a 14-day letter may not" in problems


def test_the_run_sends_nothing_and_stores_no_term(world: World, tmp_path: Path) -> None:
    from tests.fakes.dunning import FakeChannel
    from tests.fakes.dunning import with_complete_sender

    world.set_items([ledger_item(1, debtor="C1")])
    world.sync()
    runner = Dunning(
        world.store,
        with_complete_sender(world.config),  # so that only the statements can hold it
        ledger_for=lambda _c: world.ledger,
        channels=world.channels,
        renderer=_renderer(tmp_path, DROPS_THE_LEGAL_BLOCK),
    )
    admins = world.admins()
    for day in ("2025-01-12", "2025-01-28", "2025-02-13"):
        report = runner.run(admins, on_date=date.fromisoformat(day))
    run = report.administrations[0]
    assert run.sent == []
    assert run.retry and "lacks the required statement" in run.retry[0].detail
    with world.store.begin() as conn:
        final = next(a for a in dstore.list_actions(conn) if a.step_name == "final_notice")
        snapshot = dstore.load_snapshot(conn, world.config, admins)
    assert final.status == ActionStatus.PENDING.value
    assert snapshot.terms == {} and snapshot.term_of == {}  # no term counts: no costs later
    channel: FakeChannel = world.channels[ChannelKind.EMAIL]
    assert "final_notice" not in [letter.step_name for letter in channel.sent]
