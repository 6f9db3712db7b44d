"""Point 12.8: long-running commands check config, store and channels at start and stop with
one line; a job's error is one log line; routine messages are INFO, not WARNING."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

import pytest

from connector.cli.jobs import log_summaries
from connector.cli.jobs import sync_job
from connector.sync import SyncSummary
from tests.fakes.cli import cli_runner

LETTER_POLICY = (
    '[dunning]\ndefault_policy = "p"\n[[policies.p.steps]]\nname = "reminder_1"\n'
    'days_after_due = 2\nchannels = ["letter"]\n'
)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "connector.toml"))
    (tmp_path / "connector.toml").write_text("", encoding="utf-8")
    return cli_runner(capsys)


@pytest.mark.parametrize("command", [("scheduler",), ("run", "--bind", "127.0.0.1:0")])
def test_a_missing_channel_stops_the_start_with_one_line(cli, tmp_path, command):
    (tmp_path / "connector.toml").write_text(LETTER_POLICY, encoding="utf-8")
    # Without the start check the command would run until a signal: send one after a while,
    # so that such a start fails this test instead of hanging it.
    stop = threading.Timer(15, os.kill, (os.getpid(), signal.SIGTERM))
    stop.start()
    try:
        result = cli(*command)
    finally:
        stop.cancel()
    assert result.code == 2
    what = "the scheduler" if command[0] == "scheduler" else "connector run"
    assert result.err.strip().splitlines() == [
        f"connector: error: cannot start {what}: {tmp_path / 'connector.toml'}: policies.p "
        "sends by letter (steps reminder_1), but [channels.letter] is not configured"
    ]


@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_port_in_use_is_one_line(cli, command):
    assert cli("init").code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(command, "--bind", f"127.0.0.1:{port}")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"connector: error: cannot listen on 127.0.0.1:{port}: ")
    assert "--bind another one" in lines[0]


def test_a_job_error_is_one_log_line_without_traceback(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.db'}")
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        sync_job(None)  # the store is not set up: a ConnectorError inside the job
    (record,) = [r for r in caplog.records if r.name == "connector.jobs"]
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert record.getMessage().startswith("sync: the store sqlite:///")
    assert "run: connector init" in record.getMessage()


def test_routine_sync_summaries_are_info(caplog):
    with caplog.at_level(logging.DEBUG, logger="connector.jobs"):
        log_summaries([SyncSummary(administration_id=1, administration="acme", fetched=3)])
        log_summaries([SyncSummary(administration_id=1, administration="acme", error="boom")])
    assert [(r.levelno, r.getMessage()[:15]) for r in caplog.records] == [
        (logging.INFO, "synced acme: 3 "),
        (logging.ERROR, "sync of acme fa"),
    ]


def test_without_dunning_configured_a_persisted_dunning_job_is_removed(cli, tmp_path, caplog):
    from connector.cli.context import Context
    from connector.cli.jobs import start_scheduler
    from connector.cli.jobs import stop_scheduler
    from connector.scheduler import DUNNING_JOB
    from connector.scheduler import SchedulerSettings
    from connector.scheduler import build_scheduler
    from connector.scheduler import standard_jobs
    from connector.store import Store

    assert cli("init").code == 0
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    earlier = build_scheduler(
        store,
        SchedulerSettings(),
        standard_jobs(
            SchedulerSettings(),
            sync="connector.cli.jobs:sync_job",
            dunning="connector.cli.dunning:dunning_job",
            args=(None,),
        ),
        blocking=False,
    )
    earlier.start(paused=True)
    assert earlier.get_job(DUNNING_JOB) is not None
    earlier.shutdown(wait=True)
    ctx = Context(config_path=None, debug=False)
    with caplog.at_level(logging.INFO, logger="connector.jobs"):
        scheduler, lock = start_scheduler(ctx)
    try:
        assert scheduler.get_job(DUNNING_JOB) is None
        assert "no [dunning], [policies] or [channels] in the config" in caplog.text
        assert "scheduler started: sync every 60 min, no dunning" in caplog.text
    finally:
        stop_scheduler(scheduler, lock)
        ctx.close()
        store.dispose()
