"""Is a letter fit to go out? What a debtor needs to pay, and what can reach the debtor.

A Dutch business letter must show who sends it (name, postal address, KvK number: Handels-
registerwet 2007 art. 27 / Handelsregisterbesluit art. 35) and a debtor needs what to pay,
to whom and with which reference. A letter that lacks any of it is never sent: the plan holds
it as `blocked` with the first reason (`sender has no IBAN`), which `dunning plan`, `dunning
history` and `connector check` show. Nothing here sends, reads a clock or the store.

The `*_problems` functions at the end are for `connector check`: each returns one line per
problem (an empty list when all is well).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from datetime import timedelta
from decimal import Decimal

from stdnum import iban as stdnum_iban
from stdnum.nl import postcode as nl_postcode

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
from connector.email_address import is_email_address
from connector.errors import ConfigError
from connector.settings import Settings
from connector.store import Store

__all__ = [
    "BOUNCED_TAG",
    "check_dunning",
    "letter_problems",
    "rate_table_problems",
    "reach_problem",
    "resolve_channels",
    "sender_completeness_problems",
    "sender_problems",
    "template_problems",
]

#: A debtor tag saying that mail to the debtor's e-mail address bounced before.
BOUNCED_TAG = "email-bounced"

_KVK = re.compile(r"^\d{8}$")


def sender_problems(sender: Sender) -> list[str]:
    """What the sender lacks for a letter a debtor can pay, as `sender has no IBAN` lines."""
    return list(_sender_problems(sender))


@functools.lru_cache(maxsize=1024)
def _sender_problems(sender: Sender) -> tuple[str, ...]:
    # One administration's letters share one sender: checked once, not per letter (a plan
    # holds up to a hundred thousand letters).
    problems: list[str] = []
    if not sender.name.strip():
        problems.append("sender has no name")
    if not (sender.street.strip() and sender.postal_code.strip() and sender.city.strip()):
        problems.append("sender has no postal address (street, postal_code, city)")
    elif sender.country.upper() == "NL" and not nl_postcode.is_valid(sender.postal_code):
        problems.append(f"sender's postal code {sender.postal_code!r} is not a Dutch postcode")
    if not sender.iban.strip():
        problems.append("sender has no IBAN")
    elif not stdnum_iban.is_valid(sender.iban):
        problems.append(f"sender's IBAN {sender.iban!r} is not valid")
    if not sender.kvk_number.strip():
        problems.append("sender has no KvK number")
    elif not _KVK.match(sender.kvk_number.replace(" ", "")):
        problems.append(f"sender's KvK number {sender.kvk_number!r} is not 8 digits")
    if not sender.email.strip():
        problems.append("sender has no reply address (email)")
    elif not is_email_address(sender.email.strip()):
        problems.append(f"sender's reply address {sender.email!r} is not an e-mail address")
    return tuple(problems)


def letter_problems(letter: Letter, *, reference_made_here: bool = False) -> list[str]:
    """Why a message to the debtor may not go out; empty when it may.

    `reference_made_here`: the plan made the betalingskenmerk itself (with its check digit),
    so only its presence is checked, not its check digit again for every letter."""
    problems = sender_problems(letter.sender)
    if letter.total <= 0:
        problems.append("the letter has no amount to pay")
    reference = letter.payment_reference
    if not reference or not (reference_made_here or law.is_valid_betalingskenmerk(reference)):
        problems.append("the letter has no valid payment reference")
    return problems


def _has_postal_address(address: Address) -> bool:
    return bool(address.street.strip() and address.postal_code.strip() and address.city.strip())


def reach_problem(kind: ChannelKind, debtor: Debtor) -> str | None:
    """Why `kind` cannot reach the debtor, or None when it can. Call tasks and hand-overs
    go to a person and an agency, not to the debtor: they always can."""
    if kind is ChannelKind.EMAIL:
        if not debtor.email.strip():
            return "debtor has no e-mail address"
        if BOUNCED_TAG in debtor.tags:
            return f"debtor's e-mail address {debtor.email} bounced before"
        return None
    if kind is ChannelKind.LETTER:
        return None if _has_postal_address(debtor.address) else "debtor has no postal address"
    if kind is ChannelKind.OUTBOX:
        # The outbox hands an e-mail and its PDF letter to another mail system: one of the two
        # must be deliverable.
        if _has_postal_address(debtor.address) or (
            debtor.email.strip() and BOUNCED_TAG not in debtor.tags
        ):
            return None
        return "debtor has neither an e-mail address nor a postal address"
    return None


def resolve_channels(
    wanted: Sequence[ChannelKind], fallback: ChannelKind | None, debtor: Debtor
) -> tuple[tuple[ChannelKind, ...], str, list[str]]:
    """The channels a letter goes by for this debtor: (channels, why it is held, notes).

    Each channel that cannot reach the debtor is replaced by the step's `fallback` when that
    one can; otherwise the letter is held with the reason (never sent on a channel that
    cannot reach the debtor, never marked sent)."""
    channels: list[ChannelKind] = []
    notes: list[str] = []
    for kind in wanted:
        problem = reach_problem(kind, debtor)
        if problem is None:
            if kind not in channels:
                channels.append(kind)
            continue
        if fallback is None or fallback is kind:
            return tuple(wanted), f"{problem} ({kind.value})", notes
        fallback_problem = reach_problem(fallback, debtor)
        if fallback_problem is not None:
            reason = f"{problem} ({kind.value}); fallback {fallback.value}: {fallback_problem}"
            return tuple(wanted), reason, notes
        if fallback not in channels:
            channels.append(fallback)
        notes.append(f"{problem}: sent by {fallback.value} instead of {kind.value}")
    return tuple(channels), "", notes


# --------------------------------------------------------------------------------------------
# `connector check`: one line per problem
# --------------------------------------------------------------------------------------------


def sender_completeness_problems(senders: Sequence[tuple[str, Sender]]) -> list[str]:
    """Per administration (name, its sender): what its letters lack; every letter of that
    administration is held until it is fixed."""
    lines: list[str] = []
    for name, sender in senders:
        for problem in sender_problems(sender):
            lines.append(
                f"administration {name}: letters are held: {problem}; "
                f'set it under [administrations."{name}".sender]'
            )
    return lines


def rate_table_problems(rates: law.RateTable, today: date, source: str) -> list[str]:
    """The statutory interest rate table ends before today: letters that charge interest are
    held (or go without interest where the policy says `interest_when_rate_unknown = "omit"`).
    """
    if today <= rates.known_through:
        return []
    return [
        f"interest rate table ends {rates.known_through}: letters that would charge interest "
        f"are held; add the rates from {rates.known_through + timedelta(days=1)} to {source}"
    ]


def _sample_letter(sender: Sender, template: str, today: date, *, consumer: bool) -> Letter:
    debtor = Debtor(
        code="SAMPLE",
        name="Voorbeeld B.V." if not consumer else "J. Voorbeeld",
        kind=DebtorKind.CONSUMER if consumer else DebtorKind.BUSINESS,
        email="debiteur@example.nl",
        address=Address("Voorbeeldstraat 1", "1234 AB", "Utrecht", "NL"),
    )
    amount = Decimal("1234.56")
    legal = None
    if template == "final_notice_consumer":
        costs = law.collection_costs(amount)
        wording = law.fourteen_day_letter_wording(costs, language="nl")
        legal = LegalTerm(
            delivered_on=today,
            term_end=today + timedelta(days=15),
            costs_if_unpaid=costs.total,
            statements=tuple(s.text for s in wording.statements),
        )
    return Letter(
        key="0/SAMPLE/sample/1",
        administration_id=0,
        sender=sender,
        debtor=debtor,
        step_name="sample",
        step_kind=StepKind.FINAL_NOTICE if "final" in template else StepKind.REMINDER,
        template=template,
        channels=(ChannelKind.EMAIL, ChannelKind.LETTER),
        language="nl",
        letter_date=today,
        currency="EUR",
        items=(
            LetterItem(
                1, "2026-0001", today - timedelta(days=44), today - timedelta(days=30), 30, amount
            ),
        ),
        principal=amount,
        total=amount,
        payment_reference=law.make_betalingskenmerk(123456789),
        pay_by=today + timedelta(days=14),
        legal_term=legal,
    )


def template_problems(
    renderer: object, templates: Sequence[tuple[int, str, Sender]], today: date
) -> list[str]:
    """Each (administration id, template name, sender) renders for a sample debtor, in both
    languages, with its PDF letter; one line per template that fails."""
    render = getattr(renderer, "render")  # noqa: B009 - the Renderer port, without importing it
    lines: list[str] = []
    for administration_id, template, sender in templates:
        for language in ("nl", "en"):
            letter = _sample_letter(
                sender, template, today, consumer=template.endswith("_consumer")
            )
            letter = replace(letter, administration_id=administration_id, language=language)
            try:
                render(letter, with_pdf=True)
            except ConfigError as exc:
                lines.append(f"template {language}/{template}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a check reports, it does not stop
                lines.append(f"template {language}/{template}: {type(exc).__name__}: {exc}")
    return lines


def check_dunning(settings: Settings, store: Store, *, today: date | None = None) -> list[str]:
    """Every dunning problem line for `connector check`: each administration's sender, the
    rate table's coverage, and each administration's templates for a sample debtor. One
    call for the command's list of checks (a configuration error is itself one line)."""
    from connector.dunning.policy import load_dunning_config
    from connector.dunning.render import TEMPLATE_NAMES
    from connector.dunning.render import TemplateRenderer
    from connector.store.records import list_administrations

    try:
        config = load_dunning_config(settings)
        with store.begin() as conn:
            admins = list_administrations(conn)
        own = {}
        for admin in admins:
            found = config.for_administration(admin.id, admin.external_id, admin.name)
            if found.templates_dir:
                own[admin.id] = found.templates_dir
        renderer = TemplateRenderer(templates_dir=config.templates_dir, templates_dirs=own)
        rates = config.rate_table()
    except ConfigError as exc:
        return [str(exc)]
    senders = [
        (
            admin.name,
            config.sender_for(
                config.for_administration(admin.id, admin.external_id, admin.name),
                admin.name,
                admin.country,
            ),
        )
        for admin in admins
    ]
    day = today or date.today()  # noqa: DTZ011 - a coverage check, a day either way is fine
    lines = sender_completeness_problems(senders)
    lines.extend(rate_table_problems(rates, day, config.rate_table_source))
    templates = [
        (admin.id, name, sender)
        for admin, (_name, sender) in zip(admins, senders, strict=True)
        for name in TEMPLATE_NAMES
    ]
    lines.extend(template_problems(renderer, templates, day))
    return lines
