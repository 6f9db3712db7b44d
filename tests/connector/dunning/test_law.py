"""Tests for connector.dunning.law and connector.dunning.calendar.

The ids BIK-*, INT-*, IMP-*, DUN-* and KEN-* are the test vectors of
shared/research/law-and-psp.md (T.1, T.2, T.4, T.5); everything else is our own edge cases.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from connector.domain import DebtorKind
from connector.dunning import calendar
from connector.dunning import law
from connector.dunning.law import DayCount
from connector.dunning.law import InterestKind
from connector.dunning.law import StatementKind
from connector.errors import ConfigError

D = Decimal
CONSUMER = InterestKind.CONSUMER
COMMERCIAL = InterestKind.COMMERCIAL
PROPERTY = settings(database=None, max_examples=300, deadline=None)


def d(text: str) -> date:
    return date.fromisoformat(text)


# ============================================================================================
# T.1 Collection costs (BIK)
# ============================================================================================


@pytest.mark.parametrize(
    ("principal", "deducts_vat", "expected_costs", "expected_total"),
    [
        pytest.param("10.00", True, "40.00", "40.00", id="BIK-01 10.00 minimum"),
        pytest.param("100.00", True, "40.00", "40.00", id="BIK-02 100.00 minimum"),
        pytest.param("266.66", True, "40.00", "40.00", id="BIK-03 266.66 minimum"),
        pytest.param("266.67", True, "40.00", "40.00", id="BIK-04 266.67 40.0005 rounds down"),
        pytest.param("267.00", True, "40.05", "40.05", id="BIK-05 267.00"),
        pytest.param("267.00", False, "40.05", "48.46", id="BIK-06 267.00 plus VAT"),
        pytest.param("1000.00", True, "150.00", "150.00", id="BIK-07 1,000"),
        pytest.param("2500.00", True, "375.00", "375.00", id="BIK-08 2,500"),
        pytest.param("3000.00", True, "425.00", "425.00", id="BIK-09 3,000"),
        pytest.param("3000.00", False, "425.00", "514.25", id="BIK-10 3,000 plus VAT"),
        pytest.param("5000.00", True, "625.00", "625.00", id="BIK-11 5,000"),
        pytest.param("10000.00", True, "875.00", "875.00", id="BIK-12 10,000"),
        pytest.param("200000.00", True, "2775.00", "2775.00", id="BIK-13 200,000"),
        pytest.param("250000.00", True, "3025.00", "3025.00", id="BIK-14 250,000"),
        pytest.param("1000000.00", True, "6775.00", "6775.00", id="BIK-15 1,000,000 cap"),
        pytest.param("2000000.00", True, "6775.00", "6775.00", id="BIK-16 2,000,000 cap"),
    ],
)
def test_bik_vectors(
    principal: str, deducts_vat: bool, expected_costs: str, expected_total: str
) -> None:
    result = law.collection_costs(D(principal), creditor_deducts_vat=deducts_vat)
    assert result.costs == D(expected_costs)
    assert result.total == D(expected_total)
    assert result.costs.as_tuple().exponent == -2
    assert result.total.as_tuple().exponent == -2


def test_bik_17_one_letter_sums_the_invoices() -> None:
    result = law.collection_costs_for_letter([D("100.00"), D("150.00"), D("200.00")])
    assert result.principal == D("450.00")
    assert result.total == D("67.50")


def test_bik_18_separate_letters_cost_per_letter() -> None:
    separate = [law.collection_costs(D(p)).total for p in ("100.00", "150.00", "200.00")]
    assert separate == [D("40.00")] * 3
    assert sum(separate) == D("120.00")


def test_bik_19_part_payment_within_the_term_recalculates_on_the_balance() -> None:
    result = law.collection_costs_after_term(D("3000.00"), D("1000.00"))
    assert result.principal == D("2000.00")
    assert result.total == D("300.00")


def test_bik_20_b2b_minimum_is_owed_after_the_term_without_a_reminder() -> None:
    assert not law.fourteen_day_letter_required(DebtorKind.BUSINESS)
    assert law.commercial_costs_due_from(d("2024-03-01")) == d("2024-03-02")
    assert law.collection_costs(D("100.00")).total >= D("40.00") == law.BIK_MINIMUM


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        pytest.param("0.01", "40.00", id="one cent gets the minimum"),
        pytest.param("266.70", "40.01", id="40.005 rounds half-up"),
        pytest.param("2499.99", "375.00", id="below the 15% band edge (374.9985)"),
        pytest.param("2500.01", "375.00", id="10% band starts (375.001)"),
        pytest.param("2500.05", "375.01", id="10% band half cent up (375.005)"),
        pytest.param("5000.01", "625.00", id="5% band starts (625.0005)"),
        pytest.param("5000.10", "625.01", id="5% band half cent up (625.005)"),
        pytest.param("10000.50", "875.01", id="1% band half cent up (875.005)"),
        pytest.param("200000.50", "2775.00", id="0.5% band starts (2775.0025)"),
        pytest.param("200001.00", "2775.01", id="0.5% band half cent up (2775.005)"),
        pytest.param("999998.00", "6774.99", id="just under the cap"),
        pytest.param("999999.99", "6775.00", id="rounds to the cap (6774.99995)"),
        pytest.param("1000000.01", "6775.00", id="over 1,000,000 stays capped"),
        pytest.param("123456789012345678901234567890.12", "6775.00", id="huge principal"),
    ],
)
def test_bik_band_boundaries(principal: str, expected: str) -> None:
    assert law.collection_costs(D(principal)).costs == D(expected)


def test_bik_zero_principal_owes_nothing() -> None:
    result = law.collection_costs(D("0.00"))
    assert (result.costs, result.vat, result.total) == (D("0.00"), D("0.00"), D("0.00"))


def test_bik_refuses_floats_and_negatives() -> None:
    with pytest.raises(TypeError):
        law.collection_costs(100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        law.collection_costs(D("-1.00"))
    with pytest.raises(ValueError, match="finite"):
        law.collection_costs(D("NaN"))


@pytest.mark.parametrize(
    ("principal", "vat_percent", "costs", "vat", "total"),
    [
        pytest.param("270.00", "21", "40.50", "8.51", "49.01", id="VAT half cent rounds up"),
        pytest.param("267.00", "21", "40.05", "8.41", "48.46", id="VAT 8.4105 rounds down"),
        pytest.param("1000.00", "9", "150.00", "13.50", "163.50", id="other VAT rate"),
        pytest.param("2000000.00", "21", "6775.00", "1422.75", "8197.75", id="VAT on the cap"),
    ],
)
def test_vat_only_for_a_creditor_who_cannot_deduct_it(
    principal: str, vat_percent: str, costs: str, vat: str, total: str
) -> None:
    deductible = law.collection_costs(D(principal), vat_percent=D(vat_percent))
    assert deductible.vat == D("0.00")
    assert deductible.vat_percent is None
    assert deductible.total == deductible.costs == D(costs)
    result = law.collection_costs(
        D(principal), creditor_deducts_vat=False, vat_percent=D(vat_percent)
    )
    assert (result.costs, result.vat, result.total) == (D(costs), D(vat), D(total))
    assert result.vat_percent == D(vat_percent)


def test_combined_letter_of_several_invoices_crossing_bands() -> None:
    items = [D("1200.00"), D("1800.00"), D("2999.99"), D("0.01")]
    combined = law.collection_costs_for_letter(items, creditor_deducts_vat=False)
    assert combined.principal == D("6000.00")
    assert combined.costs == D("675.00")  # 375 + 250 + 5% of 1,000
    assert combined.vat == D("141.75")
    assert combined.total == D("816.75")
    assert combined == law.collection_costs(D("6000.00"), creditor_deducts_vat=False)
    assert law.collection_costs_for_letter([]).total == D("0.00")
    with pytest.raises(ValueError, match=r"principals\[1\]"):
        law.collection_costs_for_letter([D(1), D(-1)])


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        pytest.param("0.00", "425.00", id="nothing paid"),
        pytest.param("2900.00", "40.00", id="small balance gets the minimum"),
        pytest.param("3000.00", "0.00", id="paid in full in time: no costs"),
        pytest.param("3500.00", "0.00", id="overpaid in time: no costs"),
    ],
)
def test_partial_payment_inside_the_term(paid: str, expected: str) -> None:
    assert law.collection_costs_after_term(D("3000.00"), D(paid)).total == D(expected)


@given(
    a=st.decimals(min_value=D("0.01"), max_value=D("3000000"), places=2),
    b=st.decimals(min_value=D("0.01"), max_value=D("3000000"), places=2),
)
@PROPERTY
def test_costs_are_monotonic_and_within_min_and_max(a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    costs_low = law.collection_costs(low).costs
    costs_high = law.collection_costs(high).costs
    assert costs_low <= costs_high
    for costs in (costs_low, costs_high):
        assert law.BIK_MINIMUM <= costs <= law.BIK_MAXIMUM


# ============================================================================================
# 14-day letter wording (§1.2)
# ============================================================================================


def test_wording_dutch_uses_the_hoge_raad_term_and_exact_costs() -> None:
    costs = law.collection_costs_for_letter([D("100.00"), D("150.00"), D("200.00")])
    wording = law.fourteen_day_letter_wording(costs)
    assert wording.language == "nl"
    assert wording.term_days == 14
    assert (wording.amount_due, wording.costs, wording.costs_total) == (
        D("450.00"),
        D("67.50"),
        D("67.50"),
    )
    term = wording.text(StatementKind.TERM)
    assert "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd" in term
    everything = " ".join(s.text for s in wording.statements)
    assert "dagtekening" not in everything
    assert "verzending" not in everything
    assert "€ 450,00" in wording.text(StatementKind.AMOUNT_DUE)
    assert "€ 67,50" in wording.text(StatementKind.COSTS)
    assert "geen incassokosten" in wording.text(StatementKind.NO_COSTS_IF_PAID)
    assert "geen btw" in wording.text(StatementKind.VAT)
    assert [s.kind for s in wording.statements] == [
        StatementKind.AMOUNT_DUE,
        StatementKind.TERM,
        StatementKind.NO_COSTS_IF_PAID,
        StatementKind.PART_PAYMENT,
        StatementKind.COSTS,
        StatementKind.VAT,
        StatementKind.HANDOVER,
    ]


def test_wording_with_vat_declares_it_expressly() -> None:
    costs = law.collection_costs(D("3000.00"), creditor_deducts_vat=False)
    nl = law.fourteen_day_letter_wording(costs)
    assert "€ 425,00 plus € 89,25 btw, in totaal € 514,25" in nl.text(StatementKind.COSTS)
    assert "verklaren nadrukkelijk" in nl.text(StatementKind.VAT)
    assert "21% btw" in nl.text(StatementKind.VAT)
    en = law.fourteen_day_letter_wording(costs, language="en")
    assert "€425.00 plus €89.25 VAT, €514.25 in total" in en.text(StatementKind.COSTS)
    assert "expressly declare" in en.text(StatementKind.VAT)
    assert (en.vat, en.vat_percent, en.costs_total) == (D("89.25"), D(21), D("514.25"))


def test_wording_english_and_big_amounts() -> None:
    costs = law.collection_costs(D("1234567.80"))
    en = law.fourteen_day_letter_wording(costs, language="en")
    assert "€1,234,567.80" in en.text(StatementKind.AMOUNT_DUE)
    assert "€6,775.00" in en.text(StatementKind.COSTS)
    assert "fourteen days from the day after this letter has been delivered" in en.text(
        StatementKind.TERM
    )
    nl = law.fourteen_day_letter_wording(costs)
    assert "€ 1.234.567,80" in nl.text(StatementKind.AMOUNT_DUE)


def test_wording_options_and_errors() -> None:
    costs = law.collection_costs(D("500.00"))
    wording = law.fourteen_day_letter_wording(
        costs, mention_statutory_interest=True, announce_handover=False
    )
    assert "wettelijke rente" in wording.text(StatementKind.INTEREST)
    with pytest.raises(KeyError):
        wording.text(StatementKind.HANDOVER)
    with pytest.raises(ValueError, match="language"):
        law.fourteen_day_letter_wording(costs, language="de")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="principal"):
        law.fourteen_day_letter_wording(law.collection_costs(D("0.00")))


def test_letter_only_after_verzuim_and_only_for_consumers() -> None:
    assert law.fourteen_day_letter_required(DebtorKind.CONSUMER)
    assert not law.may_send_fourteen_day_letter(d("2024-03-01"), d("2024-03-01"))
    assert law.may_send_fourteen_day_letter(d("2024-03-01"), d("2024-03-02"))


# ============================================================================================
# T.4 Dunning dates: the consumer 14-day letter
# ============================================================================================


@pytest.mark.parametrize(
    ("sent", "delivered", "term_first", "term_last", "costs_from"),
    [
        pytest.param(
            "2024-03-05",
            "2024-03-07",
            "2024-03-08",
            "2024-03-21",
            "2024-03-22",
            id="DUN-01 Tue -> Thu",
        ),
        pytest.param(
            "2024-03-08",
            "2024-03-12",
            "2024-03-13",
            "2024-03-26",
            "2024-03-27",
            id="DUN-02 Fri -> Tue (Sat counts, Sun/Mon do not)",
        ),
        pytest.param(
            "2024-03-09",
            "2024-03-13",
            "2024-03-14",
            "2024-03-27",
            "2024-03-28",
            id="DUN-03 Sat -> Wed",
        ),
        pytest.param(
            "2024-04-25",
            "2024-04-30",
            "2024-05-01",
            "2024-05-14",
            "2024-05-15",
            id="DUN-04 Koningsdag Sat 27 Apr",
        ),
        pytest.param(
            "2024-12-23",
            "2024-12-27",
            "2024-12-28",
            "2025-01-10",
            "2025-01-11",
            id="DUN-05 Christmas",
        ),
        pytest.param(
            "2024-04-04",
            "2024-04-06",
            "2024-04-07",
            "2024-04-20",
            "2024-04-21",
            id="DUN-06 due+34 letter, costs due+51",
        ),
    ],
)
def test_dun_vectors_as_the_research_computes_them(
    sent: str, delivered: str, term_first: str, term_last: str, costs_from: str
) -> None:
    # The research's algorithm counts the term without the Algemene termijnenwet.
    term = law.fourteen_day_term(d(sent), apply_atw=False)
    assert term.sent_on == d(sent)
    assert term.delivered_on == d(delivered) == law.delivery_date(d(sent))
    assert term.term_start == d(term_first)
    assert term.fourteenth_day == term.term_end == d(term_last)
    assert term.costs_from == d(costs_from)
    assert law.costs_may_be_charged_on(d(sent), apply_atw=False) == d(costs_from)
    assert law.term_end(d(sent), apply_atw=False) == d(term_last)


@pytest.mark.parametrize(
    ("sent", "costs_from"),
    [
        pytest.param("2024-03-05", "2024-03-22", id="DUN-01 unchanged (ends Thu)"),
        pytest.param("2024-03-08", "2024-03-27", id="DUN-02 unchanged (ends Tue)"),
        pytest.param("2024-03-09", "2024-03-28", id="DUN-03 unchanged (ends Wed)"),
        pytest.param("2024-04-25", "2024-05-15", id="DUN-04 unchanged (ends Tue)"),
        pytest.param("2024-12-23", "2025-01-11", id="DUN-05 unchanged (ends Fri)"),
        pytest.param("2024-04-04", "2024-04-23", id="DUN-06 ends Sat 04-20 -> Mon 04-22"),
    ],
)
def test_dun_vectors_with_the_default_atw_extension(sent: str, costs_from: str) -> None:
    assert law.costs_may_be_charged_on(d(sent)) == d(costs_from)


def test_dun_06_fixed_plus_50_handover_is_early() -> None:
    due = d("2024-03-01")
    letter = due + timedelta(days=34)
    assert letter == d("2024-04-04")
    research = law.costs_may_be_charged_on(letter, apply_atw=False)
    assert research == due + timedelta(days=51)
    assert due + timedelta(days=50) < research < law.costs_may_be_charged_on(letter)


def test_dun_07_b2b_needs_no_letter() -> None:
    assert not law.fourteen_day_letter_required(DebtorKind.BUSINESS)
    assert law.commercial_costs_due_from(d("2024-03-29")) == d("2024-03-30")


@pytest.mark.parametrize(
    ("sent", "delivered"),
    [
        pytest.param("2024-03-28", "2024-04-02", id="Good Friday and Easter Monday skipped"),
        pytest.param("2024-03-30", "2024-04-03", id="sent Sat before Easter Monday"),
        pytest.param("2025-04-17", "2025-04-22", id="2025 Good Friday and Easter Monday"),
        pytest.param("2025-04-24", "2025-04-29", id="King's Day on Sunday moves to Sat 26th"),
        pytest.param("2025-04-25", "2025-04-30", id="sent Fri, Sat 26th is King's Day"),
        pytest.param("2014-04-24", "2014-04-29", id="first King's Day, Sat 26 Apr 2014"),
        pytest.param("2013-04-26", "2013-05-01", id="Queen's Day Tue 30 Apr 2013"),
        pytest.param("2021-12-23", "2021-12-28", id="Christmas on a weekend"),
        pytest.param("2024-12-24", "2024-12-28", id="sent Christmas Eve"),
        pytest.param("2025-12-24", "2025-12-30", id="Christmas Thu/Fri"),
        pytest.param("2024-12-31", "2025-01-03", id="New Year's Day"),
        pytest.param("2026-05-02", "2026-05-07", id="Bevrijdingsdag non-lustrum year counts"),
        pytest.param("2025-05-03", "2025-05-07", id="Bevrijdingsdag lustrum year (Mon)"),
        pytest.param("2024-05-08", "2024-05-11", id="Ascension Day Thu 9 May"),
        pytest.param("2024-05-17", "2024-05-21", id="Whit Monday (a Monday anyway)"),
        pytest.param("2024-03-10", "2024-03-13", id="sent on a Sunday"),
    ],
)
def test_delivery_around_holidays(sent: str, delivered: str) -> None:
    assert law.delivery_date(d(sent)) == d(delivered)


def test_extra_equated_holidays_push_delivery() -> None:
    # Atw art. 3 lid 3: days the Crown equates with holidays, e.g. the Friday after Ascension.
    friday = d("2024-05-10")
    assert law.delivery_date(d("2024-05-08")) == d("2024-05-11")
    assert law.delivery_date(d("2024-05-08"), extra_holidays={friday}) == d("2024-05-14")


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        pytest.param(
            2024,
            ["01-01", "03-29", "04-01", "04-27", "05-09", "05-20", "12-25", "12-26"],
            id="2024 (5 May is a Sunday)",
        ),
        pytest.param(
            2025,
            ["01-01", "04-18", "04-21", "04-26", "05-05", "05-29", "06-09", "12-25", "12-26"],
            id="2025 King's Day on Sat 26th",
        ),
        pytest.param(
            2026,
            ["01-01", "04-03", "04-06", "04-27", "05-05", "05-14", "05-25", "12-25", "12-26"],
            id="2026 Bevrijdingsdag in a non-lustrum year",
        ),
    ],
)
def test_the_atw_holiday_list(year: int, expected: list[str]) -> None:
    # Guards the reading of the `holidays` library against changes in a new release.
    got = sorted(calendar.public_holidays(year))
    assert got == [d(f"{year}-{md}") for md in expected]


def test_kings_day_on_a_sunday_is_celebrated_on_the_saturday() -> None:
    assert law.is_public_holiday(d("2025-04-26"))
    assert not law.is_public_holiday(d("2025-04-27"))
    assert not law.is_delivery_day(d("2025-04-26"))
    assert law.is_delivery_day(d("2024-04-26"))


@pytest.mark.parametrize(
    ("delivered", "costs_from"),
    [
        pytest.param("2024-03-16", "2024-04-03", id="ends Sat before Easter -> Tue"),
        pytest.param("2024-03-15", "2024-04-03", id="ends on Good Friday -> Tue"),
        pytest.param("2024-12-11", "2024-12-28", id="ends on Christmas Day -> Fri"),
        pytest.param("2025-04-12", "2025-04-29", id="ends Sat 26th King's Day -> Mon"),
        pytest.param("2024-03-14", "2024-03-29", id="ends Thu: no extension"),
    ],
)
def test_atw_extension_of_the_term(delivered: str, costs_from: str) -> None:
    term = law.fourteen_day_term_from_delivery(d(delivered))
    assert term.fourteenth_day == d(delivered) + timedelta(days=14)
    assert term.costs_from == d(costs_from)
    assert not calendar.is_atw_rest_day(term.term_end)
    assert term.sent_on is None


def test_atw_extension_itself() -> None:
    assert law.extend_per_atw(d("2024-03-29")) == d("2024-04-02")
    assert law.extend_per_atw(d("2024-04-02")) == d("2024-04-02")


@pytest.mark.parametrize(
    ("sent", "delivered", "costs_from"),
    [
        # Summer time started on Sunday 2024-03-31 (also Easter Sunday) and ended 2024-10-27.
        pytest.param("2024-03-27", "2024-03-30", "2024-04-16", id="DST start week (Easter)"),
        pytest.param("2024-10-24", "2024-10-26", "2024-11-12", id="DST end week, ends Sat"),
        pytest.param("2024-10-25", "2024-10-29", "2024-11-13", id="DST end, sent Fri"),
        pytest.param("2025-03-27", "2025-03-29", "2025-04-15", id="DST start 2025-03-30"),
    ],
)
def test_dst_weeks_shift_nothing(sent: str, delivered: str, costs_from: str) -> None:
    term = law.fourteen_day_term(d(sent))
    assert term.delivered_on == d(delivered)
    assert term.costs_from == d(costs_from)


def test_datetimes_are_refused_so_no_timezone_can_move_a_day() -> None:
    late_evening = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    with pytest.raises(TypeError, match="datetime"):
        law.delivery_date(late_evening)
    with pytest.raises(TypeError, match="datetime"):
        law.statutory_interest(D("100"), late_evening, d("2024-11-01"), CONSUMER)
    with pytest.raises(TypeError):
        law.delivery_date("2024-10-26")  # type: ignore[arg-type]


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)))
@PROPERTY
def test_delivery_is_after_sending_and_never_a_sunday_monday_or_holiday(sent: date) -> None:
    delivered = law.delivery_date(sent)
    assert delivered > sent
    assert delivered.weekday() not in (6, 0)
    assert not law.is_public_holiday(delivered)
    # Exactly postal_days - 1 delivery days lie strictly between sending and delivery (one
    # before the Postbesluit change of 1 July 2026; more after it, 13.3).
    between = [
        sent + timedelta(days=n)
        for n in range(1, (delivered - sent).days)
        if law.is_delivery_day(sent + timedelta(days=n))
    ]
    assert len(between) == calendar.default_postal_days(sent) - 1
    term = law.fourteen_day_term(sent)
    assert term.costs_from >= delivered + timedelta(days=15)
    assert not calendar.is_atw_rest_day(term.term_end)


# ============================================================================================
# T.2 Statutory interest
# ============================================================================================


@pytest.mark.parametrize(
    ("kind", "principal", "start", "end", "expected", "pieces"),
    [
        pytest.param(
            CONSUMER,
            "1000.00",
            "2023-01-01",
            "2023-12-31",
            "50.09",
            ["19.84", "30.25"],
            id="INT-01 B2C 2023",
        ),
        pytest.param(
            CONSUMER,
            "1000.00",
            "2023-01-01",
            "2024-06-30",
            "86.74",
            ["19.84", "30.25", "36.65"],
            id="INT-02 B2C capitalised on 2024-01-01",
        ),
        pytest.param(
            COMMERCIAL,
            "10000.00",
            "2024-02-01",
            "2025-01-31",
            "1229.35",
            ["517.12", "617.53", "94.70"],
            id="INT-03 B2B three rates",
        ),
        pytest.param(
            COMMERCIAL,
            "10000.00",
            "2024-02-01",
            "2025-06-30",
            "1743.90",
            ["517.12", "617.53", "94.70", "514.55"],
            id="INT-04 B2B capitalised on 2025-02-01",
        ),
        pytest.param(
            COMMERCIAL,
            "10000.00",
            "2023-07-01",
            "2023-12-31",
            "604.93",
            ["604.93"],
            id="INT-05 B2B 184 days at 12%",
        ),
        pytest.param(
            COMMERCIAL,
            "2500.00",
            "2025-01-01",
            "2025-03-31",
            "68.73",
            ["68.73"],
            id="INT-06 B2B 90 days at 11.15%",
        ),
        pytest.param(
            CONSUMER,
            "500.00",
            "2024-03-01",
            "2024-03-30",
            "2.88",
            ["2.88"],
            id="INT-07 B2C 30 days at 7%",
        ),
    ],
)
def test_interest_vectors(
    kind: InterestKind, principal: str, start: str, end: str, expected: str, pieces: list[str]
) -> None:
    result = law.statutory_interest(D(principal), d(start), d(end), kind)
    assert result.interest == D(expected)
    assert [s.interest for s in result.segments] == [D(p) for p in pieces]
    assert result.day_count is DayCount.ACT_365


def test_int_02_and_04_capitalised_bases() -> None:
    i2 = law.statutory_interest(D("1000.00"), d("2023-01-01"), d("2024-06-30"), CONSUMER)
    assert i2.segments[-1].base == i2.final_base == D("1050.09")
    assert i2.segments[-1].first == d("2024-01-01")
    i4 = law.statutory_interest(D("10000.00"), d("2024-02-01"), d("2025-06-30"), COMMERCIAL)
    assert i4.segments[-1].first == d("2025-02-01")
    assert i4.segments[-1].base == i4.final_base == D("11229.35")
    assert [s.days for s in i4.segments] == [151, 184, 31, 150]


@pytest.mark.parametrize(
    ("day_count", "expected"),
    [
        pytest.param(DayCount.ACT_365, "70.19", id="INT-08 act/365"),
        pytest.param(DayCount.ACT_ACT, "70.00", id="INT-08 act/act"),
    ],
)
def test_int_08_leap_year_day_count(day_count: DayCount, expected: str) -> None:
    result = law.statutory_interest(
        D("1000.00"), d("2024-01-01"), d("2024-12-31"), CONSUMER, day_count=day_count
    )
    assert result.interest == D(expected)
    # 2024-01-01 and 2024-07-01 both have 7 %: one segment, not two.
    assert len(result.segments) == 1


def test_int_09_commercial_interest_without_an_agreed_due_date() -> None:
    assert law.commercial_interest_start_without_agreed_term(d("2024-03-04")) == d("2024-04-04")


def test_interest_start_helpers() -> None:
    assert law.interest_start_after_due_date(d("2024-01-31")) == d("2024-02-01")
    assert law.consumer_interest_start_after_letter(d("2024-03-05")) == d("2024-03-22")
    assert law.consumer_interest_start_after_letter(d("2024-04-04")) == d("2024-04-23")


@pytest.mark.parametrize(
    ("day_count", "expected"),
    [
        pytest.param(DayCount.ACT_365, "0.58", id="act/365: 1000 x 7% x 3/365"),
        pytest.param(DayCount.ACT_ACT, "0.57", id="act/act: 1000 x 7% x 3/366"),
    ],
)
def test_interest_over_29_february(day_count: DayCount, expected: str) -> None:
    result = law.statutory_interest(
        D("1000.00"), d("2024-02-28"), d("2024-03-01"), CONSUMER, day_count=day_count
    )
    assert result.segments[0].days == 3
    assert result.interest == D(expected)


def test_interest_year_from_29_february_ends_on_28_february() -> None:
    result = law.statutory_interest(D("1000.00"), d("2024-02-29"), d("2025-03-31"), CONSUMER)
    first_year = [s for s in result.segments if s.last < d("2025-03-01")]
    assert first_year[-1].last == d("2025-02-28")
    second_year = [s for s in result.segments if s.first >= d("2025-03-01")]
    assert second_year[0].first == d("2025-03-01")
    year_interest = sum((s.interest for s in first_year), D(0))
    assert second_year[0].base == D("1000.00") + year_interest
    # 2024-02-29..06-30 (123 d) and 07-01..12-31 (184 d) at 7 %, 2025-01-01..02-28 (59 d) at 6 %.
    assert [s.days for s in first_year] == [307, 59]
    assert year_interest == D("58.88") + D("9.70")


def test_act_act_splits_a_rate_segment_at_new_year() -> None:
    table = law.RateTable(
        periods=(law.RatePeriod(d("2023-01-01"), D(10), D(10)),), known_through=d("2024-12-31")
    )
    result = law.statutory_interest(
        D("1000.00"),
        d("2023-07-01"),
        d("2024-06-30"),
        CONSUMER,
        day_count=DayCount.ACT_ACT,
        rates=table,
    )
    exact = 100 * (Fraction(184, 365) + Fraction(182, 366))  # 50.41 + 49.73 = 100.14...
    assert len(result.segments) == 1
    assert result.interest == D("100.14")
    assert abs(Fraction(result.interest) - exact) <= Fraction(1, 200)


def test_interest_across_a_dst_change_counts_calendar_days() -> None:
    result = law.statutory_interest(D("3650.00"), d("2024-10-20"), d("2024-11-03"), CONSUMER)
    assert result.segments[0].days == 15  # 2024-10-27 is one day, 25 hours long or not
    assert result.interest == D("10.50")  # 3650 x 7 % x 15 / 365


def test_interest_edge_cases() -> None:
    empty = law.statutory_interest(D("100.00"), d("2024-03-02"), d("2024-03-01"), CONSUMER)
    assert (empty.interest, empty.segments, empty.final_base) == (D("0.00"), (), D("100.00"))
    zero = law.statutory_interest(D("0.00"), d("2024-03-01"), d("2024-03-31"), COMMERCIAL)
    assert zero.interest == D("0.00")
    one_day = law.statutory_interest(D("10000.00"), d("2024-03-01"), d("2024-03-01"), COMMERCIAL)
    assert one_day.interest == D("3.42")  # 10000 x 12.5 % / 365 = 3.4246...


def test_rates_outside_the_table_are_refused() -> None:
    with pytest.raises(law.RateNotKnown, match="2022-12-31"):
        law.statutory_interest(D("100.00"), d("2022-12-31"), d("2023-01-31"), CONSUMER)
    with pytest.raises(law.RateNotKnown, match="2026-07-01"):
        law.statutory_interest(D("100.00"), d("2026-06-01"), d("2026-07-01"), COMMERCIAL)
    assert issubclass(law.RateNotKnown, ConfigError)


def test_the_shipped_table_holds_the_research_rates() -> None:
    table = law.shipped_rate_table()
    assert table is law.shipped_rate_table()  # read once
    rows = [(p.effective_from, p.consumer, p.commercial) for p in table.periods]
    assert rows == [
        (d("2023-01-01"), D("4"), D("10.5")),
        (d("2023-07-01"), D("6"), D("12")),
        (d("2024-01-01"), D("7"), D("12.5")),
        (d("2024-07-01"), D("7"), D("12.25")),
        (d("2025-01-01"), D("6"), D("11.15")),
        (d("2025-07-01"), D("6"), D("10.15")),
        (d("2026-01-01"), D("4"), D("10.15")),
    ]
    assert table.known_through == d("2026-06-30")
    assert all(p.source for p in table.periods)
    assert table.rate_on(d("2024-06-30"), COMMERCIAL) == D("12.5")
    assert table.rate_on(d("2024-07-01"), COMMERCIAL) == D("12.25")
    assert table.rate_on(d("2025-06-30"), CONSUMER) == D("6")


def test_the_shipped_table_is_package_data() -> None:
    import importlib.resources

    resource = importlib.resources.files("connector.dunning").joinpath("interest_rates.toml")
    assert law.parse_rate_table(resource.read_text(encoding="utf-8")) == law.shipped_rate_table()


OVERRIDE = """
format = 1
known_through = 2025-12-31

[[rates]]
effective_from = 2025-01-01
consumer = "6"
commercial = "11.15"

[[rates]]
effective_from = 2025-07-01
consumer = 6.5
commercial = "10.15"
"""


def test_an_override_table_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "rates.toml"
    path.write_text(OVERRIDE, encoding="utf-8")
    table = law.load_rate_table(path)
    assert table.periods[1].consumer == D("6.5")  # a TOML float becomes an exact Decimal
    result = law.statutory_interest(
        D("2500.00"), d("2025-06-01"), d("2025-07-30"), COMMERCIAL, rates=table
    )
    # 30 d at 11.15 % = 22.91; 30 d at 10.15 % = 20.86
    assert [s.interest for s in result.segments] == [D("22.91"), D("20.86")]
    assert result.interest == D("43.77")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("format = [", "not valid TOML", id="bad TOML"),
        pytest.param("format = 2", "format = 1", id="unknown format"),
        pytest.param("format = 1\nknown_through = 2025-01-01", "at least one", id="no rows"),
        pytest.param(
            "format = 1\nknown_through = 2025-01-01\n[[rates]]\neffective_from = 2025-01-01\n"
            'consumer = "x"\ncommercial = "1"',
            "consumer",
            id="bad rate",
        ),
        pytest.param(
            "format = 1\nknown_through = 2025-01-01\n[[rates]]\neffective_from = 2025-01-01\n"
            'consumer = "-1"\ncommercial = "1"',
            "consumer",
            id="negative rate",
        ),
        pytest.param(
            'format = 1\nknown_through = 2025-01-01\n[[rates]]\neffective_from = "2025"\n'
            'consumer = "1"\ncommercial = "1"',
            "effective_from",
            id="bad date",
        ),
        pytest.param(
            "format = 1\nknown_through = 2024-01-01\n[[rates]]\neffective_from = 2025-01-01\n"
            'consumer = "1"\ncommercial = "1"',
            "known_through",
            id="known_through before last rate",
        ),
        pytest.param(
            "format = 1\nknown_through = 2025-12-01\n[[rates]]\neffective_from = 2025-02-01\n"
            'consumer = "1"\ncommercial = "1"\n[[rates]]\neffective_from = 2025-01-01\n'
            'consumer = "1"\ncommercial = "1"',
            "date order",
            id="rows out of order",
        ),
    ],
)
def test_bad_rate_tables_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        law.parse_rate_table(text)


def test_a_missing_rate_table_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        law.load_rate_table(tmp_path / "missing.toml")


@given(
    principal=st.decimals(min_value=D("0.00"), max_value=D("1000000"), places=2),
    start=st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 6, 30)),
    days=st.integers(min_value=0, max_value=900),
    kind=st.sampled_from(InterestKind),
)
@PROPERTY
def test_interest_grows_with_time(
    principal: Decimal, start: date, days: int, kind: InterestKind
) -> None:
    end = min(start + timedelta(days=days), date(2025, 6, 29))
    shorter = law.statutory_interest(principal, start, end, kind)
    longer = law.statutory_interest(principal, start, end + timedelta(days=1), kind)
    assert D(0) <= shorter.interest <= longer.interest
    assert sum((s.days for s in longer.segments), 0) == (longer.end - start).days + 1


# ============================================================================================
# T.2 Applying payments (art. 6:44 BW)
# ============================================================================================


@pytest.mark.parametrize(
    ("open_", "payment", "applied", "left"),
    [
        pytest.param(
            ("875.00", "250.00", "10000.00"),
            "10000.00",
            ("875.00", "250.00", "8875.00"),
            ("0.00", "0.00", "1125.00"),
            id="IMP-01 costs, interest, then principal",
        ),
        pytest.param(
            ("40.00", "5.00", "100.00"),
            "100.00",
            ("40.00", "5.00", "55.00"),
            ("0.00", "0.00", "45.00"),
            id="IMP-02 small claim",
        ),
        pytest.param(
            ("40.00", "5.00", "100.00"),
            "30.00",
            ("30.00", "0.00", "0.00"),
            ("10.00", "5.00", "100.00"),
            id="part of the costs only",
        ),
        pytest.param(
            ("40.00", "5.00", "100.00"),
            "42.50",
            ("40.00", "2.50", "0.00"),
            ("0.00", "2.50", "100.00"),
            id="costs and part of the interest",
        ),
        pytest.param(
            ("0.00", "0.00", "1000.00"),
            "400.00",
            ("0.00", "0.00", "400.00"),
            ("0.00", "0.00", "600.00"),
            id="partial payment inside the 14-day term (no costs yet)",
        ),
    ],
)
def test_apply_payment(
    open_: tuple[str, str, str],
    payment: str,
    applied: tuple[str, str, str],
    left: tuple[str, str, str],
) -> None:
    costs, interest, principal = (D(x) for x in open_)
    result = law.apply_payment(costs, interest, principal, D(payment))
    assert (result.to_costs, result.to_interest, result.to_principal) == tuple(
        D(x) for x in applied
    )
    assert (result.costs, result.interest, result.principal) == tuple(D(x) for x in left)
    assert result.surplus == D("0.00")


def test_apply_payment_surplus_and_errors() -> None:
    result = law.apply_payment(D("40.00"), D("5.00"), D("100.00"), D("150.00"))
    assert result.surplus == D("5.00")
    assert (result.costs, result.interest, result.principal) == (D(0), D(0), D(0))
    with pytest.raises(ValueError, match="payment"):
        law.apply_payment(D("0"), D("0"), D("1"), D("-1"))
    with pytest.raises(TypeError):
        law.apply_payment(D("0"), D("0"), D("1"), 1.0)  # type: ignore[arg-type]


amounts = st.decimals(min_value=D("0.00"), max_value=D("10000000"), places=2)


@given(costs=amounts, interest=amounts, principal=amounts, payment=amounts)
@PROPERTY
def test_payment_application_conserves_the_total(
    costs: Decimal, interest: Decimal, principal: Decimal, payment: Decimal
) -> None:
    r = law.apply_payment(costs, interest, principal, payment)
    assert r.to_costs + r.to_interest + r.to_principal + r.surplus == payment
    assert r.to_costs + r.costs == costs
    assert r.to_interest + r.interest == interest
    assert r.to_principal + r.principal == principal
    assert min(r.to_costs, r.to_interest, r.to_principal, r.surplus) >= 0
    # The order of art. 6:44: nothing reaches a later part while an earlier one is open.
    if r.to_interest > 0:
        assert r.costs == 0
    if r.to_principal > 0:
        assert r.costs == r.interest == 0
    if r.surplus > 0:
        assert r.costs == r.interest == r.principal == 0


# ============================================================================================
# T.5 Betalingskenmerk
# ============================================================================================


@pytest.mark.parametrize(
    ("base", "weighted_sum", "check", "reference"),
    [
        pytest.param("000056789012345", 215, 5, "5000056789012345", id="KEN-01 official"),
        pytest.param("000000000020241", 54, 1, "1000000000020241", id="KEN-02 10 becomes 1"),
        pytest.param("000000000000001", 2, 9, "9000000000000001", id="KEN-03"),
    ],
)
def test_betalingskenmerk_vectors(base: str, weighted_sum: int, check: int, reference: str) -> None:
    assert law.betalingskenmerk_weighted_sum(base) == weighted_sum
    assert law.betalingskenmerk_check_digit(base) == check
    assert law.make_betalingskenmerk(int(base)) == reference
    assert law.is_valid_betalingskenmerk(reference)


def test_betalingskenmerk_check_digit_11_becomes_0() -> None:
    base = "000000000000019"  # A = 9 x 2 + 1 x 4 = 22, a multiple of 11: C = 11 -> 0
    assert law.betalingskenmerk_weighted_sum(base) == 22
    assert law.betalingskenmerk_check_digit(base) == 0
    assert law.is_valid_betalingskenmerk("0" + base)


def test_betalingskenmerk_formats_and_rejects() -> None:
    assert law.format_betalingskenmerk("5000056789012345") == "5000 0567 8901 2345"
    assert law.is_valid_betalingskenmerk("5000 0567 8901 2345")
    assert law.is_valid_betalingskenmerk("5000.0567.8901.2345")
    assert not law.is_valid_betalingskenmerk("6000056789012345")  # wrong check digit
    assert not law.is_valid_betalingskenmerk("5000056789012354")  # swapped digits
    assert not law.is_valid_betalingskenmerk("500005678901234")  # 15 digits
    assert not law.is_valid_betalingskenmerk("12345678")  # 8 digits
    assert not law.is_valid_betalingskenmerk("5000O56789012345")  # a letter O
    assert not law.is_valid_betalingskenmerk("٥000056789012345")  # a non-ASCII digit
    assert not law.is_valid_betalingskenmerk("")
    assert law.is_valid_betalingskenmerk("1234567")  # 7 digits carry no check digit
    with pytest.raises(ValueError):
        law.format_betalingskenmerk("12a4")
    with pytest.raises(ValueError):
        law.make_betalingskenmerk(10**15)
    with pytest.raises(ValueError):
        law.make_betalingskenmerk(-1)
    with pytest.raises(ValueError):
        law.make_betalingskenmerk(1, length=15)
    with pytest.raises(TypeError):
        law.make_betalingskenmerk(True)


@pytest.mark.parametrize(
    ("length", "code"), [(9, "7"), (10, "8"), (11, "9"), (12, "0"), (13, "1"), (14, "2")]
)
def test_short_betalingskenmerk_has_a_length_code(length: int, code: str) -> None:
    reference = law.make_betalingskenmerk(4711, length=length)
    assert len(reference) == length
    assert reference[1] == code
    assert reference.endswith("4711")
    assert law.is_valid_betalingskenmerk(reference)
    wrong_code = reference[0] + str((int(code) + 1) % 10) + reference[2:]
    assert not law.is_valid_betalingskenmerk(wrong_code)


@given(st.integers(min_value=0, max_value=10**15 - 1))
@PROPERTY
def test_every_generated_betalingskenmerk_is_valid(number: int) -> None:
    reference = law.make_betalingskenmerk(number)
    assert len(reference) == 16
    assert law.is_valid_betalingskenmerk(reference)
    assert int(reference[1:]) == number
