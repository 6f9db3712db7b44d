"""The embedded default behind the work-queue port: a bounded pool of threads in this process.

No broker and no PostgreSQL: with SQLite, `connector sync` and `connector run` use this, so
one machine still gets parallel I/O against the ledgers (the work is waiting on HTTP, which
releases the GIL). The queue lives in memory: jobs do not survive the process, which is
what the embedded default did before too (the scheduler enqueues again on its next tick).

Scheduling: the next job to run is the first queued one (highest priority, then oldest)
that is due and whose exclusive key no running job holds. A job whose key is taken is
skipped, not waited on, so the other keys' jobs go on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any

from connector.errors import ConnectorError
from connector.errors import NotFound
from connector.tasks.port import JSON
from connector.tasks.port import Job
from connector.tasks.port import JobState
from connector.tasks.port import TaskError
from connector.tasks.port import TaskRegistry

logger = logging.getLogger(__name__)

KEEP_FINISHED = 10_000  # finished jobs remembered for `jobs` / `wait`; older ones are dropped


@dataclass
class _Entry:
    job: Job
    seq: int
    priority: int
    due: float  # time.monotonic() when it may start (a retry's backoff)


class InProcessQueue:
    """`TaskQueue` on `concurrency` threads; `services` is what every task body gets."""

    def __init__(
        self,
        registry: TaskRegistry,
        services: Any,
        *,
        concurrency: int = 8,
    ) -> None:
        if concurrency < 1:
            msg = f"the task queue needs at least one thread, got {concurrency}"
            raise ConnectorError(msg)
        self.registry = registry
        self.services = services
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._seq = itertools.count(1)
        self._queued: list[_Entry] = []
        self._pending: dict[str, str] = {}  # pending key -> id of the waiting job
        self._running_keys: set[str] = set()
        self._all: dict[str, _Entry] = {}
        self._finished: deque[str] = deque()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.max_in_flight = 0  # the most jobs that ran at once (for tests and benchmarks)
        self._in_flight = 0

    # --- the port ------------------------------------------------------------------------

    def enqueue(
        self,
        task: str,
        args: JSON | None = None,
        *,
        exclusive_key: str | None = None,
        pending_key: str | None = None,
        priority: int = 0,
    ) -> Job:
        self.registry.get(task)  # an unknown name fails here, not later on a worker
        with self._cond:
            if self._closed:
                msg = "the task queue is closed"
                raise ConnectorError(msg)
            if pending_key is not None and pending_key in self._pending:
                return self._all[self._pending[pending_key]].job
            seq = next(self._seq)
            job = Job(
                id=str(seq),
                task=task,
                args=dict(args or {}),
                state=JobState.QUEUED,
                exclusive_key=exclusive_key,
                pending_key=pending_key,
                enqueued_at=datetime.now(UTC),
            )
            entry = _Entry(job, seq, priority, time.monotonic())
            self._all[job.id] = entry
            self._queued.append(entry)
            self._queued.sort(key=lambda e: (-e.priority, e.seq))
            if pending_key is not None:
                self._pending[pending_key] = job.id
            self._start_threads()
            self._cond.notify_all()
            return job

    def get(self, job_id: str) -> Job:
        with self._cond:
            entry = self._all.get(job_id)
            if entry is None:
                msg = f"no job {job_id} in this process's queue"
                raise NotFound(msg)
            return entry.job

    def wait(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float | None = None,
        on_done: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        deadline = None if timeout is None else time.monotonic() + timeout
        reported: set[str] = set()
        while True:
            with self._cond:
                jobs = [self._all[i].job for i in job_ids]
                fresh = [j for j in jobs if j.state.finished and j.id not in reported]
                done = all(j.state.finished for j in jobs)
                if not fresh and not done:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return jobs
                    self._cond.wait(left)
                    continue
            for job in fresh:  # outside the lock: a progress bar must not stall the workers
                reported.add(job.id)
                if on_done is not None:
                    on_done(job)
            if done:
                return jobs

    def jobs(self, states: Collection[JobState] | None = None) -> list[Job]:
        with self._cond:
            found = [e.job for e in sorted(self._all.values(), key=lambda e: -e.seq)]
        return [j for j in found if states is None or j.state in states]

    def close(self) -> None:
        """Stop taking jobs; the running ones finish, the queued ones are dropped."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def __enter__(self) -> InProcessQueue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the workers ---------------------------------------------------------------------

    def _start_threads(self) -> None:
        # Under the lock. Threads are started when there is work, up to the bound.
        busy = self._in_flight + len(self._queued)
        while len(self._threads) < min(self.concurrency, busy):
            thread = threading.Thread(
                target=self._work, name=f"connector-task-{len(self._threads) + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _take(self) -> _Entry | None:
        """The next runnable entry, marked running; None when closed. Under the lock."""
        while not self._closed:
            now = time.monotonic()
            next_due: float | None = None
            for index, entry in enumerate(self._queued):
                key = entry.job.exclusive_key
                if key is not None and key in self._running_keys:
                    continue
                if entry.due > now:
                    next_due = entry.due if next_due is None else min(next_due, entry.due)
                    continue
                del self._queued[index]
                if entry.job.pending_key is not None:
                    self._pending.pop(entry.job.pending_key, None)
                if key is not None:
                    self._running_keys.add(key)
                entry.job = replace(
                    entry.job, state=JobState.RUNNING, attempts=entry.job.attempts + 1
                )
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
                return entry
            self._cond.wait(None if next_due is None else max(0.0, next_due - now))
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                entry = self._take()
            if entry is None:
                return
            self._run(entry)

    def _run(self, entry: _Entry) -> None:
        job = entry.job
        task = self.registry.get(job.task)
        result: JSON | None = None
        error = ""
        retry_in: float | None = None
        try:
            result = task.body(self.services, job.args)
        except TaskError as exc:
            error, result = str(exc), exc.result
        except Exception as exc:  # a task's bug must not kill the worker thread
            error = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
            if task.retry.retries(exc, job.attempts):
                retry_in = task.retry.delay(job.attempts)
            else:
                logger.error("task %s (job %s) failed: %s", job.task, job.id, error)
        with self._cond:
            self._in_flight -= 1
            if job.exclusive_key is not None:
                self._running_keys.discard(job.exclusive_key)
            waiting = self._pending.get(job.pending_key) if job.pending_key else None
            if retry_in is not None and waiting is not None:
                # A newer job with the same pending key waits already and does the same
                # (idempotent) work: the retry would be a second waiting job; drop it.
                error = f"{error} (not retried: job {waiting} does the same work)"
                retry_in = None
            if retry_in is not None:
                logger.warning(
                    "task %s (job %s) attempt %d failed, retrying in %.1f s: %s",
                    job.task,
                    job.id,
                    job.attempts,
                    retry_in,
                    error,
                )
                entry.job = replace(job, state=JobState.QUEUED, error=error)
                entry.due = time.monotonic() + retry_in
                self._queued.append(entry)
                self._queued.sort(key=lambda e: (-e.priority, e.seq))
                # A retry waits again; a new job with its pending key collapses into it.
                if job.pending_key is not None:
                    self._pending[job.pending_key] = job.id
            else:
                entry.job = replace(
                    job,
                    state=JobState.FAILED if error else JobState.SUCCEEDED,
                    error=error,
                    result=result,
                    finished_at=datetime.now(UTC),
                )
                self._remember(job.id)
            self._cond.notify_all()

    def _remember(self, job_id: str) -> None:
        self._finished.append(job_id)
        while len(self._finished) > KEEP_FINISHED:
            self._all.pop(self._finished.popleft(), None)
