from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest

from connector.dunning.law import DayCount
from connector.dunning.model import ChannelKind
from connector.dunning.model import StepKind
from connector.dunning.policy import DEFAULT_POLICY
from connector.dunning.policy import ConsumerInterestFrom
from connector.dunning.policy import Costs
from connector.dunning.policy import Interest
from connector.dunning.policy import load_dunning_config
from connector.errors import ConfigError
from connector.settings import Settings

EXAMPLE = """
[dunning]
default_policy = "standard"
approval = true
arrangement_grace_days = 3

[[dunning.segments]]
name = "consumers"
policy = "consumer"
kind = "consumer"

[policies.standard]
min_days_between_letters = 5
day_count = "act/act"

[[policies.standard.steps]]
name = "herinnering"
kind = "reminder"
days_after_due = 7
channels = ["email"]
pay_within_days = 10                  # ends before the aanmaning (13.12)
template = "reminder_1"
minimum_amount = "10.00"

[[policies.standard.steps]]
name = "aanmaning"
kind = "final_notice"
days_after_previous = 14
channels = ["email", "letter"]
template = "final_notice"
consumer_template = "final_notice_consumer"
collection_costs = "bik"
interest = "statutory"
attach_invoices = true

[[policies.standard.steps]]
name = "bellen"
kind = "reminder"
days_after_previous = 3
channels = ["call"]

[[policies.standard.steps]]
name = "incasso"
kind = "collection"
after_previous_term = true
channels = ["collection"]
template = "collection_notice"
collection_costs = "bik"

[policies.consumer]
consumer_interest_from = "due_date"
[[policies.consumer.steps]]
name = "reminder"
days_after_due = 3
channels = ["letter"]

[administrations."studio-noord"]
approval = false
policy = "consumer"
templates_dir = "templates/studio"
[administrations."studio-noord".sender]
iban = "NL91ABNA0417164300"
creditor_deducts_vat = false
"""


def settings(text: str, path: str = "/etc/connector.toml") -> Settings:
    return Settings(config_path=Path(path), raw=MappingProxyType(tomllib.loads(text)))


def test_the_documented_example_parses_into_frozen_values():
    config = load_dunning_config(settings(EXAMPLE))
    assert set(config.policies) == {"default", "standard", "consumer"}
    assert config.default_policy == "standard"
    assert config.approval is True
    assert config.arrangement_grace_days == 3
    standard = config.policies["standard"]
    assert standard.min_days_between_letters == 5
    assert standard.day_count is DayCount.ACT_ACT
    assert [s.name for s in standard.steps] == ["herinnering", "aanmaning", "bellen", "incasso"]
    first, final, call, collection = standard.steps
    assert first.days_after_due == 7 and first.minimum_amount == Decimal("10.00")
    assert first.channels == (ChannelKind.EMAIL,)
    assert final.kind is StepKind.FINAL_NOTICE
    assert final.days_after_previous == 14
    assert final.collection_costs is Costs.BIK and final.interest is Interest.STATUTORY
    assert final.template_for(consumer=True) == "final_notice_consumer"
    assert final.template_for(consumer=False) == "final_notice"
    assert final.attach_invoices is True
    assert call.template == "bellen"  # defaults to the step's name
    assert not call.is_message and first.is_message and final.is_message
    assert collection.after_previous_term and collection.kind is StepKind.COLLECTION
    assert standard.hands_over
    consumer = config.policies["consumer"]
    assert consumer.consumer_interest_from is ConsumerInterestFrom.DUE_DATE
    with pytest.raises(AttributeError):
        first.name = "x"  # type: ignore[misc]
    [rule] = config.segments
    assert rule.policy == "consumer"


def test_per_administration_settings_by_id_ledger_id_or_name():
    config = load_dunning_config(settings(EXAMPLE))
    found = config.for_administration(7, "studio-noord", "Studio Noord")
    assert found.approval is False and found.policy == "consumer"
    assert config.approval_for(found) is False
    assert config.policy_for_administration(found) == "consumer"
    sender = config.sender_for(found, "Studio Noord", "NL")
    assert sender.name == "Studio Noord"
    assert sender.iban == "NL91ABNA0417164300"
    assert sender.creditor_deducts_vat is False
    other = config.for_administration(8, "elsewhere", "Elsewhere")
    assert config.approval_for(other) is True  # the [dunning] default
    assert config.policy_for_administration(other) == "standard"
    assert config.sender_for(other, "Elsewhere", "NL").creditor_deducts_vat is True


def test_no_config_gives_the_builtin_default_policy():
    config = load_dunning_config(Settings())
    assert list(config.policies) == ["default"]
    assert config.default_policy == "default"
    assert config.approval is False


def test_the_default_policy_follows_dutch_practice():
    steps = DEFAULT_POLICY.steps
    assert [(s.name, s.kind) for s in steps] == [
        ("reminder_1", StepKind.REMINDER),
        ("reminder_2", StepKind.REMINDER),
        ("final_notice", StepKind.FINAL_NOTICE),
        ("collection", StepKind.COLLECTION),
    ]
    assert [s.days_after_due for s in steps[:3]] == [2, 18, 34]
    assert steps[1].attach_invoices  # the second reminder carries a copy of the invoice
    assert steps[2].template_for(consumer=True) == "final_notice_consumer"
    # The hand-over is computed from the final notice's delivery, never a fixed due+50.
    assert steps[3].after_previous_term and steps[3].days_after_due is None
    assert [s.spacing for s in steps[:3]] == [0, 16, 16]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\nchannels = ["email"]\n',
            "policies.p.steps[0]: expected exactly one of days_after_due",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_previous = 3\n'
            'channels = ["email"]\n',
            "the first step has no previous step",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 3\n'
            'channels = ["fax"]\n',
            "policies.p.steps[0].channels: expected channels from email / letter",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = "3"\n'
            'channels = ["email"]\n',
            "policies.p.steps[0].days_after_due: expected a whole number >= 0, got '3'",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 3\n'
            'channels = ["email"]\ncollection_costs = "15%"\n',
            "collection_costs: expected one of none / bik, got '15%'",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 3\n'
            'channels = ["email"]\nminimum_amount = 5.5\n',
            "minimum_amount: expected an amount written as a string",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 3\n'
            'channels = ["email"]\nwhen = "soon"\n',
            "policies.p.steps[0].when: unknown key",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 10\n'
            'channels = ["email"]\n[[policies.p.steps]]\nname = "b"\ndays_after_due = 10\n'
            'channels = ["email"]\n',
            "policies.p.steps[1].days_after_due: expected more than the previous step's day",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 1\n'
            'channels = ["email"]\n[[policies.p.steps]]\nname = "a"\ndays_after_due = 9\n'
            'channels = ["email"]\n',
            "'a' is used twice",
        ),
        (
            '[policies.p]\n[[policies.p.steps]]\nname = "arrangement_broken"\n'
            'days_after_due = 1\nchannels = ["email"]\n',
            "reserved",
        ),
        ("[policies.p]\nsteps = []\n", "policies.p.steps: expected one or more"),
        ('[dunning]\ndefault_policy = "nope"\n', "dunning.default_policy: no policy 'nope'"),
        ("[dunning]\napproval = 1\n", "dunning.approval: expected true or false, got 1"),
        ("[dunning]\napprove = true\n", "dunning.approve: unknown key"),
        ('[administrations.x]\npolicy = "nope"\n', "administrations.x.policy: no policy 'nope'"),
        (
            "[administrations.x.sender]\niban = 5\n",
            "administrations.x.sender.iban: expected a string, got 5",
        ),
        (
            '[administrations.x.sender]\nfax = "1"\n',
            "administrations.x.sender.fax: unknown key",
        ),
    ],
)
def test_errors_name_the_file_the_key_and_what_was_expected(snippet, message):
    with pytest.raises(ConfigError) as caught:
        load_dunning_config(settings(snippet, "/srv/connector.toml"))
    text = str(caught.value)
    assert text.startswith("/srv/connector.toml: "), text
    assert message in text


def test_a_user_policy_can_replace_the_builtin_default():
    text = (
        '[policies.default]\n[[policies.default.steps]]\nname = "only"\ndays_after_due = 9\n'
        'channels = ["call"]\n'
    )
    config = load_dunning_config(settings(text))
    assert [s.name for s in config.policies["default"].steps] == ["only"]
