"""Issue 13.13: e-mail and letter served by one channel (the demo's outbox) must not crash."""

from __future__ import annotations

from connector.dunning import store as dstore
from connector.dunning.model import ChannelKind
from connector.dunning.tables import ActionStatus
from tests.fakes.dunning import FakeChannel
from tests.fakes.dunning import World
from tests.fakes.dunning import ledger_item


def test_one_channel_for_email_and_letter_sends_the_final_notice_once(world: World):
    shared = FakeChannel(ChannelKind.OUTBOX)
    channels = dict(world.channels)
    channels[ChannelKind.EMAIL] = shared
    channels[ChannelKind.LETTER] = shared
    world.channels = channels
    world.set_items([ledger_item(1)])
    world.sync()
    for day in ("2025-01-12", "2025-01-28", "2025-02-13"):
        outcome = world.run(day)
        assert not outcome.error, outcome.error
        assert not outcome.retry and not outcome.uncertain, (outcome.retry, outcome.uncertain)
    assert [letter.step_name for letter in shared.sent] == [
        "reminder_1",
        "reminder_2",
        "final_notice",  # once, though the step has two channels that are one channel here
    ]
    with world.store.begin() as conn:
        final = next(a for a in dstore.list_actions(conn) if a.step_name == "final_notice")
        assert final.status == ActionStatus.SENT.value
        done = dstore.deliveries(conn, final.id)
    assert set(done) == {ChannelKind.EMAIL, ChannelKind.LETTER}


def test_cli_demo_runs_forward(store_url, tmp_path, monkeypatch, capsys):
    from tests.fakes.cli import cli_runner

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    cli = cli_runner(capsys)
    result = cli("demo", "--days", "3")
    assert result.code == 0, result.err
    assert "Running the dunning forward 3 days" in result.out
    assert "Letters per kind (template)" in result.out
    assert "reminder_1" in result.out.split("Letters per kind")[1]
