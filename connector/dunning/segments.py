"""Which policy a debtor gets: ordered segment rules, then per-debtor and per-item overrides.

Segment rules are data, never code: each is a TOML table of fixed conditions that must all
hold, and the first rule that matches wins (no rule matches: the administration's default)::

    [[dunning.segments]]
    name = "consumers"           # for messages; optional
    policy = "consumer"          # a [policies.NAME] (or the built-in "default")
    kind = "consumer"            # business / consumer
    tags_any = ["vip", "gold"]   # at least one of these tags
    tags_all = ["retail"]        # every one of these tags
    tags_none = ["government"]   # none of these tags
    outstanding_min = "1000.00"  # total open amount (credit notes netted) >= this
    outstanding_max = "50000"    # ... and < this
    avg_days_late_min = 10       # average days late of the debtor's paid items >= this
    avg_days_late_max = 60       # ... and < this (a debtor without paid items matches
                                 # neither: there is no behaviour to judge)
    administrations = ["studio-noord", "3"]  # by id, ledger id or name

Overrides are kept in the store (`connector pause ...`) and win over the rules: a pause until
a date with a reason (a "mahnstop"), an exclusion until lifted, or another policy, for one
debtor or one item. An item override wins over its debtor's.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from connector.domain import DebtorKind
from connector.dunning.tables import OverrideKind
from connector.errors import ConfigError

_KEYS = (
    "name",
    "policy",
    "kind",
    "tags_any",
    "tags_all",
    "tags_none",
    "outstanding_min",
    "outstanding_max",
    "avg_days_late_min",
    "avg_days_late_max",
    "administrations",
)


@dataclass(frozen=True, slots=True)
class DebtorFacts:
    """What the rules look at for one debtor."""

    administration_refs: frozenset[str]  # the administration's id (as text), ledger id, name
    kind: DebtorKind
    tags: frozenset[str]
    outstanding: Decimal
    avg_days_late: Decimal | None  # None: no paid items in the store yet


@dataclass(frozen=True, slots=True)
class SegmentRule:
    policy: str
    name: str = ""
    kind: DebtorKind | None = None
    tags_any: frozenset[str] = frozenset()
    tags_all: frozenset[str] = frozenset()
    tags_none: frozenset[str] = frozenset()
    outstanding_min: Decimal | None = None
    outstanding_max: Decimal | None = None
    avg_days_late_min: Decimal | None = None
    avg_days_late_max: Decimal | None = None
    administrations: frozenset[str] = frozenset()

    @property
    def uses_payment_history(self) -> bool:
        return self.avg_days_late_min is not None or self.avg_days_late_max is not None

    def matches(self, facts: DebtorFacts) -> bool:
        if self.kind is not None and facts.kind is not self.kind:
            return False
        if self.administrations and not (self.administrations & facts.administration_refs):
            return False
        if self.tags_any and not (self.tags_any & facts.tags):
            return False
        if self.tags_all and not (self.tags_all <= facts.tags):
            return False
        if self.tags_none and self.tags_none & facts.tags:
            return False
        if self.outstanding_min is not None and facts.outstanding < self.outstanding_min:
            return False
        if self.outstanding_max is not None and facts.outstanding >= self.outstanding_max:
            return False
        if self.uses_payment_history:
            late = facts.avg_days_late
            if late is None:
                return False
            if self.avg_days_late_min is not None and late < self.avg_days_late_min:
                return False
            if self.avg_days_late_max is not None and late >= self.avg_days_late_max:
                return False
        return True


def choose_policy(rules: Sequence[SegmentRule], facts: DebtorFacts, default: str) -> str:
    """The policy of the first rule that matches, else `default`."""
    for rule in rules:
        if rule.matches(facts):
            return rule.policy
    return default


def uses_payment_history(rules: Iterable[SegmentRule]) -> bool:
    return any(rule.uses_payment_history for rule in rules)


# --- parsing ---------------------------------------------------------------------------------


def _tags(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        msg = f"{where}: expected a list of tags, got {value!r}"
        raise ConfigError(msg)
    return frozenset(value)


def _number(value: Any, where: str, example: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        msg = f"{where}: expected a number such as {example}, got {value!r}"
        raise ConfigError(msg)
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        msg = f"{where}: expected a number such as {example}, got {value!r}"
        raise ConfigError(msg)
    return number


def parse_rules(
    entries: Any, where: str, policies: Mapping[str, object]
) -> tuple[SegmentRule, ...]:
    """`[[dunning.segments]]` tables into rules, in order; every policy must exist."""
    if not isinstance(entries, list):
        msg = f"{where}: expected [[dunning.segments]] tables, got {entries!r}"
        raise ConfigError(msg)
    rules: list[SegmentRule] = []
    for index, table in enumerate(entries):
        at = f"{where}[{index}]"
        if not isinstance(table, Mapping):
            msg = f"{at}: expected a table, got {table!r}"
            raise ConfigError(msg)
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            msg = f"{at}.{unknown[0]}: unknown condition; expected one of {', '.join(_KEYS)}"
            raise ConfigError(msg)
        policy = table.get("policy")
        if not isinstance(policy, str) or policy not in policies:
            msg = f"{at}.policy: expected one of {', '.join(sorted(policies))}, got {policy!r}"
            raise ConfigError(msg)
        kind_value = table.get("kind")
        kind: DebtorKind | None = None
        if kind_value is not None:
            try:
                kind = DebtorKind(kind_value)
            except ValueError:
                msg = f"{at}.kind: expected business or consumer, got {kind_value!r}"
                raise ConfigError(msg) from None
        name = table.get("name", "")
        if not isinstance(name, str):
            msg = f"{at}.name: expected a string, got {name!r}"
            raise ConfigError(msg)
        admins = table.get("administrations")
        if admins is not None and (
            not isinstance(admins, list) or not all(isinstance(a, str | int) for a in admins)
        ):
            msg = f"{at}.administrations: expected a list of ids or names, got {admins!r}"
            raise ConfigError(msg)
        rule = SegmentRule(
            policy=policy,
            name=name or f"segments[{index}]",
            kind=kind,
            tags_any=_tags(table.get("tags_any"), f"{at}.tags_any"),
            tags_all=_tags(table.get("tags_all"), f"{at}.tags_all"),
            tags_none=_tags(table.get("tags_none"), f"{at}.tags_none"),
            outstanding_min=_number(
                table.get("outstanding_min"), f"{at}.outstanding_min", '"1000.00"'
            ),
            outstanding_max=_number(
                table.get("outstanding_max"), f"{at}.outstanding_max", '"1000.00"'
            ),
            avg_days_late_min=_number(
                table.get("avg_days_late_min"), f"{at}.avg_days_late_min", "10"
            ),
            avg_days_late_max=_number(
                table.get("avg_days_late_max"), f"{at}.avg_days_late_max", "10"
            ),
            administrations=frozenset(str(a) for a in admins or ()),
        )
        rules.append(rule)
    return tuple(rules)


# --- overrides -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Override:
    """A stored override: for a debtor (item_id None) or one item."""

    id: int
    administration_id: int
    debtor_code: str
    item_id: int | None
    kind: OverrideKind
    until: date | None = None  # pause: dunning resumes on this day
    policy: str = ""
    reason: str = ""

    def blocks_on(self, today: date) -> bool:
        """A pause before its end day, or an exclusion, stops dunning on `today`."""
        if self.kind is OverrideKind.EXCLUDE:
            return True
        if self.kind is OverrideKind.PAUSE:
            return self.until is None or today < self.until
        return False

    def describe(self) -> str:
        if self.kind is OverrideKind.EXCLUDE:
            return f"excluded ({self.reason})" if self.reason else "excluded"
        if self.kind is OverrideKind.PAUSE:
            until = f" until {self.until}" if self.until else ""
            return f"paused{until}" + (f" ({self.reason})" if self.reason else "")
        return f"policy {self.policy}"


@dataclass(frozen=True, slots=True)
class Overrides:
    """Active overrides indexed for the plan: blocking and policy ones, per debtor and item."""

    debtor_block: Mapping[tuple[int, str], Override]
    item_block: Mapping[int, Override]
    debtor_policy: Mapping[tuple[int, str], str]
    item_policy: Mapping[int, str]

    @classmethod
    def index(cls, overrides: Iterable[Override], today_of: Mapping[int, date]) -> Overrides:
        debtor_block: dict[tuple[int, str], Override] = {}
        item_block: dict[int, Override] = {}
        debtor_policy: dict[tuple[int, str], str] = {}
        item_policy: dict[int, str] = {}
        for override in overrides:
            today = today_of.get(override.administration_id)
            if today is None:
                continue
            if override.kind is OverrideKind.POLICY:
                if override.item_id is None:
                    debtor_policy[(override.administration_id, override.debtor_code)] = (
                        override.policy
                    )
                else:
                    item_policy[override.item_id] = override.policy
            elif override.blocks_on(today):
                if override.item_id is None:
                    debtor_block[(override.administration_id, override.debtor_code)] = override
                else:
                    item_block[override.item_id] = override
        return cls(debtor_block, item_block, debtor_policy, item_policy)
