"""The scheduler: APScheduler 3 with its jobs persisted in the connector's own database.

Jobs have stable ids and are registered with replace_existing, so restarting never doubles
them; coalescing turns a backlog of missed runs into one; max_instances=1 keeps a slow run
from overlapping the next. Only one scheduler may run against a store at a time: a second
one refuses to start (SchedulerLock).
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TextIO
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection
from sqlalchemy import text

from connector.errors import ConfigError
from connector.store import Store

JOBS_TABLE = "scheduler_jobs"
SYNC_JOB = "sync-all"
DUNNING_JOB = "dunning-run"
KEEPALIVE_JOB = "token-keepalive"
PAYMENTS_JOB = "payments"
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ADVISORY_KEY = 0x44554E4E  # "DUNN": one scheduler per PostgreSQL database


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    timezone: str = "Europe/Amsterdam"
    sync_interval_minutes: int = 60
    dunning_time: str = "09:00"  # local time on business days
    misfire_grace_seconds: int = 3600


def scheduler_settings(
    section: Mapping[str, Any], *, timezone: str, where: str
) -> SchedulerSettings:
    """`[scheduler]` from the config, checked."""
    known = {"sync_interval_minutes", "dunning_time", "misfire_grace_seconds", "timezone"}
    for key in section:
        if key not in known:
            msg = f"{where}: scheduler.{key}: unknown setting; known: {', '.join(sorted(known))}"
            raise ConfigError(msg)
    interval = section.get("sync_interval_minutes", 60)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        msg = (
            f"{where}: scheduler.sync_interval_minutes: expected whole minutes >= 1, "
            f"got {interval!r}"
        )
        raise ConfigError(msg)
    at = section.get("dunning_time", "09:00")
    if not isinstance(at, str) or not _TIME.match(at):
        msg = f"{where}: scheduler.dunning_time: expected a time like 09:00, got {at!r}"
        raise ConfigError(msg)
    grace = section.get("misfire_grace_seconds", 3600)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 1:
        msg = f"{where}: scheduler.misfire_grace_seconds: expected seconds >= 1, got {grace!r}"
        raise ConfigError(msg)
    zone = section.get("timezone", timezone)
    return SchedulerSettings(
        timezone=str(zone),
        sync_interval_minutes=interval,
        dunning_time=at,
        misfire_grace_seconds=grace,
    )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job by reference ("module:function"), so the job store can persist it."""

    id: str
    func: str
    trigger: IntervalTrigger | CronTrigger
    args: tuple[Any, ...] = ()
    run_at_start: bool = False  # e.g. sync once right away instead of after a full interval


def standard_jobs(
    settings: SchedulerSettings,
    *,
    sync: str,
    dunning: str | None,
    keepalive: str | None = None,
    payments: str | None = None,
    args: tuple[Any, ...] = (),
) -> list[JobSpec]:
    """Sync on an interval; the dunning run on business days at the set local time; payment
    events and ledger writes every minute; the token keep-alive twice a day."""
    hour, minute = (int(part) for part in settings.dunning_time.split(":"))
    jobs = [
        JobSpec(
            SYNC_JOB,
            sync,
            IntervalTrigger(minutes=settings.sync_interval_minutes, timezone=settings.timezone),
            args,
            run_at_start=True,
        )
    ]
    if dunning is not None:
        trigger = CronTrigger(
            day_of_week="mon-fri", hour=hour, minute=minute, timezone=settings.timezone
        )
        jobs.append(JobSpec(DUNNING_JOB, dunning, trigger, args))
    if payments is not None:
        jobs.append(
            JobSpec(
                PAYMENTS_JOB,
                payments,
                IntervalTrigger(minutes=1, timezone=settings.timezone),
                args,
                run_at_start=True,
            )
        )
    if keepalive is not None:
        jobs.append(
            JobSpec(
                KEEPALIVE_JOB,
                keepalive,
                IntervalTrigger(hours=12, timezone=settings.timezone),
                args,
            )
        )
    return jobs


class SchedulerLock:
    """Held while a scheduler runs; a second scheduler on the same store cannot take it.

    PostgreSQL: a session advisory lock on a connection kept open. SQLite: an exclusive
    flock on a file beside the database.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._file: TextIO | None = None

    def acquire(self) -> None:
        busy = f"another scheduler is already running against {self._store.describe()}"
        if self._store.dialect == "postgresql":
            conn = self._store.engine.connect()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}
            ).scalar()
            conn.commit()
            if not got:
                conn.close()
                raise ConfigError(busy)
            self._conn = conn
            return
        database = self._store.url.database
        if not database or database == ":memory:":
            return
        handle = Path(database + ".scheduler.lock").open("w")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigError(busy) from None
        self._file = handle

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
            self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def build_scheduler(
    store: Store,
    settings: SchedulerSettings,
    jobs: Sequence[JobSpec],
    *,
    blocking: bool,
    workers: int = 4,
) -> BaseScheduler:
    """A scheduler with its jobs in the store; call .start() (blocking or not)."""
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.misfire_grace_seconds,
        },
        timezone=settings.timezone,
    )
    now = datetime.now(ZoneInfo(settings.timezone))
    for job in jobs:
        extra: dict[str, Any] = {"next_run_time": now} if job.run_at_start else {}
        scheduler.add_job(
            job.func,
            job.trigger,
            args=list(job.args),
            id=job.id,
            name=job.id,
            replace_existing=True,
            jobstore="default",
            **extra,
        )
    return scheduler
