"""The plan: policies x a snapshot of the store x the date -> the letters to send. Pure.

Nothing here reads a clock, the store or a file: `plan` gets everything in a `Snapshot`
(built by `connector.dunning.store.load_snapshot`) and the date of each administration, and
returns `PlannedAction`s, each holding the `Letter` of the contract with the channels. Called
twice with the same input it returns the same output, keys included.

The rules it keeps (each one a test in tests/connector/dunning/):

- An item is dunned only while it is open, positive, not disputed, not paused or excluded
  (itself or its debtor), not in a kept payment arrangement and not underway in an action that
  is still pending, sending or uncertain. A paid item is never in a plan.
- Sequential escalation: an item's next step is the one after its last (`ItemState`); it falls
  due per the step's timing, counted from the item's due date and from the previous letter's
  actual send or delivery date, so after missed days an item moves one step, never two, and
  never sooner than the step's spacing.
- One letter per debtor per step: a debtor's items due for the same step go in one letter; on
  one day a debtor gets at most one message (the highest step due), and no message within a
  policy's `min_days_between_letters` of the previous one; the other items wait. Call tasks
  and the collection hand-over are not messages and are not held back.
- Credit notes and unapplied payments (negative open items) of the debtor are netted in the
  message; a letter whose net amount is below the step's minimum waits, and so do its items.
- Costs (law.py): the BIK scale over the principal of all items in one letter. For a consumer
  only after the 14-day letter's term (recalculated on what is still open, HR 25-11-2016); for
  a business when the policy's step says so. Costs are charged once: a later letter carries
  the claim of the letter that first charged them, in full, and the interest on what is still
  open runs on the principal as art. 6:44 BW leaves it (payments go to costs, then interest,
  then principal), so a partial payment never makes the costs disappear.
- Interest (law.py, the shipped rate table): when the table lacks a rate for part of the
  period the letter goes without interest and says why in its notes; nothing is guessed.
- A key per letter: administration/debtor/step/cycle, the cycle being the n-th letter of that
  step to that debtor; and a betalingskenmerk derived from the key.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from collections.abc import Set
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple

from connector.domain import Debtor
from connector.domain import DebtorKind
from connector.domain import currency_exponent
from connector.dunning import law
from connector.dunning.model import ChannelKind
from connector.dunning.model import LegalTerm
from connector.dunning.model import Letter
from connector.dunning.model import LetterItem
from connector.dunning.model import Sender
from connector.dunning.model import StepKind
from connector.dunning.policy import ARRANGEMENT_BROKEN
from connector.dunning.policy import MESSAGE_CHANNELS
from connector.dunning.policy import POSTAL_CHANNELS
from connector.dunning.policy import ConsumerInterestFrom
from connector.dunning.policy import Costs
from connector.dunning.policy import Interest
from connector.dunning.policy import Policy
from connector.dunning.policy import RateUnknown
from connector.dunning.policy import Step
from connector.dunning.readiness import letter_problems
from connector.dunning.readiness import resolve_channels
from connector.dunning.segments import DebtorFacts
from connector.dunning.segments import Override
from connector.dunning.segments import Overrides
from connector.dunning.segments import SegmentRule
from connector.dunning.segments import choose_policy
from connector.dunning.tables import ArrangementStatus

ZERO = Decimal(0)
CENT = Decimal("0.01")
_ONE_DAY = timedelta(days=1)
_SENT = "sent"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


_QUANTA: dict[str, Decimal] = {}


def _quantum(currency: str) -> Decimal:
    quantum = _QUANTA.get(currency)
    if quantum is None:
        quantum = _QUANTA[currency] = Decimal(1).scaleb(-currency_exponent(currency))
    return quantum


def money(amount: Decimal, currency: str) -> Decimal:
    """`amount` in the currency's minor unit (the store keeps four decimals)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------
# The snapshot: what the plan reads
# --------------------------------------------------------------------------------------------


class ItemRow(NamedTuple):
    """An open item as the store holds it (status open)."""

    id: int
    administration_id: int
    debtor_code: str
    invoice_number: str
    invoice_date: date | None
    due_date: date
    currency: str
    open_amount: Decimal


class ItemState(NamedTuple):
    """An item's latest action that counts (not cancelled, not failed): its current step."""

    action_id: int
    policy: str
    step_name: str
    step_index: int
    status: str
    sent_on: date | None
    delivered_on: date | None
    costs_from: date | None  # set when that action was a consumer 14-day letter


class TermLetter(NamedTuple):
    """A consumer 14-day letter that was sent: its principal and when its term expired."""

    action_id: int
    principal: Decimal
    costs_from: date
    item_ids: tuple[int, ...]
    sent_on: date | None = None  # 13.2: items overdue by then could have been in it


class Claim(NamedTuple):
    """The costs first charged on some items by one letter, with their interest then."""

    action_id: int
    costs: Decimal  # without VAT
    vat: Decimal
    interest: Decimal
    principal: Decimal
    item_ids: tuple[int, ...]


class ArrangementView(NamedTuple):
    id: int
    administration_id: int
    debtor_code: str
    status: str
    initial: Decimal  # the covered items' open amount when the arrangement was made
    instalments: tuple[tuple[date, Decimal], ...]
    grace_days: int
    item_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AdministrationView:
    id: int
    external_id: str
    name: str
    default_policy: str
    sender: Sender
    approval: bool = False
    mode: str = "live"  # connector.dunning.policy.Mode: live / approval / review

    @property
    def refs(self) -> frozenset[str]:
        return frozenset((str(self.id), self.external_id, self.name))


@dataclass(frozen=True, slots=True)
class Snapshot:
    administrations: Mapping[int, AdministrationView]
    debtors: Mapping[tuple[int, str], Debtor]
    items: Sequence[ItemRow]
    states: Mapping[int, ItemState] = field(default_factory=dict)
    term_of: Mapping[int, int] = field(default_factory=dict)  # item -> TermLetter action id
    terms: Mapping[int, TermLetter] = field(default_factory=dict)
    claim_of: Mapping[int, int] = field(default_factory=dict)  # item -> Claim action id
    claims: Mapping[int, Claim] = field(default_factory=dict)
    disputed: Set[int] = frozenset()
    overrides: Sequence[Override] = ()
    arrangements: Sequence[ArrangementView] = ()
    notices_underway: Set[int] = frozenset()  # arrangements whose broken notice is stored
    last_message_on: Mapping[tuple[int, str], date] = field(default_factory=dict)
    max_cycle: Mapping[tuple[int, str, str], int] = field(default_factory=dict)
    avg_days_late: Mapping[tuple[int, str], Decimal] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The plan: what it returns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedAction:
    letter: Letter
    policy: str
    step_index: int
    cycle: int
    approval: bool  # stored as pending_approval
    charged_ids: frozenset[int] = frozenset()  # items whose costs this letter first charges
    charged_costs: Decimal = ZERO
    charged_vat: Decimal = ZERO
    charged_interest: Decimal = ZERO
    charged_principal: Decimal = ZERO
    delivered_on: date | None = None  # presumed, if sent on the letter date
    term_end: date | None = None
    costs_from: date | None = None
    costs_if_unpaid: Decimal | None = None
    arrangement_id: int | None = None
    notes: tuple[str, ...] = ()
    # Why the letter may not go out (`sender has no IBAN`): stored as `blocked` with this
    # reason, never sent; planned again by every run until the reason is gone.
    hold: str = ""

    @property
    def key(self) -> str:
        return self.letter.key

    @property
    def is_notice(self) -> bool:
        return self.arrangement_id is not None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A debtor's items that were due but wait, and why."""

    administration_id: int
    debtor_code: str
    step_name: str
    items: int
    reason: str


@dataclass
class PlanResult:
    actions: list[PlannedAction] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    broken_arrangements: list[tuple[int, date]] = field(default_factory=list)
    completed_arrangements: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> items left out
    # The last day of the rate table, when a letter needed a rate past it.
    rates_end: date | None = None

    @property
    def held(self) -> list[PlannedAction]:
        return [a for a in self.actions if a.hold]

    @property
    def items_planned(self) -> int:
        return sum(len(a.letter.items) for a in self.actions)


def action_key(administration_id: int, debtor_code: str, step_name: str, cycle: int) -> str:
    return f"{administration_id}/{debtor_code}/{step_name}/{cycle}"


def payment_reference(key: str) -> str:
    """A 16-digit betalingskenmerk from a stable number: 15 digits of a hash of the key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return law.make_betalingskenmerk(int.from_bytes(digest, "big") % 10**15)


def costs_without_vat(sender: Sender, hands_over: bool) -> bool:
    """Whether collection costs go without VAT (13.9): BIK art. 2 lid 3 allows VAT only for a
    creditor that cannot deduct it and whose claim a collection service charging VAT handles;
    a creditor that collects in-house pays no VAT on its own work."""
    return sender.creditor_deducts_vat or not hands_over or not sender.collection_agency_charges_vat


def letter_language(language: str) -> str:
    return "en" if language.lower().startswith("en") else "nl"


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


_NONE: frozenset[int] = frozenset()
_ROW_ORDER = itemgetter(5, 3, 0)  # due date, invoice number, id
_AMOUNT = itemgetter(7)


class _Timing(NamedTuple):
    after_due: timedelta | None
    spacing: timedelta
    after_previous: timedelta | None
    after_term_for_consumers: bool


class _Group(NamedTuple):
    policy: Policy
    step_index: int
    currency: str
    rows: list[ItemRow]


class _Rates:
    """Statutory interest that records, rather than raises, a missing rate."""

    def __init__(self, rates: law.RateTable | None) -> None:
        self.rates = rates
        self.missing: str = ""

    @property
    def ends(self) -> date:
        return (self.rates or law.shipped_rate_table()).known_through

    def interest(
        self,
        base: Decimal,
        start: date | None,
        end: date,
        kind: law.InterestKind,
        day_count: law.DayCount,
    ) -> Decimal:
        if start is None or base <= 0 or end < start or self.missing:
            return ZERO
        try:
            return law.statutory_interest(
                base, start, end, kind, day_count=day_count, rates=self.rates
            ).interest
        except law.RateNotKnown as exc:
            self.missing = str(exc)
            return ZERO


class _Planner:
    def __init__(
        self,
        policies: Mapping[str, Policy],
        rules: Sequence[SegmentRule],
        snapshot: Snapshot,
        dates: Mapping[int, date],
        apply_atw: bool,
        rates: law.RateTable | None,
        postal_days: int | None = None,
    ) -> None:
        self.policies = policies
        self.rules = rules
        self.snap = snapshot
        self.dates = dates
        self.apply_atw = apply_atw
        self.postal_days = postal_days
        self.rates = rates
        self.result = PlanResult()
        self.cycles: dict[tuple[int, str, str], int] = {}
        self._open: dict[int, Decimal] | None = None
        self._messages: dict[int, bool] = {}
        self._timings: dict[int, _Timing] = {}
        self._terms: dict[date, date] = {}
        self.backlog: set[int] = set()  # items that start at their policy's backlog step

    # -- helpers -------------------------------------------------------------------------------

    def open_amount(self, item_id: int) -> Decimal:
        """The current open amount of an item (0 when the store holds it closed)."""
        if self._open is None:
            wanted: set[int] = set()
            for claim in self.snap.claims.values():
                wanted.update(claim.item_ids)
            for term in self.snap.terms.values():
                wanted.update(term.item_ids)
            for arrangement in self.snap.arrangements:
                wanted.update(arrangement.item_ids)
            self._open = {row.id: row.open_amount for row in self.snap.items if row.id in wanted}
        return self._open.get(item_id, ZERO)

    def next_cycle(self, administration_id: int, debtor_code: str, step_name: str) -> int:
        key = (administration_id, debtor_code, step_name)
        cycle = self.cycles.get(key)
        if cycle is None:
            cycle = self.snap.max_cycle.get(key, 0)
        cycle += 1
        self.cycles[key] = cycle
        return cycle

    def policy(self, name: str) -> Policy:
        found = self.policies.get(name)
        if found is None:
            # The plan runs on a validated config; an override naming a policy that was
            # removed since falls back to the built-in default rather than stopping dunning.
            found = self.policies["default"]
        return found

    # -- arrangements --------------------------------------------------------------------------

    def arrangements(self) -> tuple[set[int], dict[tuple[int, str], list[ArrangementView]]]:
        """Items held by a kept arrangement, and the arrangements broken today per debtor."""
        held: set[int] = set()
        broken: dict[tuple[int, str], list[ArrangementView]] = {}
        for arrangement in self.snap.arrangements:
            today = self.dates.get(arrangement.administration_id)
            if today is None or arrangement.status != ArrangementStatus.ACTIVE.value:
                continue
            still_open = sum((max(self.open_amount(i), ZERO) for i in arrangement.item_ids), ZERO)
            if still_open == 0:
                self.result.completed_arrangements.append(arrangement.id)
                continue
            paid = arrangement.initial - still_open
            due = ZERO
            missed = False
            for due_on, amount in arrangement.instalments:
                due += amount
                if today > due_on + timedelta(days=arrangement.grace_days) and paid < due:
                    missed = True
                    break
            # Until the notice has gone out, the items stay held: the notice comes first. The
            # arrangement is marked broken when its notice is sent.
            held.update(arrangement.item_ids)
            if missed and arrangement.id not in self.snap.notices_underway:
                self.result.broken_arrangements.append((arrangement.id, today))
                key = (arrangement.administration_id, arrangement.debtor_code)
                broken.setdefault(key, []).append(arrangement)
        return held, broken

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> PlanResult:
        overrides = Overrides.index(self.snap.overrides, self.dates)
        held, broken = self.arrangements()
        groups: dict[tuple[int, str], list[ItemRow]] = {}
        dates = self.dates
        for row in self.snap.items:
            if row[1] not in dates:
                continue
            key = (row[1], row[2])
            rows = groups.get(key)
            if rows is None:
                groups[key] = [row]
            else:
                rows.append(row)
        for key in broken:
            groups.setdefault(key, [])
        for key, rows in groups.items():
            self.debtor(key, rows, overrides, held, broken.get(key, ()))
        return self.result

    def debtor(
        self,
        key: tuple[int, str],
        rows: list[ItemRow],
        overrides: Overrides,
        held: set[int],
        broken: Sequence[ArrangementView],
    ) -> None:
        skipped = self.result.skipped
        admin_id, code = key
        block = overrides.debtor_block.get(key)
        if block is not None:
            skipped[f"debtor {block.kind.value}d"] += len(rows)
            return
        admin = self.snap.administrations[admin_id]
        today = self.dates[admin_id]
        debtor = self.snap.debtors.get(key) or Debtor(code, code, DebtorKind.CONSUMER)
        policy = self.policy(self.debtor_policy(key, admin, debtor, rows, overrides))
        disputed = self.snap.disputed
        states_get = self.snap.states.get
        item_block = overrides.item_block
        item_policy = overrides.item_policy
        # Most items have no dispute, pause, arrangement or own policy: check those only
        # when there are any, and take the first step's date without a call.
        exceptions = bool(disputed or item_block or held or item_policy)
        consumer = debtor.kind is DebtorKind.CONSUMER
        # An item without history is due for the first step when its due date is on or
        # before this day.
        first_before = today - timedelta(days=policy.steps[0].days_after_due or 1)
        backlog_index = self.backlog_index(policy, consumer)
        backlog_before = (
            today - timedelta(days=policy.steps[backlog_index].nominal_offset)
            if backlog_index is not None
            else None
        )
        due: dict[tuple[str, int, str], _Group] = {}
        first: dict[str, list[ItemRow]] = {}  # currency -> items due for the first step
        credits: list[ItemRow] = []
        # 13.2 (art. 6:96 lid 7 BW): a consumer's overdue items that may join a 14-day letter.
        joinable: list[ItemRow] = []
        term_of = self.snap.term_of
        for row in rows:
            amount = row[7]
            item_id = row[0]
            if amount <= ZERO:
                if amount < ZERO and item_id not in disputed and item_id not in item_block:
                    credits.append(row)
                continue
            state = states_get(item_id)
            if (
                state is None
                and backlog_index is not None
                and backlog_before is not None
                and row[5] <= backlog_before
                and not (
                    exceptions
                    and (
                        item_id in disputed
                        or item_id in item_block
                        or item_id in held
                        or item_id in item_policy
                    )
                )
            ):
                # A backlog found without any letter starts at the policy's backlog step
                # (an exception below still holds a disputed, paused or arranged item).
                self.backlog.add(item_id)
                group_key = (policy.name, backlog_index, row[6])
                group = due.get(group_key)
                if group is None:
                    due[group_key] = _Group(policy, backlog_index, row[6], [row])
                else:
                    group.rows.append(row)
                continue
            if state is None and not exceptions:
                if consumer and row[5] < today:
                    joinable.append(row)
                if row[5] <= first_before:
                    bucket = first.get(row[6])
                    if bucket is None:
                        first[row[6]] = [row]
                    else:
                        bucket.append(row)
                continue
            if exceptions:
                if item_id in disputed:
                    skipped["disputed"] += 1
                    continue
                if item_id in item_block:
                    skipped[item_block[item_id].kind.value + "d item"] += 1
                    continue
                if item_id in held:
                    skipped["in a payment arrangement"] += 1
                    continue
            item_policy_name = item_policy.get(item_id) if exceptions else None
            own = policy if item_policy_name is None else self.policy(item_policy_name)
            steps = own.steps
            if (
                state is not None
                and state[4] == _SENT
                and state[1] == own.name
                and state[3] + 1 < len(steps)
                and steps[state[3]].name == state[2]
            ):
                step_index = state[3] + 1  # the usual case, without a call
            else:
                found = self.next_step(own, state)
                if found is None:
                    skipped["underway or finished"] += 1
                    continue
                step_index = found
            step = steps[step_index]
            if consumer and own is policy and row[5] < today and item_id not in term_of:
                joinable.append(row)
            if self.falls_due(step, row, state, consumer) > today:
                continue
            group_key = (own.name, step_index, row[6])
            group = due.get(group_key)
            if group is None:
                due[group_key] = _Group(own, step_index, row[6], [row])
            else:
                group.rows.append(row)
        for currency, bucket in first.items():
            group = due.get((policy.name, 0, currency))
            if group is None:
                due[(policy.name, 0, currency)] = _Group(policy, 0, currency, bucket)
            else:
                group.rows.extend(bucket)
        if consumer and due:
            self.one_term_letter(admin.id, code, policy, due, joinable, rows)
        if due or broken:
            self.letters(admin, debtor, today, due, credits, broken, rows)

    @staticmethod
    def backlog_index(policy: Policy, consumer: bool) -> int | None:
        """Where a backlog starts; for a consumer never past the first final notice (the
        14-day letter must come before costs or a hand-over, art. 6:96 lid 6 BW)."""
        index = policy.backlog_index
        if index is None or not consumer:
            return index
        for position, step in enumerate(policy.steps[: index + 1]):
            if step.kind is StepKind.FINAL_NOTICE:
                return position
        return index

    def one_term_letter(
        self,
        admin_id: int,
        code: str,
        policy: Policy,
        due: dict[tuple[str, int, str], _Group],
        joinable: list[ItemRow],
        rows: Sequence[ItemRow],
    ) -> None:
        """A consumer's 14-day letter takes in every item in default (art. 6:96 lid 7 BW: one
        aanmaning for all claims, costs over the summed principals); an item that could have
        been in an earlier 14-day letter never gets one of its own."""
        letters = [
            key
            for key, group in due.items()
            if group.policy is policy
            and self.is_term_letter(policy.steps[group.step_index], key[2])
        ]
        if not letters:
            return
        earlier = self.earlier_terms(rows)
        for key in letters:
            group = due[key]
            step = policy.steps[group.step_index]
            inside = {r[0] for r in group.rows}
            extra = [r for r in joinable if r[6] == key[2] and r[0] not in inside]
            if extra:
                moved = {r[0] for r in extra}
                for other_key in [k for k in due if k not in letters]:
                    other = due[other_key]
                    other.rows[:] = [r for r in other.rows if r[0] not in moved]
                    if not other.rows:
                        del due[other_key]
                group.rows.extend(extra)
            if earlier:
                late = [r for r in group.rows if any(r[5] < sent for sent in earlier)]
                if late:
                    group.rows[:] = [r for r in group.rows if r not in late]
                    when = min(earlier)
                    self.wait(
                        admin_id,
                        code,
                        step,
                        late,
                        f"overdue when the 14-day letter of {when} went out: art. 6:96 lid 7 BW "
                        "allows no second one for them (dun them without costs, by hand)",
                    )
                    if not group.rows:
                        del due[key]

    def is_term_letter(self, step: Step, currency: str) -> bool:
        """The step makes a consumer's 14-day letter (see `build`)."""
        return (
            step.kind is StepKind.FINAL_NOTICE
            and step.collection_costs is Costs.BIK
            and currency == "EUR"
        )

    def earlier_terms(self, rows: Sequence[ItemRow]) -> list[date]:
        """The sending dates of the 14-day letters this debtor already had."""
        found: list[date] = []
        seen: set[int] = set()
        for row in rows:
            term_id = self.snap.term_of.get(row[0])
            if term_id is None or term_id in seen:
                continue
            seen.add(term_id)
            term = self.snap.terms.get(term_id)
            sent = term.sent_on if term is not None else None
            if sent is None:
                state = self.snap.states.get(row[0])
                if state is not None and state.action_id == term_id:
                    sent = state.sent_on
            if sent is not None:
                found.append(sent)
        return found

    def debtor_policy(
        self,
        key: tuple[int, str],
        admin: AdministrationView,
        debtor: Debtor,
        rows: Sequence[ItemRow],
        overrides: Overrides,
    ) -> str:
        chosen = overrides.debtor_policy.get(key)
        if chosen is not None:
            return chosen
        if not self.rules:
            return admin.default_policy
        facts = DebtorFacts(
            administration_refs=admin.refs,
            kind=debtor.kind,
            tags=frozenset(debtor.tags),
            outstanding=sum((row.open_amount for row in rows), ZERO),
            avg_days_late=self.snap.avg_days_late.get(key),
        )
        return choose_policy(self.rules, facts, admin.default_policy)

    @staticmethod
    def next_step(policy: Policy, state: ItemState | None) -> int | None:
        """The index of the item's next step; None while its last action is underway or
        when the policy has no step after it."""
        if state is None:
            return 0
        if state.status != _SENT:
            return None
        index: int | None = None
        if (
            state.policy == policy.name
            and state.step_index < len(policy.steps)
            and policy.steps[state.step_index].name == state.step_name
        ):
            index = state.step_index
        if index is None:
            index = policy.index_of(state.step_name)
        if index is None:  # a step from another policy: continue after the same position
            index = min(state.step_index, len(policy.steps) - 1)
        index += 1
        return index if index < len(policy.steps) else None

    def falls_due(self, step: Step, row: ItemRow, state: ItemState | None, consumer: bool) -> date:
        """The first day the item may get `step` (see the module's rules)."""
        timing = self._timings.get(id(step))
        if timing is None:
            timing = self._timings[id(step)] = _Timing(
                timedelta(days=step.days_after_due) if step.days_after_due is not None else None,
                timedelta(days=max(step.spacing, 1)),
                timedelta(days=step.days_after_previous)
                if step.days_after_previous is not None
                else None,
                (step.kind is StepKind.COLLECTION or step.collection_costs is Costs.BIK)
                and step.kind is not StepKind.FINAL_NOTICE,
            )
        after_due, spacing, after_previous, after_term_for_consumers = timing
        sent_on = state[5] if state is not None else None
        if sent_on is None:
            # The first step: an item without history always starts at step 0.
            return row[5] + (after_due or _ONE_DAY)
        assert state is not None
        delivered = state[6] or sent_on
        if after_due is not None:
            when = row[5] + after_due
            earliest = sent_on + spacing
            if earliest > when:
                when = earliest
        elif after_previous is not None:
            when = delivered + after_previous
        else:
            when = state[7] or self.term_costs_from(delivered)
        if consumer and after_term_for_consumers:
            # A consumer's claim is handed over (or charged) only after the 14-day term.
            term = self.snap.terms.get(self.snap.term_of.get(row[0], -1))
            if term is not None and term.costs_from > when:
                when = term.costs_from
        return when

    def term_costs_from(self, delivered: date) -> date:
        """The day after the 14-day term of a letter delivered on `delivered`."""
        found = self._terms.get(delivered)
        if found is None:
            found = self._terms[delivered] = law.fourteen_day_term_from_delivery(
                delivered, apply_atw=self.apply_atw
            ).costs_from
        return found

    # -- letters -------------------------------------------------------------------------------

    def letters(
        self,
        admin: AdministrationView,
        debtor: Debtor,
        today: date,
        due: dict[tuple[str, int, str], _Group],
        credits: list[ItemRow],
        broken: Sequence[ArrangementView],
        rows: Sequence[ItemRow],
    ) -> None:
        code = debtor.code
        messaged = False
        for arrangement in broken:
            action = self.notice(admin, debtor, today, arrangement, rows)
            self.result.actions.append(action)
            messaged = True
        last = self.snap.last_message_on.get((admin.id, code))
        if len(due) == 1:
            ordered = list(due.values())
        else:
            ordered = sorted(due.values(), key=lambda g: (-g.step_index, g.policy.name, g.currency))
        credits_used = False
        for group in ordered:
            step = group.policy.steps[group.step_index]
            if not self.is_message(step):
                continue
            if messaged:
                self.wait(admin.id, code, step, group.rows, "one message per debtor per day")
                continue
            gap = group.policy.min_days_between_letters
            if last is not None and (today - last).days < gap:
                self.wait(
                    admin.id,
                    code,
                    step,
                    group.rows,
                    f"the previous letter went out on {last} (at most one per {gap} days)",
                )
                continue
            own_credits = [c for c in credits if c[6] == group.currency] if credits else credits
            outcome = self.build(admin, debtor, today, group, own_credits)
            if isinstance(outcome, str):
                self.wait(admin.id, code, step, group.rows, outcome)
                continue
            self.result.actions.append(outcome)
            messaged = True
            credits_used = True
        for group in ordered:
            step = group.policy.steps[group.step_index]
            if self.is_message(step):
                continue
            own_credits = [c for c in credits if c[6] == group.currency] if credits else credits
            outcome = self.build(admin, debtor, today, group, [] if credits_used else own_credits)
            if isinstance(outcome, str):
                self.wait(admin.id, code, step, group.rows, outcome)
                continue
            self.result.actions.append(outcome)
            credits_used = credits_used or bool(own_credits)

    def delivered(self, today: date, channels: Sequence[ChannelKind]) -> date:
        """Presumed delivery: a posted letter after the postal lag (13.3), else today."""
        if POSTAL_CHANNELS & set(channels):
            return law.delivery_date(today, postal_days=self.postal_days)
        return today

    def is_message(self, step: Step) -> bool:
        found = self._messages.get(id(step))
        if found is None:
            found = self._messages[id(step)] = step.is_message
        return found

    def wait(
        self, administration_id: int, debtor_code: str, step: Step, rows: list[ItemRow], why: str
    ) -> None:
        self.result.waiting.append(
            Waiting(administration_id, debtor_code, step.name, len(rows), why)
        )

    def build(
        self,
        admin: AdministrationView,
        debtor: Debtor,
        today: date,
        group: _Group,
        credits: list[ItemRow],
    ) -> PlannedAction | str:
        """The letter for one debtor's items at one step, or why it waits."""
        policy = group.policy
        step = policy.steps[group.step_index]
        rows = group.rows
        rows.sort(key=_ROW_ORDER)
        currency = group.currency
        gross = sum(map(_AMOUNT, rows), ZERO)
        credit_total = sum(map(_AMOUNT, credits), ZERO) if credits else ZERO
        net = money(gross + credit_total, currency)
        if net <= 0:
            return "credit notes and unapplied payments cover the overdue items"
        if net < step.minimum_amount:
            return f"{net} is below the step's minimum of {step.minimum_amount}"
        consumer = debtor.kind is DebtorKind.CONSUMER
        notes: list[str] = []
        channels, hold = self.channels(step.channels, step.fallback, debtor, notes)
        charges = self.charges(admin, debtor, today, policy, step, rows, credits, notes)
        if self.backlog and any(r[0] in self.backlog for r in rows):
            worst = max((today - r[5]).days for r in rows if r[0] in self.backlog)
            notes.append(
                f"backlog: no earlier letter and up to {worst} days overdue, so it starts at "
                f"{step.name} (policy {policy.name}: backlog_start_step)"
            )
        legal: LegalTerm | None = None
        delivered = (
            law.delivery_date(today, postal_days=self.postal_days)
            if POSTAL_CHANNELS & set(channels)
            else today
        )
        term_end: date | None = None
        costs_from: date | None = None
        costs_if_unpaid: Decimal | None = None
        pay_by = today + timedelta(days=step.pay_within_days)
        language = letter_language(debtor.language)
        if consumer and step.kind is StepKind.FINAL_NOTICE:
            if step.collection_costs is Costs.BIK and group.currency == "EUR":
                announced = law.collection_costs(
                    net, creditor_deducts_vat=costs_without_vat(admin.sender, policy.hands_over)
                )
                term = law.fourteen_day_term_from_delivery(delivered, apply_atw=self.apply_atw)
                wording = law.fourteen_day_letter_wording(
                    announced,
                    language="en" if language == "en" else "nl",
                    mention_statutory_interest=step.interest is Interest.STATUTORY,
                    announce_handover=policy.hands_over,
                    interest_owed=charges.interest,
                )
                legal = LegalTerm(
                    delivered_on=delivered,
                    term_end=term.term_end,
                    costs_if_unpaid=announced.total,
                    statements=tuple(s.text for s in wording.statements),
                )
                term_end, costs_from = term.term_end, term.costs_from
                costs_if_unpaid = announced.total
                pay_by = term.term_end
            else:
                notes.append("no collection costs announced: this is not a 14-day letter")
        cycle = self.next_cycle(admin.id, debtor.code, step.name)
        key = action_key(admin.id, debtor.code, step.name, cycle)
        quantum = _quantum(currency)
        interest_of = charges.item_interest.get
        items = tuple(
            [
                LetterItem(
                    r[0],
                    r[3],
                    r[4],
                    r[5],
                    (today - r[5]).days,
                    r[7].quantize(quantum, ROUND_HALF_UP),
                    interest_of(r[0], ZERO),
                )
                for r in (*rows, *sorted(credits, key=_ROW_ORDER))
            ]
        )
        letter = Letter(
            key=key,
            administration_id=admin.id,
            sender=admin.sender,
            debtor=debtor,
            step_name=step.name,
            step_kind=step.kind,
            template=step.template_for(consumer),
            channels=channels,
            language=language,
            letter_date=today,
            currency=group.currency,
            items=items,
            principal=net,
            collection_costs=charges.costs,
            collection_costs_vat=charges.vat,
            interest=charges.interest,
            total=net + charges.costs + charges.vat + charges.interest,
            payment_reference=payment_reference(key),
            pay_by=pay_by,
            legal_term=legal,
            attach_invoices=step.attach_invoices,
        )
        if self.is_message(step):
            hold = hold or next(iter(letter_problems(letter, reference_made_here=True)), "")
        hold = hold or charges.hold
        return PlannedAction(
            letter=letter,
            policy=policy.name,
            step_index=group.step_index,
            cycle=cycle,
            approval=admin.approval,
            charged_ids=frozenset(charges.charged_ids) if charges.charged_ids else _NONE,
            charged_costs=charges.charged_costs,
            charged_vat=charges.charged_vat,
            charged_interest=charges.charged_interest,
            charged_principal=charges.charged_principal,
            delivered_on=delivered,
            term_end=term_end,
            costs_from=costs_from,
            costs_if_unpaid=costs_if_unpaid,
            notes=tuple(notes),
            hold=hold,
        )

    @staticmethod
    def channels(
        wanted: tuple[ChannelKind, ...],
        fallback: ChannelKind | None,
        debtor: Debtor,
        notes: list[str],
    ) -> tuple[tuple[ChannelKind, ...], str]:
        """The step's channels for this debtor, and why the letter is held: a channel that
        cannot reach the debtor is replaced by the step's fallback, or holds the letter."""
        channels, hold, more = resolve_channels(wanted, fallback, debtor)
        notes.extend(more)
        return channels, hold

    def charges(
        self,
        admin: AdministrationView,
        debtor: Debtor,
        today: date,
        policy: Policy,
        step: Step,
        rows: list[ItemRow],
        credits: list[ItemRow],
        notes: list[str],
    ) -> _Charges:
        """Costs and interest of one letter (see the module's rules)."""
        if (
            step.interest is Interest.NONE
            and step.collection_costs is Costs.NONE
            and (not self.snap.claim_of or not any(r[0] in self.snap.claim_of for r in rows))
        ):
            return _NO_CHARGES  # a reminder without costs or interest: nothing to compute
        out = _Charges()
        consumer = debtor.kind is DebtorKind.CONSUMER
        kind = law.InterestKind.CONSUMER if consumer else law.InterestKind.COMMERCIAL
        rates = _Rates(self.rates)
        with_interest = step.interest is Interest.STATUTORY
        deducts = costs_without_vat(admin.sender, step.kind is StepKind.COLLECTION)
        euro = rows[0].currency == "EUR"
        by_claim: dict[int, list[ItemRow]] = {}
        fresh: list[ItemRow] = []
        for row in rows:
            claim_id = self.snap.claim_of.get(row.id)
            if claim_id is not None and claim_id in self.snap.claims:
                by_claim.setdefault(claim_id, []).append(row)
            else:
                fresh.append(row)

        def interest_start(row: ItemRow) -> date | None:
            if not consumer or policy.consumer_interest_from is ConsumerInterestFrom.DUE_DATE:
                return law.interest_start_after_due_date(row.due_date)
            term = self.snap.terms.get(self.snap.term_of.get(row.id, -1))
            if term is not None and term.costs_from <= today:
                return term.costs_from
            return None

        # The base of each item's interest: its open amount, less the debtor's credit notes
        # (the oldest items first; rows are sorted by due date).
        base: dict[int, Decimal] = {}
        credit_left = -sum((c.open_amount for c in credits), ZERO)
        for row in rows:
            amount = row.open_amount
            if credit_left > 0:
                used = min(credit_left, amount)
                amount -= used
                credit_left -= used
            base[row.id] = amount

        # Claims charged by an earlier letter: carried in full (pro rata when only some of
        # their items are in this letter), and interest runs on the principal art. 6:44 BW
        # leaves: payments went to the costs and interest first, so more principal is open
        # than the ledger shows.
        for claim_id, claim_rows in by_claim.items():
            claim = self.snap.claims[claim_id]
            still_open = sum((max(self.open_amount(i), ZERO) for i in claim.item_ids), ZERO)
            in_letter = sum((r.open_amount for r in claim_rows), ZERO)
            share = in_letter / still_open if still_open else Decimal(1)
            out.costs += cents(claim.costs * share)
            out.vat += cents(claim.vat * share)
            paid = max(claim.principal - still_open, ZERO)
            applied = law.apply_payment(
                claim.costs + claim.vat, claim.interest, claim.principal, paid
            )
            diverted = max(applied.principal - still_open, ZERO)
            for row in claim_rows:
                if still_open:
                    base[row.id] += cents(diverted * row.open_amount / still_open)

        if with_interest:
            for row in rows:
                out.item_interest[row.id] = rates.interest(
                    base[row.id], interest_start(row), today, kind, policy.day_count
                )
        if consumer and step.kind is StepKind.FINAL_NOTICE:
            pass  # the consumer 14-day letter announces the costs; it never charges them
        elif step.collection_costs is Costs.BIK and fresh:
            if not euro:
                notes.append("collection costs are charged on euro claims only")
            elif consumer:
                self.consumer_costs(today, fresh, deducts, out, notes)
            else:
                principal = max(
                    sum((r.open_amount for r in fresh), ZERO)
                    + sum((c.open_amount for c in credits), ZERO),
                    ZERO,
                )
                if principal > 0:
                    costs = law.collection_costs(principal, creditor_deducts_vat=deducts)
                    out.charge(costs.costs, costs.vat, fresh)
        if rates.missing:
            out.item_interest.clear()
            ends = rates.ends
            if self.result.rates_end is None or ends < self.result.rates_end:
                self.result.rates_end = ends
            if policy.interest_when_rate_unknown is RateUnknown.OMIT:
                notes.append(
                    f"warning: no interest in this letter (the interest rate table ends {ends}; "
                    'interest_when_rate_unknown = "omit")'
                )
            else:
                out.hold = f"interest rate table ends {ends}"
        out.interest = sum(out.item_interest.values(), ZERO)
        out.charged_interest = sum((out.item_interest.get(i, ZERO) for i in out.charged_ids), ZERO)
        return out

    def consumer_costs(
        self,
        today: date,
        rows: list[ItemRow],
        deducts: bool,
        out: _Charges,
        notes: list[str],
    ) -> None:
        """A consumer owes costs only after a 14-day letter's term, recalculated on what is
        still open of that letter's principal (HR 25-11-2016; T.1 BIK-19)."""
        by_term: dict[int, list[ItemRow]] = {}
        for row in rows:
            term_id = self.snap.term_of.get(row.id)
            if term_id is None or term_id not in self.snap.terms:
                notes.append(
                    f"{row.invoice_number}: no collection costs without a 14-day letter first"
                )
                continue
            by_term.setdefault(term_id, []).append(row)
        for term_id, term_rows in by_term.items():
            term = self.snap.terms[term_id]
            if term.costs_from > today:
                notes.append(f"the 14-day term runs until {term.costs_from - _ONE_DAY}")
                continue
            still_open = sum((max(self.open_amount(i), ZERO) for i in term.item_ids), ZERO)
            paid = max(term.principal - still_open, ZERO)
            costs = law.collection_costs_after_term(
                term.principal, paid, creditor_deducts_vat=deducts
            )
            in_letter = sum((r.open_amount for r in term_rows), ZERO)
            share = in_letter / still_open if still_open else Decimal(1)
            out.charge(cents(costs.costs * share), cents(costs.vat * share), term_rows)

    def notice(
        self,
        admin: AdministrationView,
        debtor: Debtor,
        today: date,
        arrangement: ArrangementView,
        rows: Sequence[ItemRow],
    ) -> PlannedAction:
        """The broken-arrangement notice: the items still open, no new costs. It goes by the
        message channels of the policy's first message step."""
        policy = self.policy(admin.default_policy)
        first = next((s for s in policy.steps if s.is_message), policy.steps[0])
        notes: list[str] = []
        channels = tuple(c for c in first.channels if c in MESSAGE_CHANNELS) or (ChannelKind.EMAIL,)
        resolved, hold = self.channels(channels, first.fallback, debtor, notes)
        covered = set(arrangement.item_ids)
        open_items = [row for row in rows if row.id in covered and row.open_amount != 0]
        open_items.sort(key=lambda r: (r.due_date, r.invoice_number, r.id))
        currency = open_items[0].currency if open_items else "EUR"
        principal = money(sum((r.open_amount for r in open_items), ZERO), currency)
        cycle = self.next_cycle(admin.id, debtor.code, ARRANGEMENT_BROKEN)
        key = action_key(admin.id, debtor.code, ARRANGEMENT_BROKEN, cycle)
        letter = Letter(
            key=key,
            administration_id=admin.id,
            sender=admin.sender,
            debtor=debtor,
            step_name=ARRANGEMENT_BROKEN,
            step_kind=StepKind.REMINDER,
            template=ARRANGEMENT_BROKEN,
            channels=resolved,
            language=letter_language(debtor.language),
            letter_date=today,
            currency=currency,
            items=tuple(
                LetterItem(
                    item_id=r.id,
                    invoice_number=r.invoice_number,
                    invoice_date=r.invoice_date,
                    due_date=r.due_date,
                    days_overdue=(today - r.due_date).days,
                    open_amount=money(r.open_amount, currency),
                )
                for r in open_items
            ),
            principal=principal,
            total=principal,
            payment_reference=payment_reference(key),
            pay_by=today + timedelta(days=first.pay_within_days),
        )
        hold = hold or next(iter(letter_problems(letter, reference_made_here=True)), "")
        return PlannedAction(
            letter=letter,
            policy=policy.name,
            step_index=-1,
            cycle=cycle,
            approval=admin.approval,
            delivered_on=law.delivery_date(today, postal_days=self.postal_days)
            if POSTAL_CHANNELS & set(resolved)
            else today,
            arrangement_id=arrangement.id,
            notes=tuple(notes),
            hold=hold,
        )


@dataclass
class _Charges:
    costs: Decimal = ZERO
    vat: Decimal = ZERO
    interest: Decimal = ZERO
    item_interest: dict[int, Decimal] = field(default_factory=dict)
    charged_ids: set[int] = field(default_factory=set)
    charged_costs: Decimal = ZERO
    charged_vat: Decimal = ZERO
    charged_interest: Decimal = ZERO
    charged_principal: Decimal = ZERO
    hold: str = ""  # the letter may not go out: its interest cannot be computed

    def charge(self, costs: Decimal, vat: Decimal, rows: Sequence[ItemRow]) -> None:
        self.costs += costs
        self.vat += vat
        self.charged_costs += costs
        self.charged_vat += vat
        self.charged_principal += sum((r.open_amount for r in rows), ZERO)
        self.charged_ids.update(r.id for r in rows)


_NO_CHARGES = _Charges()


def plan(
    policies: Mapping[str, Policy],
    rules: Sequence[SegmentRule],
    snapshot: Snapshot,
    dates: Mapping[int, date],
    *,
    apply_atw: bool = True,
    rates: law.RateTable | None = None,
    postal_days: int | None = None,
) -> PlanResult:
    """The letters due on `dates` (the local date of each administration to plan for).

    Administrations of the snapshot that are not in `dates` are left out. `policies` must
    hold "default" and every policy the snapshot's administrations, overrides and `rules`
    name (`load_dunning_config` checks that).
    """
    with without_cycle_collection():
        return _Planner(policies, rules, snapshot, dates, apply_atw, rates, postal_days).run()


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a plan or a snapshot is built.

    Both create hundreds of thousands of small objects without reference cycles; the
    collector would scan them over and over as they are made (a third of the plan's time).
    Reference counting still frees everything; the collector is switched back on after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
