from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from connector.errors import ConfigError
from connector.scheduler import DUNNING_JOB
from connector.scheduler import JOBS_TABLE
from connector.scheduler import SYNC_JOB
from connector.scheduler import SchedulerLock
from connector.scheduler import SchedulerSettings
from connector.scheduler import build_scheduler
from connector.scheduler import scheduler_settings
from connector.scheduler import standard_jobs
from connector.store import Store

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"sync_interval_minutes": 0}, "scheduler.sync_interval_minutes: expected whole minutes"),
        ({"dunning_time": "9am"}, "scheduler.dunning_time: expected a time like 09:00"),
        ({"dunning_time": "24:00"}, "scheduler.dunning_time"),
        ({"misfire_grace_seconds": True}, "scheduler.misfire_grace_seconds"),
        ({"every": 5}, "scheduler.every: unknown setting"),
    ],
)
def test_bad_scheduler_settings(section, message):
    with pytest.raises(ConfigError, match=message):
        scheduler_settings(section, timezone="Europe/Amsterdam", where="c.toml")


def test_dunning_runs_on_business_days_at_local_time_across_dst():
    settings = SchedulerSettings(dunning_time="09:00")
    jobs = {j.id: j for j in standard_jobs(settings, sync="m:s", dunning="m:d")}
    trigger = jobs[DUNNING_JOB].trigger
    # Friday 27 March 2026 after the run; clocks go forward on Sunday 29 March.
    after = datetime(2026, 3, 27, 10, 0, tzinfo=AMS)
    nxt = trigger.get_next_fire_time(None, after)
    assert nxt == datetime(2026, 3, 30, 9, 0, tzinfo=AMS)
    assert nxt.utcoffset().total_seconds() == 7200  # CEST: 07:00 UTC, not 08:00
    fires = [nxt]
    for _ in range(5):
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1]))
    assert all(f.weekday() < 5 and (f.hour, f.minute) == (9, 0) for f in fires)


def test_jobs_are_persisted_with_stable_ids_and_never_doubled(store: Store):
    settings = SchedulerSettings(sync_interval_minutes=15)
    jobs = standard_jobs(settings, sync="time:sleep", dunning="time:sleep", args=(0,))
    for _ in range(2):  # a restart registers the same jobs again
        scheduler = build_scheduler(store, settings, jobs, blocking=False)
        scheduler.start(paused=True)
        stored = {job.id: job for job in scheduler.get_jobs()}
        assert set(stored) == {SYNC_JOB, DUNNING_JOB}
        assert all(j.coalesce and j.max_instances == 1 for j in stored.values())
        assert stored[SYNC_JOB].misfire_grace_time == settings.misfire_grace_seconds
        scheduler.shutdown(wait=False)
    with store.begin() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM {JOBS_TABLE}")).scalar_one()
    assert count == 2


def test_only_one_scheduler_per_store(store: Store):
    other_process = Store(store.url.render_as_string(hide_password=False))
    first, second = SchedulerLock(store), SchedulerLock(other_process)
    first.acquire()
    try:
        with pytest.raises(ConfigError, match="another scheduler is already running"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again once the first stopped
    second.release()
    other_process.dispose()


def test_scheduler_runs_the_sync_job(store_url, tmp_path, monkeypatch):
    """The sync job, started by a real scheduler, syncs a connected folder."""
    from connector.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store_url)
    folder = tmp_path / "exports" / "acme"
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(
        "invoice_number,debtor_code,due_date,open_amount\nF1,D1,2026-03-01,9\n"
    )
    main(["connect", "files", "--path", str(folder)])
    store = Store(store_url)
    settings = SchedulerSettings(sync_interval_minutes=60)
    jobs = standard_jobs(settings, sync="connector.cli.jobs:sync_job", dunning=None, args=(None,))
    scheduler = build_scheduler(store, settings, jobs, blocking=False)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with store.begin() as conn:
                synced = conn.execute(text("SELECT count(*) FROM open_items")).scalar_one()
            if synced:
                break
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
        store.dispose()
    assert synced == 1
