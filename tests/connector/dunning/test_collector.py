"""Issue 13.14: collecting for clients under the Wki."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime

import pytest

from connector.dunning.collector import Collector
from connector.dunning.collector import outside_contact_window
from connector.dunning.collector import wki_problems
from connector.dunning.policy import load_dunning_config
from connector.dunning.render import TemplateRenderer
from connector.errors import ConfigError
from connector.settings import load_settings
from tests.fakes.dunning import World
from tests.fakes.dunning import ledger_item
from tests.fakes.letters import consumer_letter

AMS = __import__("zoneinfo").ZoneInfo("Europe/Amsterdam")


def _config(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_dunning_config(load_settings({}, config_path=path))


def test_the_collector_is_on_every_letter_with_its_wki_number(tmp_path) -> None:
    config = _config(
        tmp_path, '[dunning.collector]\nname = "Kantoor De Boer B.V."\nwki_number = "12345"\n'
    )
    sender = config.sender_for(config.for_administration(1, "A", "Acme"), "Acme", "NL")
    assert (sender.collector_name, sender.collector_wki_number) == ("Kantoor De Boer B.V.", "12345")
    letter = replace(
        consumer_letter(),
        sender=replace(
            consumer_letter().sender,
            **{"collector_name": "Kantoor De Boer B.V.", "collector_wki_number": "12345"},
        ),
    )
    out = TemplateRenderer().render(letter, with_pdf=False)
    for body in (out.text, out.html):
        assert "verzonden door Kantoor De Boer B.V." in " ".join(body.split())
        assert "onder nummer 12345" in body
    assert wki_problems(config) == []


def test_check_warns_without_a_registration_number(tmp_path) -> None:
    config = _config(tmp_path, '[dunning.collector]\nname = "Kantoor De Boer B.V."\n')
    [problem] = wki_problems(config)
    assert "without a Wki registration number" in problem
    assert wki_problems(_config(tmp_path, "")) == []


def test_unknown_collector_keys_are_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="dunning.collector.wki: unknown key"):
        _config(tmp_path, '[dunning.collector]\nname = "X"\nwki = "1"\n')


@pytest.mark.parametrize(
    ("local", "why"),
    [
        (datetime(2026, 3, 4, 6, 59, tzinfo=AMS), "it is 06:59, outside 07:00-20:00"),
        (datetime(2026, 3, 4, 20, 0, tzinfo=AMS), "it is 20:00, outside 07:00-20:00"),
        (datetime(2026, 3, 8, 12, 0, tzinfo=AMS), "it is Sunday"),
        (datetime(2026, 4, 27, 12, 0, tzinfo=AMS), "2026-04-27 is a public holiday"),
        (datetime(2026, 3, 4, 7, 0, tzinfo=AMS), ""),
        (datetime(2026, 3, 4, 19, 59, tzinfo=AMS), ""),
    ],
)
def test_the_contact_window(local: datetime, why: str) -> None:
    assert outside_contact_window(local) == why


def test_the_run_sends_nothing_at_night_when_collecting_for_clients(world: World) -> None:
    world.config = replace(world.config, collector=Collector("Kantoor De Boer B.V.", "12345"))
    world.set_items([ledger_item(1)])
    world.sync()
    night = datetime(2025, 1, 13, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam
    outcome = world.run("2025-01-13", clock=lambda: night)
    assert outcome.sent == []
    assert (
        "collecting for clients: no letters now (it is 22:30, outside 07:00-20:00" in outcome.error
    )
    day = datetime(2025, 1, 13, 9, 0, tzinfo=UTC)
    assert [o.key for o in world.run("2025-01-13", clock=lambda: day).sent] == ["1/D1/reminder_1/1"]
