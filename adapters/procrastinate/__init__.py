"""The work-queue port on Procrastinate (PostgreSQL): workers on any number of machines.

Mapping of the port onto Procrastinate (its documented task options):

- stable task name -> `@app.task(name=...)`: jobs are stored by that name, never a path;
- exclusive key -> `lock`: no two jobs with the same lock run at once (its unique index
  on `lock` where status = 'doing'); a job whose lock is held waits, others go past it;
- pending key -> `queueing_lock`: at most one 'todo' job per lock (unique index); a second
  defer raises `AlreadyEnqueued`, and `enqueue` returns the waiting job instead;
- retries -> a `BaseRetryStrategy` that asks the task's own `RetryPolicy` (attempts,
  exponential backoff, which errors are transient). A retry is skipped when another job
  with the same pending key already waits (it does the same idempotent work, and the retry
  would break the queueing lock's "at most one waiting").

Procrastinate keeps no error text and no result, so a small table of our own beside its
tables, `connector_task_outcomes` (job id, error, result), holds them for `connector jobs`
and for `connector sync`'s summaries. A worker killed mid-job leaves its job 'doing';
Procrastinate's stalled-worker pruning (heartbeats) lets `retry_stalled_jobs` put it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from procrastinate import App
from procrastinate import BaseRetryStrategy
from procrastinate import JobContext
from procrastinate import PsycopgConnector
from procrastinate import RetryDecision
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job as PJob
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.errors import NotFound
from connector.tasks.port import JSON
from connector.tasks.port import Job
from connector.tasks.port import JobState
from connector.tasks.port import RetryPolicy
from connector.tasks.port import TaskDef
from connector.tasks.port import TaskError
from connector.tasks.port import TaskRegistry

logger = logging.getLogger(__name__)

OUTCOMES = "connector_task_outcomes"
RECOVER_TASK = "connector.recover_stalled"
STALLED_SECONDS = 60.0  # a worker beats every 10 s; six missed beats and it is dead
_STATES = {
    "todo": JobState.QUEUED,
    "doing": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.FAILED,
    "aborting": JobState.RUNNING,
    "aborted": JobState.FAILED,
}
_TO_STATUS: dict[JobState, tuple[str, ...]] = {
    JobState.QUEUED: ("todo",),
    JobState.RUNNING: ("doing", "aborting"),
    JobState.SUCCEEDED: ("succeeded",),
    JobState.FAILED: ("failed", "cancelled", "aborted"),
}


def conninfo(database_url: str) -> str:
    """The store's SQLAlchemy URL as a libpq connection string for psycopg's pool."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        msg = (
            '[tasks] engine = "procrastinate" needs the store on PostgreSQL '
            f'(database_url is {url.get_backend_name()}); use engine = "in-process"'
        )
        raise ConfigError(msg)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class _Retry(BaseRetryStrategy):
    def __init__(self, policy: RetryPolicy, engine: Engine) -> None:
        self.policy = policy
        self.engine = engine

    def get_retry_decision(self, *, exception: BaseException, job: PJob) -> RetryDecision | None:
        attempt = job.attempts + 1  # Procrastinate counts earlier attempts; we count runs
        if not self.policy.retries(exception, attempt):
            return None
        if job.queueing_lock is not None:
            with self.engine.connect() as conn:
                waiting = conn.execute(
                    text(
                        "SELECT id FROM procrastinate_jobs WHERE queueing_lock = :k "
                        "AND status = 'todo' AND id <> :id LIMIT 1"
                    ),
                    {"k": job.queueing_lock, "id": job.id},
                ).scalar()
            if waiting is not None:
                return None
        wait = timedelta(seconds=self.policy.delay(attempt))
        return RetryDecision(retry_at=datetime.now(UTC) + wait)


def _threads_for(concurrency: int) -> None:
    """Our task bodies are synchronous: Procrastinate runs them on the event loop's default
    executor, whose size is min(32, cores + 4), 6 on two cores, whatever `concurrency`
    says. Give the loop as many threads as jobs may run at once."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="connector-job")
    )


class ProcrastinateQueue:
    """`TaskQueue` on Procrastinate; `services` (or `services_factory`, called once in a
    worker) is what the task bodies get."""

    def __init__(
        self,
        registry: TaskRegistry,
        engine: Engine,
        *,
        services: Any = None,
        services_factory: Callable[[], Any] | None = None,
        poll_seconds: float = 0.2,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self._services = services
        self._services_factory = services_factory
        self._services_lock = threading.Lock()
        self.poll_seconds = poll_seconds
        self._conninfo = conninfo(engine.url.render_as_string(hide_password=False))
        self.install()
        self.app = self._make_app()
        self.app.open()
        self._workers: list[tuple[threading.Thread, asyncio.AbstractEventLoop, Any]] = []

    # --- set-up ----------------------------------------------------------------------

    def install(self) -> None:
        """Procrastinate's schema and our outcomes table, once per database."""
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(4473)"))  # two workers at once
            present = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
            if present is None:
                from procrastinate.schema import SchemaManager

                conn.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS connector_task_outcomes ("
                    "job_id bigint PRIMARY KEY REFERENCES procrastinate_jobs(id) ON DELETE CASCADE,"
                    " error text NOT NULL DEFAULT '', result jsonb,"
                    " updated_at timestamptz NOT NULL DEFAULT now())"
                )
            )

    def _make_app(self) -> App:
        app = App(connector=PsycopgConnector(conninfo=self._conninfo))
        for task in self.registry:
            app.task(
                name=task.name,
                pass_context=True,
                retry=_Retry(task.retry, self.engine) if task.retry.attempts > 1 else False,
            )(self._wrapper(task))

        # Every minute, on whichever worker gets it: jobs of a worker that died (kill -9,
        # a lost machine) go back to the queue. Procrastinate detects the dead worker by its
        # missing heartbeat but leaves the retry to the application.
        async def recover_stalled(context: JobContext, timestamp: int) -> None:
            await self._recover(context.app, STALLED_SECONDS)

        task = app.task(name=RECOVER_TASK, queueing_lock=RECOVER_TASK, pass_context=True)(
            recover_stalled
        )
        app.periodic(cron="* * * * *")(task)
        return app

    async def _recover(self, app: App, seconds_since_heartbeat: float) -> int:
        stalled = list(
            await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
        )
        recovered = 0
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
                recovered += 1
                logger.warning(
                    "job %s (%s) of a dead worker is queued again", job.id, job.task_name
                )
            except Exception as exc:  # another job with its pending key already waits
                assert job.id is not None
                self._record(job.id, f"lost with its worker; not retried: {exc}", None)
                with self.engine.begin() as conn:
                    conn.execute(
                        text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :id"),
                        {"id": job.id},
                    )
        return recovered

    def recover_stalled(self, seconds_since_heartbeat: float = 30.0) -> int:
        """Queue again the running jobs of workers without a heartbeat for that long."""

        async def go() -> int:
            app = self._make_app()
            async with app.open_async():
                return await self._recover(app, seconds_since_heartbeat)

        return asyncio.run(go())

    def services(self) -> Any:
        with self._services_lock:
            if self._services is None:
                if self._services_factory is None:
                    msg = "this queue only enqueues; a worker needs services"
                    raise ConnectorError(msg)
                self._services = self._services_factory()
            return self._services

    def _record(self, job_id: int, error: str, result: JSON | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO connector_task_outcomes (job_id, error, result) "
                    "VALUES (:id, :error, CAST(:result AS jsonb)) "
                    "ON CONFLICT (job_id) DO UPDATE SET error = EXCLUDED.error, "
                    "result = EXCLUDED.result, updated_at = now()"
                ),
                {
                    "id": job_id,
                    "error": error,
                    "result": None if result is None else json.dumps(result),
                },
            )

    def _wrapper(self, task: TaskDef) -> Callable[..., None]:
        def run(context: JobContext, **kwargs: Any) -> None:
            job_id = context.job.id
            assert job_id is not None
            try:
                result = task.body(self.services(), kwargs)
            except TaskError as exc:
                self._record(job_id, str(exc), exc.result)
                raise
            except Exception as exc:
                error = (
                    str(exc)
                    if isinstance(exc, ConnectorError)
                    else (f"{type(exc).__name__}: {exc}")
                )
                self._record(job_id, error, None)
                raise
            self._record(job_id, "", result)

        run.__name__ = task.name.replace(".", "_")
        return run

    # --- the port --------------------------------------------------------------------

    def enqueue(
        self,
        task: str,
        args: JSON | None = None,
        *,
        exclusive_key: str | None = None,
        pending_key: str | None = None,
        priority: int = 0,
    ) -> Job:
        self.registry.get(task)
        deferrer = self.app.configure_task(
            task,
            allow_unknown=False,
            lock=exclusive_key,
            queueing_lock=pending_key,
            priority=priority,
        )
        for _ in range(3):  # the waiting job may start between the refusal and the look-up
            try:
                job_id = deferrer.defer(**dict(args or {}))
            except pexc.AlreadyEnqueued:
                with self.engine.connect() as conn:
                    waiting = conn.execute(
                        text(
                            "SELECT id FROM procrastinate_jobs "
                            "WHERE queueing_lock = :k AND status = 'todo'"
                        ),
                        {"k": pending_key},
                    ).scalar()
                if waiting is not None:
                    return self.get(str(waiting))
                continue
            return self.get(str(job_id))
        msg = f"could not enqueue {task} with pending key {pending_key!r}"
        raise ConnectorError(msg)

    _SELECT = (
        "SELECT j.id, j.task_name, j.args, j.status, j.lock, j.queueing_lock, j.attempts, "
        "o.error, o.result, o.updated_at, "
        "(SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS enqueued_at "
        "FROM procrastinate_jobs j LEFT JOIN connector_task_outcomes o ON o.job_id = j.id"
    )

    @staticmethod
    def _job(row: Any) -> Job:
        state = _STATES[str(row.status)]
        return Job(
            id=str(row.id),
            task=row.task_name,
            args=dict(row.args or {}),
            state=state,
            exclusive_key=row.lock,
            pending_key=row.queueing_lock,
            attempts=int(row.attempts),  # runs so far (counted when a run starts)
            error=(row.error or "") if state is not JobState.SUCCEEDED else "",
            result=row.result if state.finished else None,
            enqueued_at=row.enqueued_at,
            finished_at=row.updated_at if state.finished else None,
        )

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(self._SELECT + " WHERE j.id = :id"), {"id": int(job_id)}
            ).first()
        if row is None:
            msg = f"no job {job_id}; see: connector jobs"
            raise NotFound(msg)
        return self._job(row)

    def _many(self, ids: Sequence[str]) -> dict[str, Job]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(self._SELECT + " WHERE j.id = ANY(:ids)"), {"ids": [int(i) for i in ids]}
            ).all()
        return {str(r.id): self._job(r) for r in rows}

    def wait(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float | None = None,
        on_done: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        deadline = None if timeout is None else time.monotonic() + timeout
        reported: set[str] = set()
        unique = list(dict.fromkeys(job_ids))
        while True:
            jobs = self._many(unique)
            for job_id in unique:
                job = jobs[job_id]
                if job.state.finished and job_id not in reported:
                    reported.add(job_id)
                    if on_done is not None:
                        on_done(job)
            if len(reported) == len(unique) or (
                deadline is not None and time.monotonic() >= deadline
            ):
                return [jobs[i] for i in job_ids]
            time.sleep(self.poll_seconds)

    def jobs(self, states: Collection[JobState] | None = None, *, limit: int = 200) -> list[Job]:
        query = self._SELECT + " WHERE j.task_name <> :internal"
        params: dict[str, Any] = {"limit": limit, "internal": RECOVER_TASK}
        if states is not None:
            query += " AND j.status::text = ANY(:statuses)"
            params["statuses"] = [s for state in states for s in _TO_STATUS[state]]
        query += " ORDER BY j.id DESC LIMIT :limit"
        with self.engine.connect() as conn:
            return [self._job(r) for r in conn.execute(text(query), params)]

    # --- workers ---------------------------------------------------------------------

    def run_worker(self, *, concurrency: int, name: str | None = None) -> None:
        """A worker in the foreground until SIGINT/SIGTERM (`connector worker`)."""
        app = self._make_app()

        async def main() -> None:
            _threads_for(concurrency)
            async with app.open_async():
                await app.run_worker_async(
                    concurrency=concurrency, name=name or "connector", wait=True
                )

        asyncio.run(main())

    def start_worker(self, *, concurrency: int) -> None:
        """A worker on a background thread of this process (tests, benchmarks)."""
        app = self._make_app()
        loop = asyncio.new_event_loop()
        started = threading.Event()
        holder: dict[str, Any] = {}

        async def main() -> None:
            _threads_for(concurrency)
            async with app.open_async():
                task = asyncio.create_task(
                    app.run_worker_async(
                        concurrency=concurrency,
                        install_signal_handlers=False,
                        fetch_job_polling_interval=0.2,
                        wait=True,
                    )
                )
                holder["task"] = task
                started.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        started.wait(30)
        self._workers.append((thread, loop, holder))

    def close(self) -> None:
        for thread, loop, holder in self._workers:
            task = holder.get("task")
            if task is not None:
                loop.call_soon_threadsafe(task.cancel)
            thread.join(60)
            loop.close()
        self._workers = []
        self.app.close()
