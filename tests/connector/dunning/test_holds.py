"""Issue 12.1, 12.2, 12.3, 12.5 against a real store: held letters are stored as `blocked`
with their reason and never sent; review mode writes files and sends nothing; the rate table
takes extra rows from `[dunning] interest_rates_file`."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import MappingProxyType

import pytest

from connector.dunning import law
from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.policy import AdministrationSettings
from connector.dunning.policy import DunningConfig
from connector.dunning.policy import Mode
from connector.dunning.policy import RateUnknown
from connector.dunning.policy import default_config
from connector.dunning.policy import load_dunning_config
from connector.dunning.tables import ActionStatus
from connector.errors import ConfigError
from tests.connector.dunning.test_policy import settings
from tests.fakes.dunning import World
from tests.fakes.dunning import ledger_item


def render_parts(eml: bytes) -> tuple[str, str]:
    """The plain-text and the HTML part of a message, decoded."""
    message = email.message_from_bytes(eml)
    parts: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html") and not part.get_filename():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts.setdefault(
                part.get_content_type(), payload.decode(part.get_content_charset() or "utf-8")
            )
    return parts["text/plain"], parts["text/html"]


def _with(config: DunningConfig, **admin: object) -> DunningConfig:
    own = dict(config.administrations)
    own["Acme"] = replace(own.get("Acme", AdministrationSettings()), **admin)
    return replace(config, administrations=MappingProxyType(own))


def history(world: World) -> list[dstore.ActionRecord]:
    with world.store.begin() as conn:
        return dstore.list_actions(conn)


def test_a_letter_without_iban_is_blocked_with_the_reason_and_never_sent(world: World):
    world.config = _with(default_config(), sender=MappingProxyType({"iban": ""}))
    world.set_items([ledger_item(1)])
    world.sync()
    outcome = world.run("2025-01-20")
    assert outcome.sent == [] and world.sent_keys() == []
    assert [(o.key, o.detail) for o in outcome.blocked] == [
        ("1/D1/reminder_1/1", "sender has no IBAN")
    ]
    [action] = history(world)
    assert (action.status, action.status_reason) == ("blocked", "sender has no IBAN")
    # Run again: still one blocked letter under the same key, never a second one.
    world.run("2025-01-21")
    assert [(a.key, a.status) for a in history(world)] == [("1/D1/reminder_1/1", "blocked")]
    # Once the IBAN is there, the same letter goes out.
    world.config = default_config()
    sent = world.run("2025-01-22")
    assert [o.key for o in sent.sent] == ["1/D1/reminder_1/1"]
    assert [(a.key, a.status) for a in history(world)] == [("1/D1/reminder_1/1", "sent")]


def test_a_debtor_whose_address_went_since_the_plan_is_held_at_sending(world: World):
    """The check is made again when the letter is sent (an approved letter waits days)."""
    world.config = _with(default_config(), approval=True)
    world.set_items([ledger_item(1, debtor="D2")])
    world.sync()
    world.run("2025-01-20")
    with world.store.begin() as conn:
        dstore.approve(conn, world.dunning().clock(), administration_ids=[world.admin_id])
    world.ledger.debtors_by_admin["A"] = [
        replace(d, email="") if d.code == "D2" else d for d in world.ledger.debtors_by_admin["A"]
    ]
    world.sync()
    outcome = world.run("2025-01-21")
    assert world.sent_keys() == []
    assert [o.detail for o in outcome.blocked] == ["debtor has no e-mail address (email)"]


def test_review_mode_writes_the_letters_and_sends_nothing(world: World, tmp_path: Path):
    """Issue 12.5: nothing leaves; every letter is in the review folder; history: review."""
    world.config = _with(
        replace(default_config(), review_folder=str(tmp_path / "review")), mode=Mode.REVIEW
    )
    from connector.dunning.render import TemplateRenderer

    world.renderer = TemplateRenderer()  # type: ignore[assignment]
    world.set_items([ledger_item(1), ledger_item(2, debtor="D2")])
    world.sync()
    outcome = world.run("2025-01-20")
    assert world.sent_keys() == [] and outcome.sent == []
    assert len(outcome.reviewed) == 2
    actions = history(world)
    assert {a.status for a in actions} == {ActionStatus.REVIEW.value}
    files = sorted(p.name for p in (tmp_path / "review").rglob("*") if p.is_file())
    assert len([f for f in files if f.endswith(".eml")]) == 2
    assert len([f for f in files if f.endswith(".pdf")]) == 2
    eml = next((tmp_path / "review").rglob("*.eml")).read_bytes()
    text, html = render_parts(eml)
    for part in (text, html):
        assert "NL91 ABNA 0417 1643 00" in part
    # In review the items do not move on: the next run reviews the same letters again.
    again = world.run("2025-01-21")
    assert len(again.reviewed) == 2
    assert sorted(a.key for a in history(world)) == ["1/D1/reminder_1/1", "1/D2/reminder_1/1"]


def test_modes_and_approval():
    base = default_config()
    plain = AdministrationSettings()
    assert base.mode_for(plain) is Mode.LIVE  # absent: as before
    assert replace(base, approval=True).mode_for(plain) is Mode.APPROVAL
    assert replace(base, mode=Mode.REVIEW).mode_for(plain) is Mode.REVIEW
    assert base.mode_for(AdministrationSettings(approval=True)) is Mode.APPROVAL
    assert replace(base, mode=Mode.REVIEW).mode_for(AdministrationSettings(approval=False)) is (
        Mode.REVIEW
    )
    assert replace(base, mode=Mode.REVIEW).mode_for(AdministrationSettings(mode=Mode.LIVE)) is (
        Mode.LIVE
    )
    config = load_dunning_config(
        settings(
            '[dunning]\nmode = "review"\nreview_folder = "te-lezen"\n'
            '[administrations.acme]\nmode = "approval"\n'
        )
    )
    assert config.mode is Mode.REVIEW and config.review_folder == "te-lezen"
    assert config.administrations["acme"].mode is Mode.APPROVAL
    with pytest.raises(ConfigError, match="dunning.mode: expected one of live / approval / review"):
        load_dunning_config(settings('[dunning]\nmode = "dry"\n'))


# --- 12.3: statutory interest ------------------------------------------------------------------


def test_every_shipped_rate_row_names_its_source():
    for period in law.shipped_rate_table().periods:
        assert period.source.strip(), period


def test_an_interest_rates_file_adds_rows(tmp_path: Path):
    shipped = law.shipped_rate_table()
    first = date.fromordinal(shipped.known_through.toordinal() + 1)
    extra = tmp_path / "rates.toml"
    extra.write_text(
        f"format = 1\nknown_through = {first.year}-12-31\n[[rates]]\neffective_from = {first}\n"
        'consumer = "3"\ncommercial = "9.5"\nsource = "test"\n',
        encoding="utf-8",
    )
    config = load_dunning_config(settings(f'[dunning]\ninterest_rates_file = "{extra}"\n'))
    table = config.rate_table()
    assert table.known_through == date(first.year, 12, 31)
    assert table.rate_on(first, law.InterestKind.COMMERCIAL) == law.Decimal("9.5")
    assert len(table.periods) == len(shipped.periods) + 1
    broken = tmp_path / "broken.toml"
    broken.write_text("format = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="dunning.interest_rates_file: the interest rate table"):
        load_dunning_config(settings(f'[dunning]\ninterest_rates_file = "{broken}"\n'))


def test_a_final_notice_past_the_rate_table_is_blocked_unless_the_policy_omits(world: World):
    """Pain (issue 12.3): interest silently 0 on every final notice past the table."""
    table = law.RateTable(
        periods=(law.RatePeriod(date(2024, 1, 1), law.Decimal(7), law.Decimal("12.5")),),
        known_through=date(2024, 12, 31),
    )
    world.set_items([ledger_item(1, due="2024-12-01")])
    world.sync()
    outcome = world.dunning(rates=table).run(world.admins(), on_date=date(2025, 1, 20))
    [run] = outcome.administrations
    assert [o.detail for o in run.blocked] == ["interest rate table ends 2024-12-31"]
    assert run.plan is not None and run.plan.rates_end == date(2024, 12, 31)
    assert world.sent_keys() == []
    omit = replace(
        default_config().policies["default"], interest_when_rate_unknown=RateUnknown.OMIT
    )
    world.config = replace(default_config(), policies=MappingProxyType({"default": omit}))
    [run] = (
        world.dunning(rates=table).run(world.admins(), on_date=date(2025, 1, 20)).administrations
    )
    assert [o.key for o in run.sent] == ["1/D1/final_notice/1"]
    [letter] = [x for x in world.channels[ChannelKind.EMAIL].sent]
    assert letter.interest == 0


def test_policy_keys_parse():
    config = load_dunning_config(
        settings(
            """
[policies.p]
interest_when_rate_unknown = "omit"
backlog_start_step = "tweede"
[[policies.p.steps]]
name = "eerste"
days_after_due = 3
channels = ["email"]
fallback = "letter"
[[policies.p.steps]]
name = "tweede"
days_after_due = 20
channels = ["letter"]
"""
        )
    )
    policy = config.policies["p"]
    assert policy.interest_when_rate_unknown is RateUnknown.OMIT
    assert policy.backlog_index == 1
    assert policy.steps[0].fallback is ChannelKind.LETTER
    with pytest.raises(ConfigError, match="backlog_start_step: no step 'derde'"):
        load_dunning_config(
            settings(
                '[policies.p]\nbacklog_start_step = "derde"\n[[policies.p.steps]]\n'
                'name = "eerste"\ndays_after_due = 3\nchannels = ["email"]\n'
            )
        )
