from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connector.domain import DebtorKind
from connector.dunning.segments import DebtorFacts
from connector.dunning.segments import Override
from connector.dunning.segments import Overrides
from connector.dunning.segments import choose_policy
from connector.dunning.segments import parse_rules
from connector.dunning.tables import OverrideKind
from connector.errors import ConfigError

POLICIES = {"default": object(), "consumer": object(), "big": object(), "late": object()}


def facts(
    *,
    kind: DebtorKind = DebtorKind.BUSINESS,
    tags: tuple[str, ...] = (),
    outstanding: str = "100",
    late: str | None = None,
    refs: tuple[str, ...] = ("1", "acme", "Acme"),
) -> DebtorFacts:
    return DebtorFacts(
        administration_refs=frozenset(refs),
        kind=kind,
        tags=frozenset(tags),
        outstanding=Decimal(outstanding),
        avg_days_late=None if late is None else Decimal(late),
    )


RULES = parse_rules(
    [
        {"name": "vip", "policy": "default", "tags_any": ["vip"]},
        {"name": "consumers", "policy": "consumer", "kind": "consumer"},
        {"name": "big", "policy": "big", "outstanding_min": "10000"},
        {"name": "late payers", "policy": "late", "avg_days_late_min": 20},
        {
            "name": "studio small",
            "policy": "consumer",
            "administrations": ["studio"],
            "outstanding_max": "50",
            "tags_none": ["government"],
        },
    ],
    "connector.toml: dunning.segments",
    POLICIES,
)


@pytest.mark.parametrize(
    ("debtor", "expected"),
    [
        (facts(), "fallback"),
        (facts(tags=("vip",), kind=DebtorKind.CONSUMER), "default"),  # the first match wins
        (facts(kind=DebtorKind.CONSUMER), "consumer"),
        (facts(outstanding="10000"), "big"),  # min is inclusive
        (facts(outstanding="9999.99"), "fallback"),
        (facts(late="20"), "late"),
        (facts(late="19.9"), "fallback"),
        (facts(late=None), "fallback"),  # no payment history: no behaviour to judge
        (facts(refs=("2", "studio", "Studio"), outstanding="49.99"), "consumer"),
        (facts(refs=("2", "studio", "Studio"), outstanding="50"), "fallback"),  # max exclusive
        (
            facts(refs=("2", "studio", "Studio"), outstanding="10", tags=("government",)),
            "fallback",
        ),
    ],
)
def test_the_first_matching_rule_chooses_the_policy(debtor, expected):
    assert choose_policy(RULES, debtor, "fallback") == expected


def test_tags_all_needs_every_tag():
    rules = parse_rules([{"policy": "big", "tags_all": ["a", "b"]}], "x", POLICIES)
    assert choose_policy(rules, facts(tags=("a",)), "f") == "f"
    assert choose_policy(rules, facts(tags=("a", "b", "c")), "f") == "big"


def test_rules_are_data_and_never_evaluated():
    # A condition that looks like code is just an unknown key, refused.
    with pytest.raises(ConfigError, match=r"s\[0\]\.when: unknown condition"):
        parse_rules([{"policy": "big", "when": "__import__('os').system('x')"}], "s", POLICIES)
    # A value that looks like code is compared as text, or refused where a number is due.
    with pytest.raises(ConfigError, match=r"outstanding_min: expected a number"):
        parse_rules([{"policy": "big", "outstanding_min": "1+1"}], "s", POLICIES)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"policy": "nope"}, "s[0].policy: expected one of big, consumer, default, late"),
        ({"policy": "big", "kind": "person"}, "s[0].kind: expected business or consumer"),
        ({"policy": "big", "tags_any": "vip"}, "s[0].tags_any: expected a list of tags"),
        ({"policy": "big", "avg_days_late_max": True}, "s[0].avg_days_late_max: expected a num"),
        ({"policy": "big", "administrations": "x"}, "s[0].administrations: expected a list"),
    ],
)
def test_rule_errors_name_the_key(entry, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rules([entry], "s", POLICIES)


def test_overrides_index_pauses_exclusions_and_policies():
    today = date(2025, 3, 1)
    found = Overrides.index(
        [
            Override(1, 1, "D1", None, OverrideKind.PAUSE, until=date(2025, 3, 2), reason="klacht"),
            Override(2, 1, "D2", None, OverrideKind.PAUSE, until=date(2025, 3, 1)),  # resumes today
            Override(3, 1, "D3", 30, OverrideKind.EXCLUDE, reason="curatele"),
            Override(4, 1, "D4", None, OverrideKind.POLICY, policy="big"),
            Override(5, 1, "D4", 40, OverrideKind.POLICY, policy="late"),
            Override(6, 2, "D9", None, OverrideKind.EXCLUDE),  # administration not planned
        ],
        {1: today},
    )
    assert set(found.debtor_block) == {(1, "D1")}
    assert found.debtor_block[(1, "D1")].describe() == "paused until 2025-03-02 (klacht)"
    assert set(found.item_block) == {30}
    assert found.item_block[30].describe() == "excluded (curatele)"
    assert found.debtor_policy == {(1, "D4"): "big"}
    assert found.item_policy == {40: "late"}
