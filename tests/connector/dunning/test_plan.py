"""The pure plan: what gets dunned, when, in which letter and for how much."""

from __future__ import annotations

from dataclasses import replace as dc_replace
from datetime import date
from datetime import timedelta
from decimal import Decimal

import pytest

from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.model import StepKind
from connector.dunning.plan import ArrangementView
from connector.dunning.plan import Claim
from connector.dunning.plan import ItemState
from connector.dunning.plan import TermLetter
from connector.dunning.plan import payment_reference
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.policy import Costs
from connector.dunning.policy import Interest
from connector.dunning.policy import RateUnknown
from connector.dunning.policy import Step
from connector.dunning.policy import make_policy
from connector.dunning.segments import Override
from connector.dunning.segments import parse_rules
from connector.dunning.tables import OverrideKind
from tests.fakes.dunning import D
from tests.fakes.dunning import d
from tests.fakes.dunning import debtor
from tests.fakes.dunning import row
from tests.fakes.dunning import run_plan
from tests.fakes.dunning import snapshot
from tests.fakes.dunning import view

STEPS = [s.name for s in DEFAULT_POLICY.steps]
#: The default policy without a backlog step: every item starts at the first reminder.
NO_BACKLOG = dc_replace(DEFAULT_POLICY, backlog_start_step="")


def state(
    step: str,
    sent_on: str,
    *,
    action: int = 1,
    status: str = "sent",
    delivered: str | None = None,
    costs_from: str | None = None,
    policy: str = "default",
) -> ItemState:
    return ItemState(
        action_id=action,
        policy=policy,
        step_name=step,
        step_index=STEPS.index(step) if step in STEPS else 0,
        status=status,
        sent_on=d(sent_on),
        delivered_on=d(delivered) if delivered else d(sent_on),
        costs_from=d(costs_from) if costs_from else None,
    )


def only(result):
    assert len(result.actions) == 1, [a.key for a in result.actions]
    return result.actions[0]


# --- what goes in a letter --------------------------------------------------------------------


def test_a_debtors_items_at_the_same_step_go_in_one_letter():
    """Pain: too many letters per customer (OCA credit-control #21)."""
    items = [row(n, due=f"2025-{n:02d}-01", amount="100.00") for n in range(1, 13)]
    result = run_plan(snapshot(items), "2025-12-20", policies={"default": NO_BACKLOG})
    action = only(result)
    assert action.letter.step_name == "reminder_1"
    assert [i.item_id for i in action.letter.items] == list(range(1, 13))
    assert action.letter.principal == D("1200.00")


def test_letters_are_per_debtor():
    items = [row(1), row(2, debtor="D2"), row(3, debtor="D2")]
    result = run_plan(snapshot(items), "2025-01-20")
    assert sorted((a.letter.debtor.code, len(a.letter.items)) for a in result.actions) == [
        ("D1", 1),
        ("D2", 2),
    ]


def test_an_item_without_an_amount_open_is_never_dunned():
    """Pain: reminders for paid invoices (Akaunting #259): the plan sees what is open."""
    result = run_plan(snapshot([row(1, amount="0.00"), row(2)]), "2025-01-20")
    assert [i.item_id for i in only(result).letter.items] == [2]


def test_a_partly_paid_item_is_still_dunned_for_what_is_open():
    """Pain: partially paid invoices drop out of dunning (OCA credit-control #330)."""
    action = only(run_plan(snapshot([row(1, amount="40.00")]), "2025-01-20"))
    assert action.letter.principal == D("40.00")


def test_credit_notes_are_netted():
    """Pain: open credit notes are not netted in reminders (OCA credit-control #211)."""
    items = [
        row(1, amount="100.00"),
        row(2, amount="150.00"),
        row(3, amount="-50.00", due="2025-03-01"),
    ]
    action = only(run_plan(snapshot(items), "2025-01-20"))
    assert action.letter.principal == D("200.00")
    assert [(i.item_id, i.open_amount) for i in action.letter.items] == [
        (1, D("100.00")),
        (2, D("150.00")),
        (3, D("-50.00")),
    ]
    assert action.letter.total == D("200.00")


def test_credit_notes_that_cover_everything_mean_no_letter():
    result = run_plan(snapshot([row(1), row(2, amount="-120.00")]), "2025-01-20")
    assert result.actions == []
    assert [w.reason for w in result.waiting] == [
        "credit notes and unapplied payments cover the overdue items"
    ]


def test_items_below_the_minimum_wait_until_there_is_enough():
    small = run_plan(snapshot([row(1, amount="0.40")]), "2025-01-20")
    assert small.actions == []
    assert "below the step's minimum of 1.00" in small.waiting[0].reason
    more = run_plan(snapshot([row(1, amount="0.40"), row(2, amount="0.70")]), "2025-01-20")
    assert [i.item_id for i in only(more).letter.items] == [1, 2]


# --- when: the schedule and sequential escalation ----------------------------------------------


def test_the_first_reminder_falls_due_two_days_after_the_due_date():
    snap = snapshot([row(1, due="2025-01-10")])
    assert run_plan(snap, "2025-01-11").actions == []
    assert only(run_plan(snap, "2025-01-12")).letter.step_name == "reminder_1"


def test_after_missed_days_an_item_moves_one_step_only():
    """Pain: levels skipped after a partial payment or a missed run (Kill Bill #2297, Invoice
    Ninja #2311): an item whose due date is long past still gets its next step only."""
    snap = snapshot([row(1, due="2025-01-10")], states={1: state("reminder_1", "2025-01-12")})
    action = only(run_plan(snap, "2025-06-01"))
    assert action.letter.step_name == "reminder_2"
    assert action.step_index == 1


def test_never_sooner_than_the_steps_spacing():
    # The first reminder went out late (due+40); the second waits its 16 days from then.
    snap = snapshot([row(1, due="2025-01-10")], states={1: state("reminder_1", "2025-02-19")})
    assert run_plan(snap, "2025-03-06").actions == []  # due+18 long past, spacing not
    assert only(run_plan(snap, "2025-03-07")).letter.step_name == "reminder_2"


def test_an_item_whose_letter_is_underway_gets_no_further_step():
    for status in ("pending", "pending_approval", "sending", "uncertain"):
        snap = snapshot([row(1)], states={1: state("reminder_1", "2025-01-12", status=status)})
        result = run_plan(snap, "2025-06-01")
        assert result.actions == [], status
        assert result.skipped["underway or finished"] == 1


def test_a_handed_over_item_is_finished():
    snap = snapshot([row(1)], states={1: state("collection", "2025-03-01")})
    assert run_plan(snap, "2026-01-01").actions == []


@pytest.mark.parametrize(
    ("apply_atw", "first_day"),
    [
        # T.4 DUN-06: due 2024-03-01, final notice posted Thu 04-04, delivered Sat 04-06, the
        # term runs 04-07 .. 04-20: hand-over from 04-21 (due+51), never the fixed due+50.
        (False, "2024-04-21"),
        # The 20th is a Saturday: with the Algemene termijnenwet the term runs to Monday 22nd.
        (True, "2024-04-23"),
    ],
)
def test_hand_over_follows_the_final_notices_delivery_and_term(apply_atw, first_day):
    from connector.dunning.plan import plan

    delivered = law.delivery_date(date(2024, 4, 4))
    assert delivered == date(2024, 4, 6)
    snap = snapshot(
        [row(1, due="2024-03-01")],
        states={1: state("final_notice", "2024-04-04", delivered="2024-04-06")},
    )
    first = d(first_day)
    for day, expected in ((first - timedelta(days=1), 0), (first, 1)):
        result = plan({"default": DEFAULT_POLICY}, (), snap, {1: day}, apply_atw=apply_atw)
        assert len(result.actions) == expected, day
    assert d("2024-03-01") + timedelta(days=50) < first


def test_days_after_previous_counts_from_the_previous_letters_delivery():
    policy = make_policy(
        "p",
        [
            Step("one", StepKind.REMINDER, (ChannelKind.LETTER,), "reminder_1", days_after_due=1),
            Step(
                "two", StepKind.REMINDER, (ChannelKind.EMAIL,), "reminder_2", days_after_previous=7
            ),
        ],
    )
    # Posted on Friday 2024-03-08, presumed delivered Tuesday 03-12 (T.4 DUN-02).
    snap = snapshot(
        [row(1, due="2024-03-01")],
        states={
            1: state("one", "2024-03-08", delivered="2024-03-12", policy="p")._replace(step_index=0)
        },
        admins=[view(policy="p")],
    )
    assert (
        run_plan(snap, "2024-03-18", policies={"p": policy, "default": DEFAULT_POLICY}).actions
        == []
    )
    result = run_plan(snap, "2024-03-19", policies={"p": policy, "default": DEFAULT_POLICY})
    assert only(result).letter.step_name == "two"


# --- the law: costs and interest ------------------------------------------------------------------


def test_business_final_notice_charges_bik_over_all_items_of_the_letter():
    # T.1 BIK-17: 100 + 150 + 200 in one letter: 67.50 over 450, not 3 x 40.
    items = [row(1, amount="100.00"), row(2, amount="150.00"), row(3, amount="200.00")]
    states = {n: state("reminder_2", "2025-01-28", action=n) for n in (1, 2, 3)}
    action = only(run_plan(snapshot(items, states=states), "2025-02-13"))
    assert action.letter.step_kind is StepKind.FINAL_NOTICE
    assert action.letter.collection_costs == D("67.50")
    assert action.letter.collection_costs_vat == D("0.00")
    assert action.charged_costs == D("67.50")
    assert action.charged_ids == {1, 2, 3}
    assert action.letter.legal_term is None
    assert action.letter.template == "final_notice"
    assert action.letter.total == (
        action.letter.principal + action.letter.collection_costs + action.letter.interest
    )


def test_vat_is_added_when_the_creditor_cannot_deduct_it():
    # T.1 BIK-06: 267.00 -> 40.05 + 21 % = 48.46, but only at a hand-over to a collection
    # service that charges VAT (13.9, BIK art. 2 lid 3); the in-house sommatie has none.
    snap = snapshot(
        [row(1, amount="267.00")],
        states={1: state("reminder_2", "2025-01-28")},
        admins=[view(creditor_deducts_vat=False)],
    )
    letter = only(run_plan(snap, "2025-02-13")).letter
    assert (letter.collection_costs, letter.collection_costs_vat) == (D("40.05"), D("0.00"))
    agency = snapshot(
        [row(1, amount="267.00")],
        states={1: state("final_notice", "2025-02-13", delivered="2025-02-15")},
        admins=[view(creditor_deducts_vat=False, collection_agency_charges_vat=True)],
    )
    handover = only(run_plan(agency, "2025-03-04")).letter
    assert handover.step_kind is StepKind.COLLECTION
    assert (handover.collection_costs, handover.collection_costs_vat) == (D("40.05"), D("8.41"))


def test_consumer_final_notice_is_the_legal_14_day_letter_and_charges_nothing():
    snap = snapshot(
        [row(1, amount="3000.00", debtor="C1", due="2024-03-01")],
        debtors=[debtor("C1", consumer=True)],
        states={1: state("reminder_2", "2024-03-19")},
    )
    action = only(run_plan(snap, "2024-04-04"))
    letter = action.letter
    assert letter.template == "final_notice_consumer"
    assert letter.collection_costs == 0 and letter.interest == 0
    legal = letter.legal_term
    assert legal is not None
    assert legal.delivered_on == date(2024, 4, 6)  # posted Thursday, delivered Saturday
    assert legal.term_end == date(2024, 4, 22)  # 04-20 is a Saturday: Atw extends it
    assert letter.pay_by == legal.term_end
    assert legal.costs_if_unpaid == D("425.00")  # T.1 BIK-09
    text = " ".join(legal.statements)
    assert "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd" in text
    assert "€ 425,00" in text
    assert action.costs_from == date(2024, 4, 23)
    assert action.charged_ids == frozenset()


def test_consumer_costs_only_after_the_term_recalculated_on_what_is_open():
    # T.1 BIK-19: a 14-day letter over 3,000; 1,000 paid within the term: costs over 2,000.
    term = TermLetter(
        action_id=9, principal=D("3000.00"), costs_from=d("2024-04-23"), item_ids=(1,)
    )
    snap = snapshot(
        [row(1, amount="2000.00", debtor="C1", due="2024-03-01")],
        debtors=[debtor("C1", consumer=True)],
        states={
            1: state("final_notice", "2024-04-04", delivered="2024-04-06", costs_from="2024-04-23")
        },
        term_of={1: 9},
        terms={9: term},
    )
    assert run_plan(snap, "2024-04-22").actions == []
    action = only(run_plan(snap, "2024-04-23"))
    assert action.letter.step_kind is StepKind.COLLECTION
    assert action.letter.collection_costs == D("300.00")
    assert action.charged_ids == {1}
    # Consumer interest runs from the day after the term (the research's safe default).
    assert (
        action.letter.interest
        == law.statutory_interest(
            D("2000.00"), d("2024-04-23"), d("2024-04-23"), law.InterestKind.CONSUMER
        ).interest
    )


def test_a_consumer_is_never_charged_costs_without_a_14_day_letter():
    policy = make_policy(
        "harsh",
        [
            Step(
                "pay",
                StepKind.REMINDER,
                (ChannelKind.EMAIL,),
                "reminder_1",
                days_after_due=2,
                collection_costs=Costs.BIK,
            )
        ],
    )
    snap = snapshot(
        [row(1, debtor="C1")], debtors=[debtor("C1", consumer=True)], admins=[view(policy="harsh")]
    )
    action = only(
        run_plan(snap, "2025-01-20", policies={"harsh": policy, "default": DEFAULT_POLICY})
    )
    assert action.letter.collection_costs == 0
    assert any("no collection costs without a 14-day letter" in n for n in action.notes)


def test_costs_are_carried_not_lost_or_charged_again_after_a_partial_payment():
    """Pain: fees and interest lost after a partial payment (ERPNext #58220).

    The final notice charged 150.00 on 1,000.00. The debtor then paid 400.00, which art.
    6:44 BW applies to the costs first: 750.00 of principal is still open although the ledger
    shows 600.00. The hand-over carries the 150.00 (never a new BIK over 600, never nothing)
    and interest runs on the 750.00.
    """
    claim = Claim(
        action_id=5,
        costs=D("150.00"),
        vat=D("0"),
        interest=D("0"),
        principal=D("1000.00"),
        item_ids=(1,),
    )
    snap = snapshot(
        [row(1, amount="600.00", due="2025-01-10")],
        states={1: state("final_notice", "2025-02-13", delivered="2025-02-15")},
        claim_of={1: 5},
        claims={5: claim},
    )
    action = only(run_plan(snap, "2025-03-10"))
    letter = action.letter
    assert letter.step_kind is StepKind.COLLECTION
    assert letter.principal == D("600.00")
    assert letter.collection_costs == D("150.00")
    assert action.charged_costs == 0  # carried, not charged again
    expected = law.statutory_interest(
        D("750.00"), d("2025-01-11"), d("2025-03-10"), law.InterestKind.COMMERCIAL
    ).interest
    assert letter.interest == expected
    assert letter.total == D("600.00") + D("150.00") + expected


def test_a_missing_interest_rate_leaves_interest_out_and_says_why():
    table = law.RateTable(
        periods=(law.RatePeriod(d("2024-01-01"), D(7), D("12.5")),), known_through=d("2024-12-31")
    )
    snap = snapshot([row(1, due="2024-12-01")], states={1: state("reminder_2", "2024-12-19")})
    omit = dc_replace(DEFAULT_POLICY, interest_when_rate_unknown=RateUnknown.OMIT)
    result = run_plan(snap, "2025-01-04", rates=table, policies={"default": omit})
    action = only(result)
    assert action.letter.interest == 0
    assert action.letter.collection_costs == D("40.00")  # the costs are still right
    assert action.hold == ""  # "omit": it goes, without an amount of interest, with a warning
    assert any(
        note.startswith("warning: no interest in this letter (the interest rate table ends")
        for note in action.notes
    )
    assert all(item.interest == 0 for item in action.letter.items)
    assert result.rates_end == d("2024-12-31")


def test_interest_per_item_adds_up_to_the_letters_interest():
    items = [row(1, amount="1000.00", due="2024-02-01"), row(2, amount="500.00", due="2024-03-01")]
    states = {n: state("reminder_2", "2024-03-20", action=n) for n in (1, 2)}
    letter = only(run_plan(snapshot(items, states=states), "2024-06-30")).letter
    assert letter.interest > 0
    assert sum(i.interest for i in letter.items) == letter.interest
    assert (
        letter.items[0].interest
        == law.statutory_interest(
            D("1000.00"), d("2024-02-02"), d("2024-06-30"), law.InterestKind.COMMERCIAL
        ).interest
    )


# --- never dunned: disputes, pauses, exclusions, arrangements -----------------------------------


def test_a_disputed_item_is_left_out_and_only_that_item():
    result = run_plan(snapshot([row(1), row(2)], disputed=frozenset({1})), "2025-01-20")
    assert [i.item_id for i in only(result).letter.items] == [2]
    assert result.skipped["disputed"] == 1


def test_one_invoice_can_be_paused_until_a_date():
    """Pain: no way to pause one invoice (Invoice Ninja #4293)."""
    pause = Override(1, 1, "D1", 1, OverrideKind.PAUSE, until=d("2025-02-01"), reason="klacht")
    snap = snapshot([row(1), row(2)], overrides=[pause])
    assert [i.item_id for i in only(run_plan(snap, "2025-01-31")).letter.items] == [2]
    assert [i.item_id for i in only(run_plan(snap, "2025-02-01")).letter.items] == [1, 2]


def test_a_debtor_can_be_stopped_mahnstop():
    """Pain: remove a client from reminders, a "mahnstopp" (Invoice Ninja #1578)."""
    stop = Override(1, 1, "D1", None, OverrideKind.EXCLUDE, reason="curatele")
    result = run_plan(snapshot([row(1), row(2, debtor="D2")], overrides=[stop]), "2025-01-20")
    assert [a.letter.debtor.code for a in result.actions] == ["D2"]
    assert result.skipped["debtor excluded"] == 1


def test_per_debtor_and_per_item_policy_overrides():
    quick = make_policy(
        "quick",
        [Step("call", StepKind.REMINDER, (ChannelKind.CALL,), "call", days_after_due=1)],
    )
    policies = {"default": DEFAULT_POLICY, "quick": quick}
    snap = snapshot(
        [row(1, due="2025-01-18"), row(2, due="2025-01-18"), row(3, due="2025-01-18", debtor="D2")],
        overrides=[
            Override(1, 1, "D1", 2, OverrideKind.POLICY, policy="quick"),
            Override(2, 1, "D2", None, OverrideKind.POLICY, policy="quick"),
        ],
    )
    result = run_plan(snap, "2025-01-19", policies=policies)
    assert sorted(
        (a.letter.debtor.code, a.letter.step_name, [i.item_id for i in a.letter.items])
        for a in result.actions
    ) == [
        ("D1", "call", [2]),
        ("D2", "call", [3]),
    ]


def test_segment_rules_choose_the_policy():
    calls = make_policy(
        "calls", [Step("call", StepKind.REMINDER, (ChannelKind.CALL,), "call", days_after_due=1)]
    )
    policies = {"default": DEFAULT_POLICY, "calls": calls}
    rules = parse_rules([{"policy": "calls", "outstanding_min": "1000"}], "s", policies)
    snap = snapshot([row(1, amount="999.99"), row(2, amount="5000.00", debtor="D2")])
    result = run_plan(snap, "2025-01-12", policies=policies, rules=rules)
    assert sorted((a.letter.debtor.code, a.policy) for a in result.actions) == [
        ("D1", "default"),
        ("D2", "calls"),
    ]


def arrangement(**kw) -> ArrangementView:
    values = dict(
        id=7,
        administration_id=1,
        debtor_code="D1",
        status="active",
        initial=D("300.00"),
        instalments=(
            (d("2025-02-01"), D("100.00")),
            (d("2025-03-01"), D("100.00")),
            (d("2025-04-01"), D("100.00")),
        ),
        grace_days=5,
        item_ids=(1,),
    )
    values.update(kw)
    return ArrangementView(**values)


def test_items_in_a_kept_arrangement_are_not_dunned():
    snap = snapshot([row(1, amount="200.00"), row(2, amount="50.00")], arrangements=[arrangement()])
    result = run_plan(snap, "2025-02-20")  # 100 paid by the first date: kept
    assert [i.item_id for i in only(result).letter.items] == [2]
    assert result.skipped["in a payment arrangement"] == 1


def test_a_missed_instalment_breaks_the_arrangement_after_the_grace_period():
    snap = snapshot([row(1, amount="300.00")], arrangements=[arrangement()])
    assert run_plan(snap, "2025-02-06").actions == []  # within the grace period
    result = run_plan(snap, "2025-02-07")
    action = only(result)
    assert action.letter.step_name == "arrangement_broken"
    assert action.letter.template == "arrangement_broken"
    assert action.arrangement_id == 7
    assert [i.item_id for i in action.letter.items] == [1]
    assert result.broken_arrangements == [(7, d("2025-02-07"))]
    # Once its notice is stored the notice is not planned again while it is underway.
    again = run_plan(
        snapshot(
            [row(1, amount="300.00")], arrangements=[arrangement()], notices_underway=frozenset({7})
        ),
        "2025-02-08",
    )
    assert again.actions == []


def test_a_paid_off_arrangement_is_completed():
    result = run_plan(snapshot([row(2, debtor="D2")], arrangements=[arrangement()]), "2025-02-20")
    assert result.completed_arrangements == [7]


# --- one message per debtor ------------------------------------------------------------------


def test_a_debtor_gets_one_message_a_day_the_highest_step_first():
    snap = snapshot(
        [row(1, due="2025-01-10"), row(2, due="2025-02-08")],
        states={1: state("reminder_1", "2025-01-12")},
    )
    result = run_plan(snap, "2025-02-10")
    action = only(result)
    assert action.letter.step_name == "reminder_2"
    assert [i.item_id for i in action.letter.items] == [1]
    assert [(w.step_name, w.reason) for w in result.waiting] == [
        ("reminder_1", "one message per debtor per day")
    ]


def test_no_message_within_the_policys_spacing_of_the_previous_one():
    snap = snapshot([row(2, due="2025-02-08")], last_message_on={(1, "D1"): d("2025-02-05")})
    result = run_plan(snap, "2025-02-10")
    assert result.actions == []
    assert "at most one per 7 days" in result.waiting[0].reason
    assert only(run_plan(snap, "2025-02-12")).letter.step_name == "reminder_1"


def test_call_tasks_and_hand_overs_are_not_held_back():
    snap = snapshot(
        [row(1, due="2024-03-01"), row(2, due="2024-04-20")],
        states={1: state("final_notice", "2024-04-04", delivered="2024-04-06")},
    )
    result = run_plan(snap, "2024-04-23")
    # The hand-over now tells the debtor (13.7), so it is the day's one message: the
    # reminder for the other item waits a day; the hand-over itself is never held back.
    assert sorted(a.letter.step_name for a in result.actions) == ["collection"]
    assert [(w.step_name, w.reason) for w in result.waiting] == [
        ("reminder_1", "one message per debtor per day")
    ]


def test_email_without_an_address_goes_by_letter():
    snap = snapshot([row(1)], debtors=[debtor("D1", email="")])
    action = only(run_plan(snap, "2025-01-20"))
    assert action.letter.channels == (ChannelKind.LETTER,)
    assert action.notes == ("debtor has no e-mail address: sent by letter instead of email",)


# --- keys and references ---------------------------------------------------------------------


def test_keys_cycles_and_payment_references_are_stable():
    snap = snapshot([row(1), row(2, debtor="D2")], max_cycle={(1, "D1", "reminder_1"): 3})
    first = run_plan(snap, "2025-01-20")
    second = run_plan(snap, "2025-01-20")
    assert [a.key for a in first.actions] == [a.key for a in second.actions]
    keys = {a.letter.debtor.code: a.key for a in first.actions}
    assert keys == {"D1": "1/D1/reminder_1/4", "D2": "1/D2/reminder_1/1"}
    for action in first.actions:
        ref = action.letter.payment_reference
        assert ref == payment_reference(action.key)
        assert len(ref) == 16 and law.is_valid_betalingskenmerk(ref)
    assert len({a.letter.payment_reference for a in first.actions}) == 2


def test_approval_mode_marks_the_actions():
    snap = snapshot([row(1)], admins=[view(approval=True)])
    assert only(run_plan(snap, "2025-01-20")).approval is True


def test_amounts_are_in_whole_cents_and_the_total_adds_up():
    snap = snapshot([row(1, amount="100.0000"), row(2, amount="0.1000")])
    letter = only(run_plan(snap, "2025-01-20")).letter
    assert str(letter.principal) == "100.10"
    assert [str(i.open_amount) for i in letter.items] == ["100.00", "0.10"]


def test_a_policy_without_costs_or_interest_charges_nothing():
    plain = make_policy(
        "plain",
        [
            Step(
                "r",
                StepKind.REMINDER,
                (ChannelKind.EMAIL,),
                "reminder_1",
                days_after_due=1,
                pay_within_days=3,
            ),
            Step(
                "f",
                StepKind.FINAL_NOTICE,
                (ChannelKind.EMAIL,),
                "final_notice",
                days_after_due=5,
                consumer_template="final_notice_consumer",
                interest=Interest.NONE,
            ),
        ],
    )
    snap = snapshot(
        [row(1, due="2025-01-01")],
        states={1: state("r", "2025-01-02", policy="plain")._replace(step_index=0)},
        admins=[view(policy="plain")],
    )
    letter = only(
        run_plan(snap, "2025-02-01", policies={"plain": plain, "default": DEFAULT_POLICY})
    ).letter
    assert (letter.collection_costs, letter.interest, letter.total) == (0, 0, D("100.00"))
    assert isinstance(letter.total, Decimal)


def test_holidays_around_delivery_move_the_14_day_term():
    # T.4 DUN-05: posted Monday 2024-12-23, Christmas in between: delivered Friday 12-27,
    # the term runs 12-28 .. 2025-01-10 (a Friday, no extension), costs from 2025-01-11.
    snap = snapshot(
        [row(1, amount="450.00", debtor="C1", due="2024-11-19")],
        debtors=[debtor("C1", consumer=True)],
        states={1: state("reminder_2", "2024-12-07")},
    )
    action = only(run_plan(snap, "2024-12-23"))
    assert action.letter.legal_term is not None
    assert action.letter.legal_term.delivered_on == date(2024, 12, 27)
    assert action.letter.legal_term.term_end == date(2025, 1, 10)
    assert action.costs_from == date(2025, 1, 11)
    assert action.letter.legal_term.costs_if_unpaid == D("67.50")


def test_the_shipped_rate_table_ends_and_then_interest_is_left_out():
    known = law.shipped_rate_table().known_through
    due = known - timedelta(days=40)
    snap = snapshot(
        [row(1, due=due.isoformat())],
        states={1: state("reminder_2", (due + timedelta(days=18)).isoformat())},
    )
    action = only(run_plan(snap, known + timedelta(days=5)))
    assert action.letter.interest == 0
    # Never a silent 0: the letter is held and says why.
    assert action.hold == f"interest rate table ends {known}"


# --- issue 12.9: a backlog does not start at a friendly first reminder -------------------------


def test_a_debtor_600_days_overdue_on_the_first_run_starts_at_the_backlog_step():
    snap = snapshot([row(1, due="2023-05-20"), row(2, due="2025-01-15")])
    result = run_plan(snap, "2025-01-20")
    action = only(result)  # one message a day: the backlog's final notice comes first
    assert action.letter.step_name == "final_notice"
    assert [i.item_id for i in action.letter.items] == [1]
    assert any(
        note.startswith(
            "backlog: no earlier letter and up to 611 days overdue, so it starts at final_notice"
        )
        for note in action.notes
    )
    # Without a backlog step the same item would get the first reminder.
    plain = only(run_plan(snap, "2025-01-20", policies={"default": NO_BACKLOG}))
    assert plain.letter.step_name == "reminder_1"


def test_a_consumer_backlog_never_starts_past_the_14_day_letter():
    policy = dc_replace(DEFAULT_POLICY, backlog_start_step="collection")
    snap = snapshot([row(1, due="2023-05-20")], debtors=[debtor("D1", consumer=True)])
    action = only(run_plan(snap, "2025-01-20", policies={"default": policy}))
    assert action.letter.step_name == "final_notice"
    assert action.letter.legal_term is not None  # the legal 14-day letter
