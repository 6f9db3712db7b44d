"""Sample dunning letters for the renderer and channel tests (and the render benchmark)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from connector.domain import Address
from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.model import LegalTerm
from connector.dunning.model import Letter
from connector.dunning.model import LetterItem
from connector.dunning.model import Sender
from connector.dunning.model import StepKind

D = Decimal

SENDER = Sender(
    name="Bakkerij De Gouden Korenaar B.V.",
    street="Molenstraat 12",
    postal_code="3512 AB",
    city="Utrecht",
    email="debiteuren@goudenkorenaar.nl",
    phone="030 123 45 67",
    iban="NL91ABNA0417164300",
    bic="ABNANL2A",
    kvk_number="12345678",
    vat_number="NL001234567B01",
    website="www.goudenkorenaar.nl",
    signature="Met vriendelijke groet,\n\nMarieke de Vries\nAfdeling debiteuren",
)

CONSUMER = Debtor(
    code="K-10442",
    name="Dhr. J.P. van der Berg",
    kind=DebtorKind.CONSUMER,
    email="jp.vdberg@example.nl",
    address=Address(
        street="Kastanjelaan 7 bis", postal_code="3581 KL", city="Utrecht", country="NL"
    ),
)

BUSINESS = Debtor(
    code="D-2001",
    name="Installatiebedrijf Jansen & Zn. B.V.",
    kind=DebtorKind.BUSINESS,
    email="admin@jansen.example",
    address=Address(street="Postbus 512", postal_code="5600 AM", city="Eindhoven", country="NL"),
)

#: 2026-03-06 is a Friday: delivered Tuesday 2026-03-10 (Sunday and Monday do not count).
CONSUMER_LETTER_DATE = date(2026, 3, 6)


def consumer_items() -> tuple[LetterItem, ...]:
    return (
        LetterItem(1, "2026-0143", date(2026, 1, 15), date(2026, 1, 29), 36, D("149.95")),
        LetterItem(2, "2026-0188", date(2026, 2, 2), date(2026, 2, 16), 18, D("1089.50")),
        LetterItem(3, "CN-2026-0007", date(2026, 2, 10), date(2026, 2, 10), 24, D("-25.00")),
    )


def consumer_letter(
    language: str = "nl",
    *,
    creditor_deducts_vat: bool = True,
    items: tuple[LetterItem, ...] | None = None,
    **changes: object,
) -> Letter:
    """The consumer 14-day letter (final_notice_consumer), with its legal term from law.py."""
    items = consumer_items() if items is None else items
    principal = sum((item.open_amount for item in items), D(0))
    costs = law.collection_costs_for_letter([principal], creditor_deducts_vat=creditor_deducts_vat)
    wording = law.fourteen_day_letter_wording(costs, language="nl" if language == "nl" else "en")
    term = law.fourteen_day_term(CONSUMER_LETTER_DATE)
    legal = LegalTerm(
        delivered_on=term.delivered_on,
        term_end=term.term_end,
        costs_if_unpaid=costs.total,
        statements=tuple(statement.text for statement in wording.statements),
    )
    sender = replace(SENDER, creditor_deducts_vat=creditor_deducts_vat)
    letter = Letter(
        key="1/K-10442/final_notice/1",
        administration_id=1,
        sender=sender,
        debtor=replace(CONSUMER, language=language),
        step_name="final_notice",
        step_kind=StepKind.FINAL_NOTICE,
        template="final_notice_consumer",
        channels=(ChannelKind.LETTER,),
        language=language,
        letter_date=CONSUMER_LETTER_DATE,
        currency="EUR",
        items=items,
        principal=principal,
        total=principal,
        payment_reference=law.make_betalingskenmerk(104420001),
        legal_term=legal,
        payment_link="https://pay.example.nl/l/abc123",
    )
    return replace(letter, **changes)  # type: ignore[arg-type]


def business_letter(language: str = "nl", **changes: object) -> Letter:
    """A first reminder to a business for one invoice of EUR 1,234.56."""
    letter = Letter(
        key="1/D-2001/reminder_1/1",
        administration_id=1,
        sender=SENDER,
        debtor=replace(BUSINESS, language=language),
        step_name="reminder_1",
        step_kind=StepKind.REMINDER,
        template="reminder_1",
        channels=(ChannelKind.EMAIL,),
        language=language,
        letter_date=date(2026, 3, 5),
        currency="EUR",
        items=(LetterItem(11, "F2026-0012", date(2026, 2, 1), date(2026, 3, 3), 2, D("1234.56")),),
        principal=D("1234.56"),
        total=D("1234.56"),
        payment_reference=law.make_betalingskenmerk(20010012),
        pay_by=date(2026, 3, 19),
    )
    return replace(letter, **changes)  # type: ignore[arg-type]
