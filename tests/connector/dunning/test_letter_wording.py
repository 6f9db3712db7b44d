"""Issue 13.6-13.11: wording a collection lawyer would sign."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from connector.dunning.model import ChannelKind
from connector.dunning.model import StepKind
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.render import TemplateRenderer
from tests.fakes.letters import SENDER
from tests.fakes.letters import business_letter

D = Decimal


def plain(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def test_the_sommatie_suggests_no_second_charge_and_keeps_one_term(renderer) -> None:
    letter = business_letter(
        template="final_notice",
        step_kind=StepKind.FINAL_NOTICE,
        collection_costs=D("185.18"),
        interest=D("12.40"),
        total=D("1432.14"),
    )
    text = plain(renderer.render(letter, with_pdf=False).text)
    assert "De kosten daarvan komen voor uw rekening" not in text
    assert (
        "Andere kosten dan de hierboven vermelde incassokosten en de wettelijke rente brengen "
        "wij u daarvoor niet in rekening." in text
    )
    assert "aanmaning" not in text.lower()  # the title says Sommatie: one term throughout
    assert "deze sommatie als niet verzonden beschouwen" in text
    english = plain(renderer.render(replace(letter, language="en"), with_pdf=False).text)
    assert "The costs of doing so will be charged to you" not in english
    assert "We will not charge you any costs other than" in english


def test_the_hand_over_is_stated_as_done_naming_the_agency_and_the_data(renderer) -> None:
    sender = replace(SENDER, collection_agency="Incasso Noord B.V.")
    letter = business_letter(
        template="collection_notice",
        step_kind=StepKind.COLLECTION,
        sender=sender,
        collection_costs=D("185.18"),
        total=D("1419.74"),
    )
    text = plain(renderer.render(letter, with_pdf=False).text)
    assert "overgedragen aan Incasso Noord B.V." in text
    assert "ontvangt Incasso Noord B.V. van ons uw naam, adres" in text
    assert "zien wij alsnog af van de overdracht" not in text
    assert "Wij dragen de vordering daarom over" not in text


def test_the_default_policy_tells_the_debtor_of_the_hand_over() -> None:
    collection = DEFAULT_POLICY.steps[-1]
    assert collection.kind is StepKind.COLLECTION
    assert ChannelKind.EMAIL in collection.channels


def test_the_e_mail_of_a_posted_14_day_letter_says_it_is_a_copy(renderer) -> None:
    from connector.dunning.statements import pdf_text
    from tests.fakes.letters import consumer_letter

    posted = consumer_letter(channels=(ChannelKind.EMAIL, ChannelKind.LETTER))
    out = renderer.render(posted, with_pdf=True)
    copy = "Dit is een kopie per e-mail van de brief die wij u per post hebben gestuurd"
    assert copy in plain(out.text) and copy in plain(out.html)
    assert "vanaf de dag nadat die per post verzonden brief bij u is bezorgd" in plain(out.text)
    assert out.pdf is not None and "kopie per e-mail" not in pdf_text(out.pdf)  # the letter itself
    email_only = renderer.render(consumer_letter(channels=(ChannelKind.EMAIL,)), with_pdf=False)
    assert copy not in plain(email_only.text)


def test_a_missed_instalment_without_a_lapse_clause_is_a_notice_of_default_with_a_term(
    renderer,
) -> None:
    from datetime import date

    letter = business_letter(template="arrangement_broken", pay_by=date(2026, 3, 19))
    text = plain(renderer.render(letter, with_pdf=False).text)
    assert "direct opeisbaar" not in text  # no lapse clause was agreed
    assert "Wij stellen u hierbij in gebreke" in text
    assert "uiterlijk 19 maart 2026 te betalen" in text
    assert "De betalingen die wij wel ontvingen, zijn verwerkt" in text
    english = plain(renderer.render(replace(letter, language="en"), with_pdf=False).text)
    assert "due immediately" not in english and "notice of default" in english
