"""Dutch collection law as pure functions, exact to the cent.

What is here, with the section of shared/research/law-and-psp.md it follows:

- collection costs on the BIK scale (Besluit vergoeding voor buitengerechtelijke
  incassokosten, art. 2), with VAT for a creditor who cannot deduct it (§1.3, T.1);
- the consumer 14-day letter of art. 6:96 lid 6 BW: its dates (re-exported from
  `connector.dunning.calendar`) and the statements it must contain (§1.2, T.4);
- statutory interest, art. 6:119 and 6:119a BW, from a shipped rate table with its history,
  capitalised yearly (§1.4, T.2);
- the order in which a payment is applied, art. 6:44 BW (§1.3.6, T.2);
- the betalingskenmerk, the Dutch structured payment reference (§2.8, T.5).

Nothing reads a clock and nothing does I/O at call time, except that the shipped rate table is
read once, on first use. Amounts are `Decimal` (a float is refused); intermediate results are
exact fractions, and every rounding is half-up to whole cents, at the points the research's
vectors round. Dates are `datetime.date`; a `datetime` is refused.
"""

from __future__ import annotations

import enum
import functools
import importlib.resources
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from os import PathLike
from pathlib import Path
from typing import Literal

from connector.domain import DebtorKind
from connector.errors import ConfigError

from .calendar import TERM_DAYS
from .calendar import FourteenDayTerm
from .calendar import costs_may_be_charged_on
from .calendar import delivery_date
from .calendar import extend_per_atw
from .calendar import fourteen_day_term
from .calendar import fourteen_day_term_from_delivery
from .calendar import is_delivery_day
from .calendar import is_public_holiday
from .calendar import require_date
from .calendar import term_end

__all__ = [
    "BIK_MAXIMUM",
    "BIK_MINIMUM",
    "DEFAULT_VAT_PERCENT",
    "TERM_DAYS",
    "CollectionCosts",
    "DayCount",
    "FourteenDayTerm",
    "InterestKind",
    "InterestResult",
    "InterestSegment",
    "Language",
    "LetterStatement",
    "LetterWording",
    "PaymentApplication",
    "RateNotKnown",
    "RatePeriod",
    "RateTable",
    "merge_rate_tables",
    "StatementKind",
    "apply_payment",
    "betalingskenmerk_check_digit",
    "betalingskenmerk_weighted_sum",
    "collection_costs",
    "collection_costs_after_term",
    "collection_costs_for_letter",
    "commercial_costs_due_from",
    "commercial_interest_start_without_agreed_term",
    "consumer_interest_start_after_letter",
    "costs_may_be_charged_on",
    "delivery_date",
    "extend_per_atw",
    "format_betalingskenmerk",
    "fourteen_day_letter_required",
    "fourteen_day_letter_wording",
    "fourteen_day_term",
    "fourteen_day_term_from_delivery",
    "interest_start_after_due_date",
    "is_delivery_day",
    "is_public_holiday",
    "is_valid_betalingskenmerk",
    "load_rate_table",
    "make_betalingskenmerk",
    "may_send_fourteen_day_letter",
    "parse_rate_table",
    "shipped_rate_table",
    "statutory_interest",
    "term_end",
]


# --------------------------------------------------------------------------------------------
# Exact arithmetic helpers
# --------------------------------------------------------------------------------------------

_ZERO = Decimal("0.00")


def _require_amount(value: object, name: str, *, allow_negative: bool = False) -> Decimal:
    """`value` if it is a finite Decimal (non-negative unless allowed); else an error."""
    if not isinstance(value, Decimal):
        msg = f"{name} must be a Decimal, got {type(value).__name__}"
        raise TypeError(msg)
    if not value.is_finite():
        msg = f"{name} must be a finite amount, got {value}"
        raise ValueError(msg)
    if not allow_negative and value < 0:
        msg = f"{name} must not be negative, got {value}"
        raise ValueError(msg)
    return value


def _cents(value: Fraction) -> Decimal:
    """`value` rounded half-up (away from zero) to whole cents, as a Decimal like 12.30."""
    scaled = value * 100
    quotient, remainder = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * remainder >= scaled.denominator:
        quotient += 1
    sign = 1 if scaled.numerator < 0 and quotient else 0
    return Decimal((sign, tuple(int(digit) for digit in str(quotient)), -2))


def _to_cents(value: Decimal) -> Decimal:
    return _cents(Fraction(value))


# --------------------------------------------------------------------------------------------
# 1. Collection costs: the BIK scale (Besluit vergoeding voor buitengerechtelijke
#    incassokosten, art. 2; research §1.3, T.1)
# --------------------------------------------------------------------------------------------

#: Art. 2 lid 2 of the Besluit: the costs are at least EUR 40.
BIK_MINIMUM = Decimal("40.00")
#: Art. 2 lid 1 of the Besluit: the costs are at most EUR 6,775 (reached at a principal of
#: exactly EUR 1,000,000, §1.3.1).
BIK_MAXIMUM = Decimal("6775.00")
#: Art. 9 lid 1 Wet op de omzetbelasting 1968, the rate art. 2 lid 3 of the Besluit refers to.
DEFAULT_VAT_PERCENT = Decimal(21)

# (upper bound of the band, rate): 15 % of the first 2,500, 10 % of the next 2,500, 5 % of the
# next 5,000, 1 % of the next 190,000 and 0.5 % of the rest (art. 2 lid 1, §1.3.1).
_BIK_BANDS: tuple[tuple[Fraction, Fraction], ...] = (
    (Fraction(2500), Fraction(15, 100)),
    (Fraction(5000), Fraction(10, 100)),
    (Fraction(10000), Fraction(5, 100)),
    (Fraction(200000), Fraction(1, 100)),
)
_BIK_TOP_RATE = Fraction(5, 1000)


@dataclass(frozen=True, slots=True)
class CollectionCosts:
    """The extrajudicial collection costs over one principal.

    `principal` is the base (the sum of all items in one letter); `costs` the BIK amount;
    `vat` the VAT added for a creditor who cannot deduct it (0.00 otherwise) and `vat_percent`
    the rate used (None when no VAT was added); `total` = costs + vat, what is charged.
    """

    principal: Decimal
    costs: Decimal
    vat: Decimal
    vat_percent: Decimal | None
    total: Decimal


def _bik(principal: Fraction) -> Fraction:
    amount = Fraction(0)
    lower = Fraction(0)
    for upper, rate in _BIK_BANDS:
        if principal > lower:
            amount += rate * (min(principal, upper) - lower)
        lower = upper
    if principal > lower:
        amount += _BIK_TOP_RATE * (principal - lower)
    return min(max(amount, Fraction(BIK_MINIMUM)), Fraction(BIK_MAXIMUM))


def collection_costs(
    principal: Decimal,
    *,
    creditor_deducts_vat: bool = True,
    vat_percent: Decimal = DEFAULT_VAT_PERCENT,
) -> CollectionCosts:
    """The BIK costs over `principal` (EUR), rounded half-up to cents (§1.3.1).

    The base is the principal only, never interest (§1.3.1). The scale is applied, then the
    EUR 40 minimum and the EUR 6,775 maximum, then the amount is rounded: 266.67 gives
    40.0005, which is 40.00 (T.1 BIK-04). A principal of 0.00 owes nothing and gives 0.00.

    VAT is added only when the caller says the creditor cannot deduct it
    (`creditor_deducts_vat=False`): art. 2 lid 3 of the Besluit, which also requires the
    creditor to declare that expressly in the letter (§1.3.2; `fourteen_day_letter_wording`
    writes that declaration). The VAT is rounded half-up to cents on its own.
    """
    _require_amount(principal, "principal")
    _require_amount(vat_percent, "vat_percent")
    if principal == 0:
        return CollectionCosts(principal, _ZERO, _ZERO, None, _ZERO)
    costs = _cents(_bik(Fraction(principal)))
    if creditor_deducts_vat:
        return CollectionCosts(principal, costs, _ZERO, None, costs)
    vat = _cents(Fraction(costs) * Fraction(vat_percent) / 100)
    return CollectionCosts(principal, costs, vat, vat_percent, costs + vat)


def collection_costs_for_letter(
    principals: Iterable[Decimal],
    *,
    creditor_deducts_vat: bool = True,
    vat_percent: Decimal = DEFAULT_VAT_PERCENT,
) -> CollectionCosts:
    """The BIK costs for one letter that covers several items.

    Research §1.3.4 concludes that when one aanmaning covers several invoices the principals
    are added together and the scale is applied once over the total (DAS, Rueb Incasso and the
    BGK-integraal practice; the "HR 2019" ruling the brief mentioned was not found, open
    point 1). So 100 + 150 + 200 in one letter gives 67.50 over 450, not 3 x 40 (T.1 BIK-17).
    Items reminded in separate letters get `collection_costs` each (BIK-18), subject to the
    courts' moderation and the Wki cap for small recurring claims (§1.3.5), which this module
    does not apply.
    """
    total = Decimal(0)
    for index, principal in enumerate(principals):
        total += _require_amount(principal, f"principals[{index}]")
    return collection_costs(
        total, creditor_deducts_vat=creditor_deducts_vat, vat_percent=vat_percent
    )


def collection_costs_after_term(
    letter_principal: Decimal,
    paid_within_term: Decimal,
    *,
    creditor_deducts_vat: bool = True,
    vat_percent: Decimal = DEFAULT_VAT_PERCENT,
) -> CollectionCosts:
    """The costs due after the 14-day term when the debtor paid part of the letter's principal
    within the term: recalculated on the balance still open (HR 25-11-2016,
    ECLI:NL:HR:2016:2704; research §1.2 "Part-payment within the term", T.1 BIK-19). A
    payment of the whole principal within the term leaves no costs at all (0.00).
    """
    _require_amount(letter_principal, "letter_principal")
    _require_amount(paid_within_term, "paid_within_term")
    balance = max(letter_principal - paid_within_term, Decimal(0))
    return collection_costs(
        balance, creditor_deducts_vat=creditor_deducts_vat, vat_percent=vat_percent
    )


def commercial_costs_due_from(due_date: date) -> date:
    """B2B (handelsovereenkomst): the day from which at least the EUR 40 of art. 6:96 lid 4 BW
    (and by default the BIK scale) is owed: the day after the last day of the payment term,
    without any reminder (§1.1, §1.2 "B2B", T.1 BIK-20, T.4 DUN-07)."""
    return require_date(due_date, "due_date") + timedelta(days=1)


def fourteen_day_letter_required(debtor_kind: DebtorKind) -> bool:
    """A 14-day letter is required before costs only for consumers (art. 6:96 lid 6 BW);
    between businesses it is not (§1.1, T.4 DUN-07)."""
    return debtor_kind is DebtorKind.CONSUMER


def may_send_fourteen_day_letter(due_date: date, sent_on: date) -> bool:
    """The 14-day letter may only go out after verzuim has set in, so not with or before the
    invoice's due date (§1.2 "Timing rules"). This assumes the due date is a fatal term (art.
    6:83 sub a BW), so that verzuim starts the day after it; where it is not, verzuim needs an
    ingebrekestelling first (§1.5), which the caller must check."""
    return require_date(sent_on, "sent_on") > require_date(due_date, "due_date")


# --------------------------------------------------------------------------------------------
# 2./3. The consumer 14-day letter: its dates are in `calendar`; here is its wording (§1.2)
# --------------------------------------------------------------------------------------------

Language = Literal["nl", "en"]


class StatementKind(enum.StrEnum):
    """The statements a 14-day letter carries, in the order they appear."""

    AMOUNT_DUE = "amount_due"  # §1.2 item 1 (the per-invoice table is the template's)
    TERM = "term"  # item 2: 14 days from the day after delivery, in wording the HR accepted
    NO_COSTS_IF_PAID = "no_costs_if_paid"  # item 3
    PART_PAYMENT = "part_payment"  # HR 25-11-2016: costs over the balance after a part-payment
    COSTS = "costs"  # item 4: the consequence, with the exact amount of the costs
    VAT = "vat"  # item 5: whether VAT is added, and the express declaration if it is
    INTEREST = "interest"  # optional: statutory interest as a further consequence
    HANDOVER = "handover"  # optional: the claim may be handed to a collection agency


@dataclass(frozen=True, slots=True)
class LetterStatement:
    kind: StatementKind
    text: str


@dataclass(frozen=True, slots=True)
class LetterWording:
    """The statements art. 6:96 lid 6 BW needs in a consumer 14-day letter, as data.

    The amounts are given both as numbers (for the template's own layout) and inside the
    texts. Payment details (IBAN, reference, link) and the table of invoices are the
    template's part (§1.2 items 1 and 6).
    """

    language: Language
    amount_due: Decimal
    term_days: int
    costs: Decimal
    vat: Decimal
    vat_percent: Decimal | None
    costs_total: Decimal
    statements: tuple[LetterStatement, ...]

    def text(self, kind: StatementKind) -> str:
        """The text of the statement of `kind`; KeyError if this letter has none."""
        for statement in self.statements:
            if statement.kind is kind:
                return statement.text
        raise KeyError(kind)


def _euro(amount: Decimal, language: Language) -> str:
    grouped = f"{_to_cents(amount):,.2f}"  # 1,234.56
    if language == "nl":
        return "€ " + grouped.replace(",", " ").replace(".", ",").replace(" ", ".")
    return "€" + grouped


def _percent(value: Decimal, language: Language) -> str:
    text = f"{value.normalize():f}"
    return (text.replace(".", ",") if language == "nl" else text) + "%"


def fourteen_day_letter_wording(
    costs: CollectionCosts,
    *,
    language: Language = "nl",
    mention_statutory_interest: bool = False,
    announce_handover: bool = True,
    interest_owed: Decimal = Decimal(0),
) -> LetterWording:
    """The required statements of a consumer 14-day letter over `costs.principal` (§1.2).

    `costs` is what `collection_costs_for_letter` gives for the items in the letter. The term
    uses the wording the Hoge Raad accepted in HR 25-11-2016 (Fa-Med): "binnen veertien dagen
    vanaf de dag nadat deze brief bij u is bezorgd" (never "na dagtekening" or "na
    verzending", which are void and cannot be repaired). No calendar date is printed for the
    end of the term: the real delivery day is not known when the letter is written.
    Statutory interest is mentioned only when asked, since when it runs for a consumer is
    unsettled (§1.4.1); the handover sentence can be left out if the creditor will not hand
    claims over.
    """
    if language not in ("nl", "en"):
        msg = f"language must be 'nl' or 'en', got {language!r}"
        raise ValueError(msg)
    if costs.principal <= 0:
        msg = "a 14-day letter needs a principal above zero"
        raise ValueError(msg)
    amount = _euro(costs.principal, language)
    bik = _euro(costs.costs, language)
    total = _euro(costs.total, language)
    nl = language == "nl"
    # 13.8: interest already owed (consumer_interest_from = "due_date") on its own line, and
    # the term asks for principal and that interest together.
    owed_now = _euro(interest_owed, language)
    with_interest = _euro(costs.principal + interest_owed, language)
    if interest_owed > 0:
        amount_due = (
            f"Het openstaande bedrag is {amount}. Daarnaast bent u tot de datum van deze brief "
            f"{owed_now} wettelijke rente verschuldigd, samen {with_interest}."
            if nl
            else f"The amount outstanding is {amount}. In addition you owe {owed_now} "
            f"statutory interest up to the date of this letter, {with_interest} together."
        )
        what = "dit totaalbedrag" if nl else "this total"
    else:
        amount_due = (
            f"Het openstaande bedrag is {amount}." if nl else f"The amount outstanding is {amount}."
        )
        what = "dit bedrag" if nl else "this amount"
    statements: list[LetterStatement] = [
        LetterStatement(StatementKind.AMOUNT_DUE, amount_due),
        LetterStatement(
            StatementKind.TERM,
            f"Wij verzoeken u {what} te betalen binnen veertien dagen vanaf de dag nadat "
            "deze brief bij u is bezorgd."
            if nl
            else f"Please pay {what} within fourteen days from the day after this letter "
            "has been delivered to you.",
        ),
        LetterStatement(
            StatementKind.NO_COSTS_IF_PAID,
            "Als u het volledige bedrag binnen deze termijn betaalt, bent u geen "
            "incassokosten verschuldigd."
            if nl
            else "If you pay the full amount within this term, you do not owe any collection "
            "costs.",
        ),
        LetterStatement(
            StatementKind.PART_PAYMENT,
            "Betaalt u binnen deze termijn een deel van het bedrag, dan worden de "
            "incassokosten berekend over het bedrag dat daarna nog openstaat."
            if nl
            else "If you pay part of the amount within this term, the collection costs are "
            "calculated on the amount that then remains outstanding.",
        ),
    ]
    if costs.vat_percent is None:
        owed = bik
    else:
        vat = _euro(costs.vat, language)
        owed = (
            f"{bik} plus {vat} btw, in totaal {total}"
            if nl
            else f"{bik} plus {vat} VAT, {total} in total"
        )
    statements.append(
        LetterStatement(
            StatementKind.COSTS,
            "Betaalt u niet binnen deze termijn, dan bent u buitengerechtelijke "
            f"incassokosten verschuldigd van {owed}. De incassokosten zijn berekend volgens "
            "het Besluit vergoeding voor buitengerechtelijke incassokosten."
            if nl
            else "If you do not pay within this term, you owe extrajudicial collection costs "
            f"of {owed}. The collection costs are calculated under the Dutch Extrajudicial "
            "Collection Costs Decree (Besluit vergoeding voor buitengerechtelijke "
            "incassokosten).",
        )
    )
    if costs.vat_percent is None:
        vat_text = (
            "Over de incassokosten wordt geen btw berekend."
            if nl
            else "No VAT is charged on the collection costs."
        )
    else:
        # Art. 2 lid 3 of the Besluit: the creditor must declare expressly that it cannot
        # deduct the VAT and that the costs were increased for that reason (§1.3.2).
        pct = _percent(costs.vat_percent, language)
        vat_text = (
            "Wij verklaren nadrukkelijk dat wij de btw die ons voor de incasso in rekening "
            "wordt gebracht niet kunnen verrekenen, en dat de incassokosten daarom zijn "
            f"verhoogd met {pct} btw."
            if nl
            else "We expressly declare that we cannot deduct the VAT charged to us for the "
            "collection, and that the collection costs have therefore been increased by "
            f"{pct} VAT."
        )
    statements.append(LetterStatement(StatementKind.VAT, vat_text))
    if mention_statutory_interest and interest_owed > 0:
        statements.append(
            LetterStatement(
                StatementKind.INTEREST,
                "De wettelijke rente over het openstaande bedrag loopt door tot de dag van "
                "betaling."
                if nl
                else "Statutory interest on the amount outstanding continues to run until the "
                "day of payment.",
            )
        )
    elif mention_statutory_interest:
        statements.append(
            LetterStatement(
                StatementKind.INTEREST,
                "Betaalt u niet binnen deze termijn, dan bent u bovendien de wettelijke rente "
                "over het openstaande bedrag verschuldigd."
                if nl
                else "If you do not pay within this term, you also owe statutory interest on "
                "the amount outstanding.",
            )
        )
    if announce_handover:
        statements.append(
            LetterStatement(
                StatementKind.HANDOVER,
                "Betaalt u niet binnen deze termijn, dan kunnen wij de vordering uit handen "
                "geven aan een incassobureau of gerechtsdeurwaarder."
                if nl
                else "If you do not pay within this term, we may hand the claim over to a "
                "collection agency or bailiff.",
            )
        )
    return LetterWording(
        language=language,
        amount_due=costs.principal,
        term_days=TERM_DAYS,
        costs=costs.costs,
        vat=costs.vat,
        vat_percent=costs.vat_percent,
        costs_total=costs.total,
        statements=tuple(statements),
    )


# --------------------------------------------------------------------------------------------
# 4. Statutory interest: art. 6:119 BW (consumer) and 6:119a BW (commercial), §1.4, T.2
# --------------------------------------------------------------------------------------------


class InterestKind(enum.StrEnum):
    CONSUMER = "consumer"  # wettelijke rente, art. 6:119 BW (also non-commercial claims)
    COMMERCIAL = "commercial"  # wettelijke handelsrente, art. 6:119a BW


class DayCount(enum.StrEnum):
    """How days become a fraction of a year. None of the research's sources fixes one
    (§1.4.2, open point 10); its vectors use act/365, which is the default."""

    ACT_365 = "act/365"  # days / 365, also in leap years (T.2 INT-08: 70.19)
    ACT_ACT = "act/act"  # each day / the length of its own calendar year (INT-08: 70.00)


class RateNotKnown(ConfigError):
    """The rate table has no statutory rate for a day the interest runs over."""


@dataclass(frozen=True, slots=True)
class RatePeriod:
    """One row of the rate table: the rates in percent per year from `effective_from`."""

    effective_from: date
    consumer: Decimal
    commercial: Decimal
    source: str = ""

    def rate(self, kind: InterestKind) -> Decimal:
        return self.consumer if kind is InterestKind.CONSUMER else self.commercial


@dataclass(frozen=True, slots=True)
class RateTable:
    """Statutory interest rates with their history. Each row applies from its effective date
    to the day before the next; the last up to and including `known_through`."""

    periods: tuple[RatePeriod, ...]
    known_through: date

    def __post_init__(self) -> None:
        if not self.periods:
            msg = "the interest rate table has no rates"
            raise ConfigError(msg)
        for earlier, later in zip(self.periods, self.periods[1:], strict=False):
            if later.effective_from <= earlier.effective_from:
                msg = (
                    "the interest rate table must be in date order without repeats: "
                    f"{later.effective_from} follows {earlier.effective_from}"
                )
                raise ConfigError(msg)
        if self.known_through < self.periods[-1].effective_from:
            msg = (
                f"the interest rate table's known_through ({self.known_through}) is before "
                f"its last rate ({self.periods[-1].effective_from})"
            )
            raise ConfigError(msg)

    @property
    def known_from(self) -> date:
        return self.periods[0].effective_from

    def rate_on(self, day: date, kind: InterestKind) -> Decimal:
        """The rate in percent per year in force on `day`."""
        require_date(day, "day")
        self._check_known(day, day, kind)
        current = self.periods[0]
        for period in self.periods:
            if period.effective_from > day:
                break
            current = period
        return current.rate(kind)

    def segments(
        self, first: date, last: date, kind: InterestKind
    ) -> tuple[tuple[date, date, Decimal], ...]:
        """The days `first`..`last` (inclusive) split into runs of one rate:
        (first day, last day, rate). Consecutive rows with the same rate form one run."""
        self._check_known(first, last, kind)
        runs: list[tuple[date, date, Decimal]] = []
        for index, period in enumerate(self.periods):
            period_last = (
                self.periods[index + 1].effective_from - timedelta(days=1)
                if index + 1 < len(self.periods)
                else self.known_through
            )
            start = max(first, period.effective_from)
            end = min(last, period_last)
            if start > end:
                continue
            rate = period.rate(kind)
            if runs and runs[-1][2] == rate and runs[-1][1] + timedelta(days=1) == start:
                runs[-1] = (runs[-1][0], end, rate)
            else:
                runs.append((start, end, rate))
        return tuple(runs)

    def _check_known(self, first: date, last: date, kind: InterestKind) -> None:
        if first < self.known_from or last > self.known_through:
            msg = (
                f"no statutory {kind} interest rate known for {first}..{last}: the rate table "
                f"covers {self.known_from}..{self.known_through}; add the missing rates "
                "with [dunning] interest_rates_file (a TOML file in the format of the shipped "
                "connector/dunning/interest_rates.toml)"
            )
            raise RateNotKnown(msg)


def _rate_value(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        msg = f'{where} must be a number written as a string, e.g. "10.5"'
        raise ConfigError(msg)
    try:
        rate = Decimal(value)
    except ArithmeticError:
        rate = Decimal("NaN")
    if not rate.is_finite() or rate < 0:
        msg = f"{where} is not a valid percentage: {value!r}"
        raise ConfigError(msg)
    return rate


def _table_date(value: object, where: str) -> date:
    # tomllib gives a datetime for a TOML date-time; only a plain date is meant here.
    if isinstance(value, datetime) or not isinstance(value, date):
        msg = f"{where} must be a date like 2025-01-01, got {value!r}"
        raise ConfigError(msg)
    return value


def parse_rate_table(text: str) -> RateTable:
    """A rate table from TOML text in the format of the shipped interest_rates.toml."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        msg = f"the interest rate table is not valid TOML: {exc}"
        raise ConfigError(msg) from exc
    if data.get("format") != 1:
        msg = "the interest rate table must say format = 1"
        raise ConfigError(msg)
    rows = data.get("rates")
    if not isinstance(rows, list) or not rows:
        msg = "the interest rate table needs at least one [[rates]] row"
        raise ConfigError(msg)
    periods: list[RatePeriod] = []
    for index, row in enumerate(rows):
        where = f"rates[{index}]"
        if not isinstance(row, dict):
            msg = f"{where} must be a table"
            raise ConfigError(msg)
        source = row.get("source", "")
        periods.append(
            RatePeriod(
                effective_from=_table_date(row.get("effective_from"), f"{where}.effective_from"),
                consumer=_rate_value(row.get("consumer"), f"{where}.consumer"),
                commercial=_rate_value(row.get("commercial"), f"{where}.commercial"),
                source=source if isinstance(source, str) else str(source),
            )
        )
    known_through = _table_date(data.get("known_through"), "known_through")
    return RateTable(periods=tuple(periods), known_through=known_through)


def load_rate_table(path: str | PathLike[str]) -> RateTable:
    """A rate table read from a TOML file, to override the shipped one."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the interest rate table {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    return parse_rate_table(text)


def merge_rate_tables(base: RateTable, extra: RateTable) -> RateTable:
    """`base` with the rows of `extra` added: a row of `extra` replaces the row of `base` with
    the same effective date, and the table runs to the later of the two `known_through`s.

    A deployment adds the half-year the shipped table does not have yet this way
    (`[dunning] interest_rates_file`), without waiting for a release."""
    rows = {period.effective_from: period for period in base.periods}
    rows.update({period.effective_from: period for period in extra.periods})
    periods = tuple(rows[day] for day in sorted(rows))
    known_through = max(base.known_through, extra.known_through)
    if extra.known_from > base.known_through + timedelta(days=1):
        msg = (
            f"the added rates start on {extra.known_from}, but the shipped table ends on "
            f"{base.known_through}: add the rows in between too"
        )
        raise ConfigError(msg)
    return RateTable(periods=periods, known_through=known_through)


@functools.cache
def shipped_rate_table() -> RateTable:
    """The rate table shipped with the package (interest_rates.toml), read once."""
    resource = importlib.resources.files("connector.dunning").joinpath("interest_rates.toml")
    return parse_rate_table(resource.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class InterestSegment:
    """Interest over `first`..`last` (inclusive) at one rate on one base, rounded to cents."""

    first: date
    last: date
    days: int
    rate: Decimal  # percent per year
    base: Decimal  # principal plus the interest capitalised so far
    interest: Decimal


@dataclass(frozen=True, slots=True)
class InterestResult:
    """Statutory interest over a principal from `start` to `end`, both inclusive.

    `interest` is the total; `segments` show how it was computed (the table the handover file
    needs, §1.5); `final_base` is the base on `end`: the principal plus all interest
    capitalised before that day.
    """

    principal: Decimal
    start: date
    end: date
    kind: InterestKind
    day_count: DayCount
    interest: Decimal
    final_base: Decimal
    segments: tuple[InterestSegment, ...]


def _anniversary(start: date, years: int) -> date:
    """The day the `years`-th interest year after `start` begins. A year from 29 February ends
    on 28 February, so the next one starts on 1 March in a common year."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def _days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


def _year_fraction(first: date, last: date, day_count: DayCount) -> Fraction:
    if day_count is DayCount.ACT_365:
        return Fraction((last - first).days + 1, 365)
    fraction = Fraction(0)
    day = first
    while day <= last:
        chunk_last = min(last, date(day.year, 12, 31))
        fraction += Fraction((chunk_last - day).days + 1, _days_in_year(day.year))
        day = chunk_last + timedelta(days=1)
    return fraction


def statutory_interest(
    principal: Decimal,
    start: date,
    end: date,
    kind: InterestKind,
    *,
    day_count: DayCount = DayCount.ACT_365,
    rates: RateTable | None = None,
) -> InterestResult:
    """Statutory interest over `principal` for the days `start`..`end`, both inclusive.

    `start` is the first day interest runs (see `interest_start_after_due_date` and the other
    start helpers); `end` the last, normally the day of payment (art. 6:119a lid 1: "tot en
    met de dag van betaling"). An `end` before `start` gives no interest.

    Following the research's convention (§1.4.3, T.2): the rate is looked up per day in the
    table (`rates`, default the shipped table); the period is cut where the rate changes and
    at each anniversary of `start`; each piece is rounded half-up to cents. After each full
    year counted from `start` the year's interest is added to the base (art. 6:119 lid 2 and
    6:119a lid 3: "telkens na afloop van een jaar"; practice counts 12-month periods from the
    start of verzuim, not calendar years, §1.4.1).
    """
    _require_amount(principal, "principal")
    require_date(start, "start")
    require_date(end, "end")
    table = rates if rates is not None else shipped_rate_table()
    kind = InterestKind(kind)
    day_count = DayCount(day_count)
    base = principal
    total = Decimal(0)
    segments: list[InterestSegment] = []
    years = 0
    year_start = start
    while year_start <= end:
        next_year = _anniversary(start, years + 1)
        year_last = min(end, next_year - timedelta(days=1))
        year_interest = Decimal(0)
        for first, last, rate in table.segments(year_start, year_last, kind):
            fraction = _year_fraction(first, last, day_count)
            interest = _cents(Fraction(base) * Fraction(rate) / 100 * fraction)
            segments.append(
                InterestSegment(first, last, (last - first).days + 1, rate, base, interest)
            )
            year_interest += interest
        total += year_interest
        if next_year <= end:
            base += year_interest
        year_start = next_year
        years += 1
    return InterestResult(
        principal=principal,
        start=start,
        end=end,
        kind=kind,
        day_count=day_count,
        interest=_to_cents(total),
        final_base=base,
        segments=tuple(segments),
    )


def interest_start_after_due_date(due_date: date) -> date:
    """The first day of interest when a last day of payment was agreed: the day after it
    (art. 6:119a lid 1 BW; for a consumer only where the due date is a fatal term, §1.4.1)."""
    return require_date(due_date, "due_date") + timedelta(days=1)


def commercial_interest_start_without_agreed_term(invoice_received_on: date) -> date:
    """Art. 6:119a lid 2 sub a BW, no payment term agreed: interest runs "vanaf 30 dagen na de
    aanvang van de dag volgende op die waarop de schuldenaar de factuur heeft ontvangen".

    The day after receipt begins at 00:00; 30 days later is 00:00 of receipt + 31 days, the
    first day of interest (T.2 INT-09: received 2024-03-04, interest from 2024-04-04). The
    research marks this off-by-one reading as to be confirmed; it is the literal reading of
    the text, and no earlier day can be argued for.
    """
    return require_date(invoice_received_on, "invoice_received_on") + timedelta(days=31)


def consumer_interest_start_after_letter(sent_on: date, *, apply_atw: bool = True) -> date:
    """The engine's conservative default for a consumer: interest from the first day after
    the term of the 14-day letter posted on `sent_on` (§1.4.1 "When B2C interest starts";
    where the invoice's due date is a fatal term, `interest_start_after_due_date` may be
    used instead)."""
    return costs_may_be_charged_on(sent_on, apply_atw=apply_atw)


# --------------------------------------------------------------------------------------------
# 5. Applying a payment: art. 6:44 BW (§1.3.6, T.2 IMP-01/02)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentApplication:
    """How one payment was applied: first to costs, then to interest, then to principal
    (art. 6:44 lid 1 BW; the BIK costs count as "kosten", HR 10-07-2015,
    ECLI:NL:HR:2015:1868). `to_*` is what went to each part, `costs`/`interest`/`principal`
    what is still open afterwards, `surplus` what was paid beyond the whole claim."""

    to_costs: Decimal
    to_interest: Decimal
    to_principal: Decimal
    surplus: Decimal
    costs: Decimal
    interest: Decimal
    principal: Decimal


def apply_payment(
    costs: Decimal, interest: Decimal, principal: Decimal, payment: Decimal
) -> PaymentApplication:
    """Apply `payment` to an open claim of `costs`, `interest` and `principal` (art. 6:44 BW).

    Exact: nothing is rounded, so the parts always add up to what went in. Interest that runs
    on after the payment is computed on the principal still open (`statutory_interest`).
    """
    _require_amount(costs, "costs")
    _require_amount(interest, "interest")
    _require_amount(principal, "principal")
    _require_amount(payment, "payment")
    left = payment
    to_costs = min(left, costs)
    left -= to_costs
    to_interest = min(left, interest)
    left -= to_interest
    to_principal = min(left, principal)
    left -= to_principal
    return PaymentApplication(
        to_costs=to_costs,
        to_interest=to_interest,
        to_principal=to_principal,
        surplus=left,
        costs=costs - to_costs,
        interest=interest - to_interest,
        principal=principal - to_principal,
    )


# --------------------------------------------------------------------------------------------
# 6. Betalingskenmerk: the Dutch structured payment reference (§2.8, T.5)
# --------------------------------------------------------------------------------------------

# Betaalvereniging specification: weights counted from the rightmost digit, repeating.
_KENMERK_WEIGHTS = (2, 4, 8, 5, 10, 9, 7, 3, 6, 1)
_KENMERK_SEPARATORS = str.maketrans("", "", " .")


def betalingskenmerk_weighted_sum(digits: str) -> int:
    """A = sum of digit x weight over `digits`, weights 2, 4, 8, 5, 10, 9, 7, 3, 6, 1 from the
    rightmost digit and repeating (T.5 column A)."""
    if not digits.isascii() or not digits.isdigit():
        msg = f"a betalingskenmerk has only digits, got {digits!r}"
        raise ValueError(msg)
    return sum(
        int(digit) * _KENMERK_WEIGHTS[index % len(_KENMERK_WEIGHTS)]
        for index, digit in enumerate(reversed(digits))
    )


def betalingskenmerk_check_digit(digits: str) -> int:
    """C = 11 - (A mod 11), where 10 becomes 1 and 11 becomes 0."""
    check = 11 - betalingskenmerk_weighted_sum(digits) % 11
    return {10: 1, 11: 0}.get(check, check)


def _length_code(length: int) -> str:
    # L = 7, 8, 9, 0, 1, 2 for references of 9..14 digits (§2.8).
    return str((length - 2) % 10)


def make_betalingskenmerk(number: int, *, length: int = 16) -> str:
    """The betalingskenmerk for `number` (e.g. an invoice's sequence number).

    16 digits (the default, the research's advice): C + the number padded to 15 digits.
    9 to 14 digits: C + L + the number padded to length - 2 digits, L the length code. The
    check digit covers every digit after it, the length code included [our reading: the
    research gives the weights and the 16-digit example only].
    """
    if isinstance(number, bool) or not isinstance(number, int):
        msg = f"number must be an int, got {type(number).__name__}"
        raise TypeError(msg)
    if length == 16:
        width = 15
        prefix = ""
    elif 9 <= length <= 14:
        width = length - 2
        prefix = _length_code(length)
    else:
        msg = f"a betalingskenmerk with a check digit has 9 to 14 or 16 digits, not {length}"
        raise ValueError(msg)
    if not 0 <= number < 10**width:
        msg = f"number must be between 0 and {10**width - 1} for {length} digits, got {number}"
        raise ValueError(msg)
    body = prefix + str(number).zfill(width)
    return str(betalingskenmerk_check_digit(body)) + body


def is_valid_betalingskenmerk(reference: str) -> bool:
    """True for a well-formed betalingskenmerk: 16 digits C + 15; 9 to 14 digits C + L + N
    with the right length code; or 7 digits, which carry no check digit. Spaces and dots
    between digit groups are ignored."""
    digits = reference.translate(_KENMERK_SEPARATORS)
    if not digits.isascii() or not digits.isdigit():
        return False
    length = len(digits)
    if length == 7:
        return True
    if length == 16 or (9 <= length <= 14 and digits[1] == _length_code(length)):
        return int(digits[0]) == betalingskenmerk_check_digit(digits[1:])
    return False


def format_betalingskenmerk(reference: str) -> str:
    """The reference in groups of four digits from the left, as printed on an acceptgiro:
    5000056789012345 -> "5000 0567 8901 2345"."""
    digits = reference.translate(_KENMERK_SEPARATORS)
    if not digits.isascii() or not digits.isdigit():
        msg = f"a betalingskenmerk has only digits, got {reference!r}"
        raise ValueError(msg)
    return " ".join(digits[index : index + 4] for index in range(0, len(digits), 4))
