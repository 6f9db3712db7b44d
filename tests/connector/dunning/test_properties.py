"""Property tests of the plan's invariants, over simulated months of daily runs.

The simulation plays the store: each day it applies random payments, disputes, pauses and
arrangements, plans, checks the invariants, then "sends" every planned letter (records the
items' new steps, claims and 14-day terms as the run would). Days are skipped at random, as
when the scheduler was down.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck
from hypothesis import event as note_event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from connector.domain import DebtorKind
from connector.dunning import law
from connector.dunning.model import StepKind
from connector.dunning.plan import ArrangementView
from connector.dunning.plan import Claim
from connector.dunning.plan import ItemRow
from connector.dunning.plan import ItemState
from connector.dunning.plan import Snapshot
from connector.dunning.plan import TermLetter
from connector.dunning.plan import plan
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.policy import POSTAL_CHANNELS
from connector.dunning.segments import Override
from connector.dunning.tables import OverrideKind
from tests.fakes.dunning import debtor
from tests.fakes.dunning import view

START = date(2023, 3, 1)  # inside the shipped interest-rate table, with room for a year
DEBTORS = ("D1", "D2", "C1")


@dataclass
class Item:
    id: int
    debtor: str
    due: date
    amount: Decimal


@dataclass
class Event:
    day: int
    item: int
    kind: str  # pay / part / dispute / undispute / pause / exclude / lift
    span: int = 0


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 14))
    items = [
        Item(
            id=n + 1,
            debtor=draw(st.sampled_from(DEBTORS)),
            due=START + timedelta(days=draw(st.integers(0, 90))),
            amount=Decimal(draw(st.integers(-20_000, 2_000_000))) / 100,
        )
        for n in range(count)
    ]
    days = sorted(set(draw(st.lists(st.integers(0, 300), min_size=1, max_size=60))))
    events = draw(
        st.lists(
            st.builds(
                Event,
                day=st.integers(0, 300),
                item=st.integers(1, count),
                kind=st.sampled_from(
                    ["pay", "part", "dispute", "undispute", "pause", "exclude", "lift"]
                ),
                span=st.integers(1, 40),
            ),
            max_size=25,
        )
    )
    arranged = draw(st.sets(st.integers(1, count), max_size=3))
    return items, days, events, arranged


@dataclass
class Store:
    """What the real store would hold, kept in memory."""

    items: dict[int, Item]
    states: dict[int, ItemState] = field(default_factory=dict)
    term_of: dict[int, int] = field(default_factory=dict)
    terms: dict[int, TermLetter] = field(default_factory=dict)
    claim_of: dict[int, int] = field(default_factory=dict)
    claims: dict[int, Claim] = field(default_factory=dict)
    disputed: set[int] = field(default_factory=set)
    overrides: dict[int, Override] = field(default_factory=dict)
    last_message: dict[tuple[int, str], date] = field(default_factory=dict)
    max_cycle: dict[tuple[int, str, str], int] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    next_action: int = 1

    def rows(self) -> list[ItemRow]:
        return [
            ItemRow(i.id, 1, i.debtor, f"F{i.id}", None, i.due, "EUR", i.amount)
            for i in self.items.values()
            if i.amount != 0
        ]


def apply(store: Store, event: Event, today: date) -> None:
    item = store.items[event.item]
    if event.kind == "pay":
        item.amount = Decimal(0)
    elif event.kind == "part" and item.amount > 0:
        item.amount = (item.amount / 2).quantize(Decimal("0.01"))
    elif event.kind == "dispute":
        store.disputed.add(item.id)
    elif event.kind == "undispute":
        store.disputed.discard(item.id)
    elif event.kind == "pause":
        store.overrides[item.id] = Override(
            item.id,
            1,
            item.debtor,
            item.id,
            OverrideKind.PAUSE,
            until=today + timedelta(days=event.span),
        )
    elif event.kind == "exclude":
        store.overrides[item.id] = Override(item.id, 1, item.debtor, item.id, OverrideKind.EXCLUDE)
    elif event.kind == "lift":
        store.overrides.pop(item.id, None)


def blocked(store: Store, item_id: int, today: date) -> bool:
    override = store.overrides.get(item_id)
    return item_id in store.disputed or (override is not None and override.blocks_on(today))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_escalation_is_sequential_keys_unique_and_blocked_items_never_planned(scenario):
    items, days, events, arranged = scenario
    store = Store(items={i.id: i for i in items})
    arrangement = ArrangementView(
        id=1,
        administration_id=1,
        debtor_code="D1",
        status="active",
        initial=Decimal(10**9),  # never paid off: kept throughout (instalments far ahead)
        instalments=((START + timedelta(days=5000), Decimal(10**9)),),
        grace_days=5,
        item_ids=tuple(sorted(arranged)),
    )
    debtors = [debtor("D1"), debtor("D2"), debtor("C1", consumer=True)]
    pending = sorted(events, key=lambda e: e.day)
    for offset in days:
        today = START + timedelta(days=offset)
        while pending and pending[0].day <= offset:  # what happened since the last run
            apply(store, pending.pop(0), today)
        snapshot = Snapshot(
            administrations={1: view()},
            debtors={(1, x.code): x for x in debtors},
            items=store.rows(),
            states=dict(store.states),
            term_of=dict(store.term_of),
            terms=dict(store.terms),
            claim_of=dict(store.claim_of),
            claims=dict(store.claims),
            disputed=frozenset(store.disputed),
            overrides=list(store.overrides.values()),
            arrangements=[arrangement] if arranged else [],
            last_message_on=dict(store.last_message),
            max_cycle=dict(store.max_cycle),
        )
        result = plan({"default": DEFAULT_POLICY}, (), snapshot, {1: today})
        for action in result.actions:
            note_event(f"step {action.letter.step_name}")
        messages: dict[str, int] = {}
        for action in result.actions:
            letter = action.letter
            # No action key twice, ever.
            assert action.key not in store.keys
            store.keys.add(action.key)
            step = DEFAULT_POLICY.steps[action.step_index]
            if step.is_message:
                messages[letter.debtor.code] = messages.get(letter.debtor.code, 0) + 1
            assert letter.total == (
                letter.principal
                + letter.collection_costs
                + letter.collection_costs_vat
                + letter.interest
            )
            assert letter.principal > 0
            for item in letter.items:
                current = store.items[item.item_id]
                # A paid item is never in a plan, and the amount is today's.
                assert current.amount != 0 and item.open_amount == current.amount
                if item.open_amount < 0:
                    continue
                # A disputed, paused, excluded or arranged item is never in a plan.
                assert not blocked(store, item.item_id, today)
                assert item.item_id not in arranged
                # No item skips a step, and none moves sooner than its step allows; except
                # that a consumer's overdue item joins the 14-day letter (art. 6:96 lid 7 BW).
                previous = store.states.get(item.item_id)
                if letter.legal_term is not None and letter.debtor.code == "C1":
                    assert current.due < today
                    assert item.item_id not in store.term_of
                elif previous is None:
                    backlog = DEFAULT_POLICY.steps[DEFAULT_POLICY.backlog_index or 0]
                    # The first step, or for a backlog found without any letter the policy's
                    # backlog step once the item is that step's days overdue.
                    assert action.step_index == 0 or (
                        action.step_index == DEFAULT_POLICY.backlog_index
                        and today >= current.due + timedelta(days=backlog.nominal_offset)
                    )
                    assert today >= current.due + timedelta(days=2)
                else:
                    assert action.step_index == previous.step_index + 1
                    assert previous.sent_on is not None and today > previous.sent_on
                    if step.days_after_due is not None:
                        assert (today - previous.sent_on).days >= step.spacing
                    if step.kind is StepKind.COLLECTION:
                        assert previous.delivered_on is not None
                        assert (
                            today
                            >= law.fourteen_day_term_from_delivery(previous.delivered_on).costs_from
                        )
        # At most one message a day to a debtor.
        assert all(n == 1 for n in messages.values())
        # "Send" everything, as the run would record it.
        for action in result.actions:
            send(store, action, today)


def send(store: Store, action, today: date) -> None:
    letter = action.letter
    action_id = store.next_action
    store.next_action += 1
    delivered = law.delivery_date(today) if POSTAL_CHANNELS & set(letter.channels) else today
    step = letter.step_name
    store.max_cycle[(1, letter.debtor.code, step)] = max(
        store.max_cycle.get((1, letter.debtor.code, step), 0), action.cycle
    )
    if any(c in ("email", "letter", "outbox") for c in letter.channels):
        store.last_message[(1, letter.debtor.code)] = today
    dunned = [i for i in letter.items if i.open_amount > 0]
    for item in dunned:
        store.states[item.item_id] = ItemState(
            action_id,
            action.policy,
            step,
            action.step_index,
            "sent",
            today,
            delivered,
            action.costs_from,
        )
    if action.costs_from is not None:
        store.terms[action_id] = TermLetter(
            action_id, letter.principal, action.costs_from, tuple(i.item_id for i in dunned)
        )
        for item in dunned:
            store.term_of[item.item_id] = action_id
    if action.charged_ids:
        store.claims[action_id] = Claim(
            action_id,
            action.charged_costs,
            action.charged_vat,
            action.charged_interest,
            action.charged_principal,
            tuple(sorted(action.charged_ids)),
        )
        for item_id in action.charged_ids:
            store.claim_of[item_id] = action_id


amounts = st.integers(0, 300_000_000).map(lambda cents: Decimal(cents) / 100)


@given(amounts, amounts, st.booleans())
def test_collection_costs_are_monotonic_in_the_principal(a, b, deducts):
    low, high = sorted((a, b))
    costs_low = law.collection_costs(low, creditor_deducts_vat=deducts).total
    costs_high = law.collection_costs(high, creditor_deducts_vat=deducts).total
    assert costs_low <= costs_high


@settings(max_examples=60, deadline=None)
@given(
    st.integers(100, 200_000_000).map(lambda c: Decimal(c) / 100),
    st.integers(0, 100_000_000).map(lambda c: Decimal(c) / 100),
)
def test_a_letters_costs_grow_with_its_principal(principal, more):
    """The same business final notice over a larger principal never costs less."""

    def costs(amount: Decimal) -> Decimal:
        row = ItemRow(1, 1, "D1", "F1", None, date(2024, 1, 10), "EUR", amount)
        snapshot = Snapshot(
            administrations={1: view()},
            debtors={(1, "D1"): debtor("D1")},
            items=[row],
            states={
                1: ItemState(
                    1,
                    "default",
                    "reminder_2",
                    1,
                    "sent",
                    date(2024, 1, 28),
                    date(2024, 1, 28),
                    None,
                )
            },
        )
        [action] = plan({"default": DEFAULT_POLICY}, (), snapshot, {1: date(2024, 2, 13)}).actions
        assert action.letter.step_kind is StepKind.FINAL_NOTICE
        return action.letter.collection_costs + action.letter.collection_costs_vat

    assert costs(principal) <= costs(principal + more)
    assert DebtorKind.BUSINESS is debtor("D1").kind
