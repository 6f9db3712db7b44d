"""Dunning policies and the rest of the dunning configuration, parsed into frozen values.

A policy is an ordered list of steps in the TOML config::

    [policies.standard]
    min_days_between_letters = 7          # at most one letter to a debtor per 7 days
    day_count = "act/365"                 # or "act/act" (statutory interest)
    consumer_interest_from = "after_term" # or "due_date"

    [[policies.standard.steps]]
    name = "reminder_1"
    kind = "reminder"                     # reminder / final_notice / collection
    days_after_due = 2                    # or days_after_previous = N, or after_previous_term
    channels = ["email"]                  # email / letter / call / collection / outbox
    template = "reminder_1"
    collection_costs = "none"             # none / bik
    interest = "none"                     # none / statutory
    attach_invoices = false
    minimum_amount = "5.00"               # a letter below this waits (the items keep waiting)
    pay_within_days = 14

When a step falls due:

- `days_after_due = N`: N days after the item's due date, but never sooner after the previous
  step than the schedule's own spacing (the difference with the previous step's nominal day),
  counted from the day the previous letter was sent: after missed days the run catches up with
  the next step only.
- `days_after_previous = N`: N days after the previous step's delivery: for a posted letter the
  presumed delivery of `law.delivery_date`, for e-mail the day it was sent.
- `after_previous_term = true`: the day after the 14-day term of the previous letter has
  expired, counted from its delivery (`law.fourteen_day_term_from_delivery`): the hand-over
  after a final notice.

The built-in policy `default` (`DEFAULT_POLICY`) is the Dutch practice for a 14-day payment
term: reminder at due+2, a second with a copy of the invoice at due+18, the final notice at
due+34 (for a consumer the legal 14-day letter of art. 6:96 lid 6 BW) and the hand-over to
collection once that letter's term has expired, computed from its delivery: at the earliest
due+51 for a posted letter, never a fixed due+50 (research §1.6, T.4 DUN-06).

The rest of the dunning configuration::

    [dunning]
    default_policy = "default"
    approval = false                # every administration: actions wait for approval
    apply_atw = true                # Algemene termijnenwet extends the 14-day term
    postal_delivery_days = 3        # optional: delivery days presumed for a posted letter
    arrangement_grace_days = 5      # a missed instalment breaks the arrangement after this
    lock_minutes = 30               # a dunning run's lock is stale after this long
    collection_folder = "collection"
    templates_dir = "templates"     # optional: overrides of the shipped templates
    [[dunning.segments]]            # ordered rules choosing a policy (connector.dunning.segments)
    policy = "consumer"
    kind = "consumer"

    [administrations."studio-noord"]  # by id, ledger id or name
    approval = true
    policy = "strict"               # this administration's default instead of [dunning]'s
    templates_dir = "templates/studio-noord"
    [administrations."studio-noord".sender]
    iban = "NL91ABNA0417164300"     # any field of connector.dunning.model.Sender
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from decimal import Decimal
from decimal import InvalidOperation
from types import MappingProxyType
from typing import Any

from connector.dunning.collector import Collector
from connector.dunning.collector import parse_collector
from connector.dunning.law import DayCount
from connector.dunning.law import RateTable
from connector.dunning.law import load_rate_table
from connector.dunning.law import merge_rate_tables
from connector.dunning.law import shipped_rate_table
from connector.dunning.model import ChannelKind
from connector.dunning.model import Sender
from connector.dunning.model import StepKind
from connector.dunning.segments import SegmentRule
from connector.dunning.segments import parse_rules
from connector.errors import ConfigError
from connector.settings import DEFAULT_CONFIG
from connector.settings import Settings

#: Channels that send a message to the debtor (as opposed to a task or a dossier).
MESSAGE_CHANNELS = frozenset({ChannelKind.EMAIL, ChannelKind.LETTER, ChannelKind.OUTBOX})
#: Channels whose delivery is presumed by post (law.delivery_date), not on the day sent.
POSTAL_CHANNELS = frozenset({ChannelKind.LETTER, ChannelKind.OUTBOX})
#: The step name of a broken-arrangement notice; no policy step may use it.
ARRANGEMENT_BROKEN = "arrangement_broken"
#: How many days the schedule presumes between a letter and the end of its 14-day term
#: (two postal days, fourteen days, then the next day), for nominal offsets only.
_NOMINAL_TERM_DAYS = 17


class Costs(enum.StrEnum):
    NONE = "none"
    BIK = "bik"  # extrajudicial collection costs on the BIK scale (law.collection_costs)


class Interest(enum.StrEnum):
    NONE = "none"
    STATUTORY = "statutory"  # art. 6:119 BW (consumers) / 6:119a BW (businesses)


class RateUnknown(enum.StrEnum):
    """What a letter that would charge interest does when the rate table ends too early."""

    BLOCK = "block"  # the letter is held: `blocked: interest rate table ends YYYY-MM-DD`
    OMIT = "omit"  # the letter goes without an amount of interest; the plan warns per letter


class Mode(enum.StrEnum):
    """How an administration's letters go out."""

    LIVE = "live"  # sent by the run
    APPROVAL = "approval"  # stored as pending_approval; `connector dunning approve` releases
    REVIEW = "review"  # nothing leaves: each letter is written to the review folder


class ConsumerInterestFrom(enum.StrEnum):
    AFTER_TERM = "after_term"  # the research's conservative default (§1.4.1)
    DUE_DATE = "due_date"  # where the invoice's due date is a fatal term (art. 6:83 sub a)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    kind: StepKind
    channels: tuple[ChannelKind, ...]
    template: str
    days_after_due: int | None = None
    days_after_previous: int | None = None
    after_previous_term: bool = False
    consumer_template: str = ""  # the template for consumers, when it differs
    collection_costs: Costs = Costs.NONE
    interest: Interest = Interest.NONE
    attach_invoices: bool = False
    minimum_amount: Decimal = Decimal(0)
    pay_within_days: int = 14
    # The channel a letter goes by instead of one of `channels` that cannot reach the debtor
    # (no e-mail address, no postal address, a bounced address); None: the letter is held.
    fallback: ChannelKind | None = None
    # Derived by the policy: the step's nominal day after the due date, and for a
    # `days_after_due` step the least number of days after the previous letter.
    nominal_offset: int = 0
    spacing: int = 0

    @property
    def is_message(self) -> bool:
        return any(channel in MESSAGE_CHANNELS for channel in self.channels)

    def template_for(self, consumer: bool) -> str:
        return self.consumer_template if consumer and self.consumer_template else self.template


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    min_days_between_letters: int = 7
    day_count: DayCount = DayCount.ACT_365
    consumer_interest_from: ConsumerInterestFrom = ConsumerInterestFrom.AFTER_TERM
    description: str = ""
    interest_when_rate_unknown: RateUnknown = RateUnknown.BLOCK
    # The step an item without any letter starts at once it is at least that step's nominal
    # number of days overdue (a backlog found on the first run); "" for always the first step.
    backlog_start_step: str = ""
    _index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_index", MappingProxyType({step.name: i for i, step in enumerate(self.steps)})
        )

    def index_of(self, step_name: str) -> int | None:
        return self._index.get(step_name)

    @property
    def backlog_index(self) -> int | None:
        """The index of `backlog_start_step`, or None when the policy has none."""
        return self.index_of(self.backlog_start_step) if self.backlog_start_step else None

    @property
    def hands_over(self) -> bool:
        """The policy ends with a hand-over to collection."""
        return any(step.kind is StepKind.COLLECTION for step in self.steps)


def _with_offsets(steps: Sequence[Step], where: str) -> tuple[Step, ...]:
    """Fill in each step's nominal offset and, for `days_after_due` steps, the spacing."""
    result: list[Step] = []
    previous_offset = 0
    for index, step in enumerate(steps):
        if step.days_after_due is not None:
            offset = step.days_after_due
            spacing = offset - previous_offset if index else 0
            if index and spacing < 1:
                msg = (
                    f"{where}.steps[{index}].days_after_due: expected more than the previous "
                    f"step's day ({previous_offset}), got {offset}"
                )
                raise ConfigError(msg)
        elif step.days_after_previous is not None:
            offset, spacing = previous_offset + step.days_after_previous, 0
        else:
            offset, spacing = previous_offset + _NOMINAL_TERM_DAYS, 0
        result.append(_replace_step(step, nominal_offset=offset, spacing=spacing))
        previous_offset = offset
    return tuple(result)


def _replace_step(step: Step, **changes: Any) -> Step:
    values = {f.name: getattr(step, f.name) for f in fields(step)}
    values.update(changes)
    return Step(**values)


def make_policy(
    name: str,
    steps: Sequence[Step],
    *,
    min_days_between_letters: int = 7,
    day_count: DayCount = DayCount.ACT_365,
    consumer_interest_from: ConsumerInterestFrom = ConsumerInterestFrom.AFTER_TERM,
    description: str = "",
    interest_when_rate_unknown: RateUnknown = RateUnknown.BLOCK,
    backlog_start_step: str = "",
    where: str = "policies",
) -> Policy:
    """A policy with its derived step offsets checked (for code and tests; the config goes
    through `parse_policies`)."""
    _check_steps(steps, f"{where}.{name}")
    if backlog_start_step and backlog_start_step not in {step.name for step in steps}:
        msg = (
            f"{where}.{name}.backlog_start_step: no step {backlog_start_step!r}; the steps are "
            f"{', '.join(step.name for step in steps)}"
        )
        raise ConfigError(msg)
    with_offsets = _with_offsets(steps, f"{where}.{name}")
    _check_terms(with_offsets, f"{where}.{name}")
    return Policy(
        name=name,
        steps=with_offsets,
        min_days_between_letters=min_days_between_letters,
        day_count=day_count,
        consumer_interest_from=consumer_interest_from,
        description=description,
        interest_when_rate_unknown=interest_when_rate_unknown,
        backlog_start_step=backlog_start_step,
    )


def _check_steps(steps: Sequence[Step], where: str) -> None:
    if not steps:
        msg = f"{where}.steps: a policy needs at least one step"
        raise ConfigError(msg)
    seen: set[str] = set()
    for index, step in enumerate(steps):
        at = f"{where}.steps[{index}]"
        if step.name in seen:
            msg = f"{at}.name: {step.name!r} is used twice in the policy"
            raise ConfigError(msg)
        if step.name == ARRANGEMENT_BROKEN:
            msg = f"{at}.name: {ARRANGEMENT_BROKEN!r} is reserved for broken-arrangement notices"
            raise ConfigError(msg)
        seen.add(step.name)
        whens = [
            step.days_after_due is not None,
            step.days_after_previous is not None,
            step.after_previous_term,
        ]
        if sum(whens) != 1:
            msg = (
                f"{at}: expected exactly one of days_after_due, days_after_previous or "
                "after_previous_term"
            )
            raise ConfigError(msg)
        if index == 0 and step.days_after_due is None:
            msg = f"{at}: the first step has no previous step; use days_after_due"
            raise ConfigError(msg)
        if step.days_after_due is not None and step.days_after_due < 1:
            msg = f"{at}.days_after_due: expected a whole number >= 1, got {step.days_after_due}"
            raise ConfigError(msg)
        if step.days_after_previous is not None and step.days_after_previous < 1:
            msg = (
                f"{at}.days_after_previous: expected a whole number >= 1, "
                f"got {step.days_after_previous}"
            )
            raise ConfigError(msg)
        if not step.channels:
            msg = f"{at}.channels: expected at least one channel"
            raise ConfigError(msg)
        if step.minimum_amount < 0:
            msg = f"{at}.minimum_amount: expected an amount >= 0, got {step.minimum_amount}"
            raise ConfigError(msg)
        if step.fallback is not None and step.fallback not in MESSAGE_CHANNELS:
            msg = (
                f"{at}.fallback: expected a channel that writes to the debtor "
                f"(email / letter / outbox), got {step.fallback.value!r}"
            )
            raise ConfigError(msg)


def _check_terms(steps: Sequence[Step], where: str) -> None:
    """13.4 and 13.12: what a court would hold against the policy itself.

    - A final-notice step needs its own consumer template: the business sommatie prints the
      term's end date and "u bent in verzuim", which a consumer's 14-day letter may not (the
      term runs from the day after delivery, art. 6:96 lid 6 BW).
    - Each reminder's own payment term (`pay_within_days`) ends before the 14-day letter can
      go out: a debtor is never summoned while a term the creditor granted still runs.
    """
    for index, step in enumerate(steps):
        at = f"{where}.steps[{index}]"
        if step.kind is StepKind.FINAL_NOTICE and not step.consumer_template:
            msg = (
                f"{at}.consumer_template: a final_notice step needs a template for consumers "
                'without a term date (e.g. consumer_template = "final_notice_consumer")'
            )
            raise ConfigError(msg)
        if step.kind is not StepKind.FINAL_NOTICE:
            continue
        for before in range(index):
            reminder = steps[before]
            if reminder.kind is not StepKind.REMINDER:
                continue
            ends = reminder.nominal_offset + reminder.pay_within_days
            if ends >= step.nominal_offset:
                msg = (
                    f"{where}.steps[{before}].pay_within_days: the term of {reminder.name!r} "
                    f"ends on day {ends} after the due date, not before {step.name!r} on day "
                    f"{step.nominal_offset}; shorten it or send {step.name!r} later"
                )
                raise ConfigError(msg)


DEFAULT_POLICY = make_policy(
    "default",
    (
        Step(
            name="reminder_1",
            kind=StepKind.REMINDER,
            days_after_due=2,
            channels=(ChannelKind.EMAIL,),
            template="reminder_1",
            minimum_amount=Decimal("1.00"),
            fallback=ChannelKind.LETTER,
        ),
        Step(
            name="reminder_2",
            kind=StepKind.REMINDER,
            days_after_due=18,
            channels=(ChannelKind.EMAIL,),
            template="reminder_2",
            attach_invoices=True,
            minimum_amount=Decimal("1.00"),
            fallback=ChannelKind.LETTER,
        ),
        Step(
            name="final_notice",
            kind=StepKind.FINAL_NOTICE,
            days_after_due=34,
            channels=(ChannelKind.EMAIL, ChannelKind.LETTER),
            template="final_notice",
            consumer_template="final_notice_consumer",
            collection_costs=Costs.BIK,
            interest=Interest.STATUTORY,
            attach_invoices=True,
            minimum_amount=Decimal("1.00"),
            fallback=ChannelKind.LETTER,
        ),
        Step(
            name="collection",
            kind=StepKind.COLLECTION,
            after_previous_term=True,
            # 13.7: the debtor is told, the same day, to whom the claim and data went.
            channels=(ChannelKind.COLLECTION, ChannelKind.EMAIL),
            template="collection_notice",
            collection_costs=Costs.BIK,
            interest=Interest.STATUTORY,
            minimum_amount=Decimal("1.00"),
        ),
    ),
    description=(
        "Dutch practice for a 14-day payment term: reminders at due+2 and due+18, the final "
        "notice at due+34 (the legal 14-day letter for consumers), hand-over after its term"
    ),
    # An item found 34 days or more overdue without any letter (a backlog on the first run)
    # starts at the final notice, not at a friendly first reminder.
    backlog_start_step="final_notice",
)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _Reader:
    """Reads one TOML table with errors that name the file, the key and what was expected."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where
        self.used: set[str] = set()

    def _fail(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.where}.{key}: expected {expected}, got {value!r}")

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.table.get(key)

    def string(self, key: str, default: str | None = None) -> str:
        value = self.get(key)
        if value is None:
            if default is None:
                raise self._fail(key, "a string", value)
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        return value.strip()

    def integer(self, key: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._fail(key, f"a whole number >= {minimum}", value)
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def amount(self, key: str, default: Decimal) -> Decimal:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._fail(key, 'an amount written as a string, e.g. "5.00"', value)
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self._fail(key, 'an amount written as a string, e.g. "5.00"', value) from None
        if not amount.is_finite() or amount < 0:
            raise self._fail(key, "an amount >= 0", value)
        return amount

    def choice(self, key: str, enum_type: type[enum.StrEnum], default: Any) -> Any:
        value = self.get(key)
        if value is None:
            return default
        try:
            return enum_type(value)
        except ValueError:
            options = " / ".join(member.value for member in enum_type)
            raise self._fail(key, f"one of {options}", value) from None

    def check_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            msg = (
                f"{self.where}.{unknown[0]}: unknown key; expected one of "
                f"{', '.join(sorted(self.used))}"
            )
            raise ConfigError(msg)


def _channels(reader: _Reader) -> tuple[ChannelKind, ...]:
    value = reader.get("channels")
    options = " / ".join(kind.value for kind in ChannelKind)
    if not isinstance(value, list) or not value:
        msg = f"{reader.where}.channels: expected a list of channels ({options}), got {value!r}"
        raise ConfigError(msg)
    channels: list[ChannelKind] = []
    for entry in value:
        try:
            kind = ChannelKind(entry)
        except ValueError:
            msg = f"{reader.where}.channels: expected channels from {options}, got {entry!r}"
            raise ConfigError(msg) from None
        if kind not in channels:
            channels.append(kind)
    return tuple(channels)


def _parse_step(table: Any, where: str) -> Step:
    if not isinstance(table, Mapping):
        msg = f"{where}: expected a table ([[...steps]]), got {table!r}"
        raise ConfigError(msg)
    reader = _Reader(table, where)
    name = reader.string("name")
    step = Step(
        name=name,
        kind=reader.choice("kind", StepKind, StepKind.REMINDER),
        channels=_channels(reader),
        template=reader.string("template", name),
        consumer_template=reader.string("consumer_template", ""),
        days_after_due=reader.integer("days_after_due", None),
        days_after_previous=reader.integer("days_after_previous", None),
        after_previous_term=reader.boolean("after_previous_term"),
        collection_costs=reader.choice("collection_costs", Costs, Costs.NONE),
        interest=reader.choice("interest", Interest, Interest.NONE),
        attach_invoices=reader.boolean("attach_invoices"),
        minimum_amount=reader.amount("minimum_amount", Decimal(0)),
        pay_within_days=reader.integer("pay_within_days", 14, minimum=1) or 14,
        fallback=reader.choice("fallback", ChannelKind, None),
    )
    reader.check_unknown()
    return step


def parse_policy(name: str, table: Any, where: str) -> Policy:
    at = f"{where}: policies.{name}"
    if not isinstance(table, Mapping):
        msg = f"{at}: expected a table, got {table!r}"
        raise ConfigError(msg)
    reader = _Reader(table, at)
    raw_steps = reader.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        msg = f"{at}.steps: expected one or more [[policies.{name}.steps]] tables"
        raise ConfigError(msg)
    steps = [_parse_step(entry, f"{at}.steps[{i}]") for i, entry in enumerate(raw_steps)]
    policy = make_policy(
        name,
        steps,
        min_days_between_letters=reader.integer("min_days_between_letters", 7) or 0,
        day_count=reader.choice("day_count", DayCount, DayCount.ACT_365),
        consumer_interest_from=reader.choice(
            "consumer_interest_from", ConsumerInterestFrom, ConsumerInterestFrom.AFTER_TERM
        ),
        description=reader.string("description", ""),
        interest_when_rate_unknown=reader.choice(
            "interest_when_rate_unknown", RateUnknown, RateUnknown.BLOCK
        ),
        backlog_start_step=reader.string("backlog_start_step", ""),
        where=f"{where}: policies",
    )
    reader.check_unknown()
    return policy


def parse_policies(section: Mapping[str, Any], where: str) -> dict[str, Policy]:
    """`[policies.NAME]` tables, plus the built-in `default` unless the config redefines it."""
    policies: dict[str, Policy] = {DEFAULT_POLICY.name: DEFAULT_POLICY}
    for name, table in section.items():
        policies[name] = parse_policy(name, table, where)
    return policies


@dataclass(frozen=True, slots=True)
class AdministrationSettings:
    """`[administrations.REF]`: what one administration changes for dunning."""

    approval: bool | None = None  # None: the [dunning] default
    mode: Mode | None = None  # None: `approval`, else the [dunning] default
    policy: str | None = None
    templates_dir: str | None = None
    sender: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_SENDER_FIELDS = {
    f.name: f.type
    for f in fields(Sender)
    if f.name not in ("collector_name", "collector_wki_number")  # from [dunning.collector]
}


def _parse_sender(table: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        msg = f"{where}: expected a table, got {table!r}"
        raise ConfigError(msg)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _SENDER_FIELDS:
            msg = f"{where}.{key}: unknown key; expected one of {', '.join(_SENDER_FIELDS)}"
            raise ConfigError(msg)
        if key in ("creditor_deducts_vat", "collection_agency_charges_vat"):
            if not isinstance(value, bool):
                msg = f"{where}.{key}: expected true or false, got {value!r}"
                raise ConfigError(msg)
        elif not isinstance(value, str):
            msg = f"{where}.{key}: expected a string, got {value!r}"
            raise ConfigError(msg)
        values[key] = value
    return MappingProxyType(values)


@dataclass(frozen=True, slots=True)
class DunningConfig:
    policies: Mapping[str, Policy]
    segments: tuple[SegmentRule, ...] = ()
    default_policy: str = DEFAULT_POLICY.name
    approval: bool = False
    apply_atw: bool = True
    postal_delivery_days: int | None = None  # None: calendar.default_postal_days (13.3)
    collector: Collector | None = None  # [dunning.collector]: collecting for clients (13.14)
    arrangement_grace_days: int = 5
    lock_minutes: int = 30
    collection_folder: str = "collection"
    templates_dir: str | None = None
    mode: Mode | None = None  # None: `approval` decides (approval or live, as before modes)
    review_folder: str = "review"
    interest_rates_file: str | None = None  # a TOML file of rate rows added to the shipped table
    administrations: Mapping[str, AdministrationSettings] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def for_administration(
        self, administration_id: int, external_id: str, name: str
    ) -> AdministrationSettings:
        """The `[administrations.REF]` table that names this administration, by id, ledger
        id or name (in that order); an empty one when none does."""
        for ref in (str(administration_id), external_id, name):
            found = self.administrations.get(ref)
            if found is not None:
                return found
        return AdministrationSettings()

    def policy_for_administration(self, settings: AdministrationSettings) -> str:
        return settings.policy or self.default_policy

    def approval_for(self, settings: AdministrationSettings) -> bool:
        return self.mode_for(settings) is Mode.APPROVAL

    def mode_for(self, settings: AdministrationSettings) -> Mode:
        """The administration's own mode, else its `approval`, else [dunning]'s mode, else
        [dunning]'s `approval`; live when nothing says otherwise (as before modes)."""
        if settings.mode is not None:
            return settings.mode
        if settings.approval is not None and (settings.approval or self.mode is None):
            # `approval = false` on an administration undoes [dunning] approval = true, but
            # never a [dunning] mode: that is said with the administration's own `mode`.
            return Mode.APPROVAL if settings.approval else Mode.LIVE
        if self.mode is not None:
            return self.mode
        return Mode.APPROVAL if self.approval else Mode.LIVE

    def rate_table(self) -> RateTable:
        """The shipped statutory interest rates, with the rows of `interest_rates_file`."""
        shipped = shipped_rate_table()
        if self.interest_rates_file is None:
            return shipped
        return merge_rate_tables(shipped, load_rate_table(self.interest_rates_file))

    @property
    def rate_table_source(self) -> str:
        """The file a user updates when the table ends too early."""
        return self.interest_rates_file or "[dunning] interest_rates_file (a TOML rate table)"

    def sender_for(
        self, settings: AdministrationSettings, administration_name: str, country: str
    ) -> Sender:
        values: dict[str, Any] = {"name": administration_name, "country": country or "NL"}
        values.update(settings.sender)
        if self.collector is not None and self.collector.for_clients:
            values["collector_name"] = self.collector.name
            values["collector_wki_number"] = self.collector.wki_number
        return Sender(**values)


def load_dunning_config(settings: Settings) -> DunningConfig:
    """The dunning configuration from the settings, every error a ConfigError that names the
    file and the key."""
    where = str(settings.config_path or DEFAULT_CONFIG)
    policies = parse_policies(settings.section("policies"), where)
    dunning = settings.section("dunning")
    reader = _Reader(dunning, f"{where}: dunning")
    default_policy = reader.string("default_policy", DEFAULT_POLICY.name)
    if default_policy not in policies:
        msg = (
            f"{where}: dunning.default_policy: no policy {default_policy!r}; "
            f"known: {', '.join(sorted(policies))}"
        )
        raise ConfigError(msg)
    raw_segments = reader.get("segments")
    segments = parse_rules(
        raw_segments if raw_segments is not None else [], f"{where}: dunning.segments", policies
    )
    templates_dir = reader.get("templates_dir")
    if templates_dir is not None and not isinstance(templates_dir, str):
        msg = f"{where}: dunning.templates_dir: expected a folder name, got {templates_dir!r}"
        raise ConfigError(msg)
    config = DunningConfig(
        policies=MappingProxyType(policies),
        segments=segments,
        default_policy=default_policy,
        approval=reader.boolean("approval"),
        apply_atw=reader.boolean("apply_atw", True),
        postal_delivery_days=reader.integer("postal_delivery_days", None, minimum=1),
        collector=parse_collector(reader.get("collector"), f"{where}: dunning.collector"),
        arrangement_grace_days=reader.integer("arrangement_grace_days", 5) or 0,
        lock_minutes=reader.integer("lock_minutes", 30, minimum=1) or 30,
        collection_folder=reader.string("collection_folder", "collection"),
        templates_dir=templates_dir,
        mode=reader.choice("mode", Mode, None),
        review_folder=reader.string("review_folder", "review"),
        interest_rates_file=_rates_file(reader, where),
        administrations=MappingProxyType(
            _parse_administrations(settings.section("administrations"), where, policies)
        ),
    )
    reader.check_unknown()
    return config


def _rates_file(reader: _Reader, where: str) -> str | None:
    """`[dunning] interest_rates_file`: read and checked now, so a broken file stops every
    command at start with one line rather than the first final notice."""
    path = reader.get("interest_rates_file")
    if path is None:
        return None
    if not isinstance(path, str) or not path.strip():
        msg = f"{where}: dunning.interest_rates_file: expected a file name, got {path!r}"
        raise ConfigError(msg)
    try:
        merge_rate_tables(shipped_rate_table(), load_rate_table(path))
    except ConfigError as exc:
        msg = f"{where}: dunning.interest_rates_file: {exc}"
        raise ConfigError(msg) from exc
    return path


def _parse_administrations(
    section: Mapping[str, Any], where: str, policies: Mapping[str, Policy]
) -> dict[str, AdministrationSettings]:
    result: dict[str, AdministrationSettings] = {}
    for ref, table in section.items():
        at = f"{where}: administrations.{ref}"
        if not isinstance(table, Mapping):
            msg = f"{at}: expected a table, got {table!r}"
            raise ConfigError(msg)
        reader = _Reader(table, at)
        approval = reader.get("approval")
        if approval is not None and not isinstance(approval, bool):
            msg = f"{at}.approval: expected true or false, got {approval!r}"
            raise ConfigError(msg)
        policy = reader.get("policy")
        if policy is not None and policy not in policies:
            msg = f"{at}.policy: no policy {policy!r}; known: {', '.join(sorted(policies))}"
            raise ConfigError(msg)
        templates_dir = reader.get("templates_dir")
        if templates_dir is not None and not isinstance(templates_dir, str):
            msg = f"{at}.templates_dir: expected a folder name, got {templates_dir!r}"
            raise ConfigError(msg)
        sender = reader.get("sender")
        result[str(ref)] = AdministrationSettings(
            approval=approval,
            mode=reader.choice("mode", Mode, None),
            policy=policy,
            templates_dir=templates_dir,
            sender=_parse_sender(sender, f"{at}.sender")
            if sender is not None
            else MappingProxyType({}),
        )
        # Other parts of the connector may keep their own keys here; only ours are checked.
    return result


def default_config() -> DunningConfig:
    """The configuration when the config file says nothing about dunning."""
    return DunningConfig(policies=MappingProxyType({DEFAULT_POLICY.name: DEFAULT_POLICY}))
