"""The work-queue port: units of work enqueued under stable names with serialisation keys.

The core enqueues a task by its stable name (``"sync.administration"``), never by a
``module:function`` path, so a job persisted by one version of the code still runs after a
refactoring. Two kinds of key say how jobs may overlap:

- an **exclusive key**: no two jobs with the same key run at the same time (one sync per
  administration, one token refresh per connection). A job whose key is taken waits; the
  others go past it, so one slow administration never holds up the rest;
- a **pending key**: at most one *waiting* job with the key. Enqueueing another while one
  waits returns the waiting one, so a backlog of syncs collapses into one. A running job
  does not count: what changed after it started still gets its own run.

Failures are retried with exponential backoff (`RetryPolicy`) when the task's body raises
one of its retriable errors; anything else fails the job at once with its error kept, so
`connector jobs` can show it. The engine behind the port (the in-process thread pool, or
Procrastinate on PostgreSQL) lives outside the core.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import Protocol

from connector.errors import ConnectorError
from connector.errors import RateLimited
from connector.errors import RetriableLedgerError
from connector.errors import StoreError

JSON = Mapping[str, Any]
"""Task arguments and results: JSON-able mappings (ids and flags, never live objects)."""

TaskBody = Callable[[Any, JSON], JSON | None]
"""A task body: (the worker's services, the arguments) -> a JSON-able result or None."""

# What a retry can fix: the ledger or the database was away for a moment.
TRANSIENT: tuple[type[BaseException], ...] = (RetriableLedgerError, RateLimited, StoreError)


class TaskError(ConnectorError):
    """A task body ran to its end but its unit of work failed: the job fails with this
    message and keeps `result` (e.g. a sync summary with its error)."""

    def __init__(self, message: str, *, result: JSON | None = None) -> None:
        super().__init__(message)
        self.result = result


class UnknownTask(ConnectorError):
    """A job names a task no registry knows (a typo, or an older worker)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` runs in all; the n-th retry waits base × 2^(n-1) seconds, at most `cap`."""

    attempts: int = 3
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    retry_on: tuple[type[BaseException], ...] = TRANSIENT

    def delay(self, attempt: int) -> float:
        """The wait before the retry that follows failed attempt number `attempt` (1-based)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1)))

    def retries(self, exc: BaseException, attempt: int) -> bool:
        return attempt < self.attempts and isinstance(exc, self.retry_on)


@dataclass(frozen=True, slots=True)
class TaskDef:
    name: str
    body: TaskBody
    retry: RetryPolicy = RetryPolicy()
    description: str = ""


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    """What the queue knows of one job; `result` only where the engine keeps results."""

    id: str
    task: str
    args: JSON
    state: JobState
    exclusive_key: str | None = None
    pending_key: str | None = None
    attempts: int = 0
    error: str = ""
    result: JSON | None = None
    enqueued_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class TaskRegistry:
    """Stable task names -> definitions; every engine runs the same registry."""

    tasks: dict[str, TaskDef] = field(default_factory=dict)

    def add(self, task: TaskDef) -> None:
        if task.name in self.tasks:
            msg = f"task {task.name!r} is registered twice"
            raise ConnectorError(msg)
        self.tasks[task.name] = task

    def get(self, name: str) -> TaskDef:
        found = self.tasks.get(name)
        if found is None:
            msg = f"unknown task {name!r}; known: {', '.join(sorted(self.tasks))}"
            raise UnknownTask(msg)
        return found

    def __iter__(self) -> Any:
        return iter(self.tasks.values())


class TaskQueue(Protocol):
    """The port. Implementations: `connector.tasks.inprocess.InProcessQueue` (embedded
    default) and the Procrastinate adapter (`adapters.procrastinate`)."""

    def enqueue(
        self,
        task: str,
        args: JSON | None = None,
        *,
        exclusive_key: str | None = None,
        pending_key: str | None = None,
        priority: int = 0,
    ) -> Job:
        """Queue a job; with a pending key already waiting, the waiting job is returned."""
        ...

    def get(self, job_id: str) -> Job: ...

    def wait(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float | None = None,
        on_done: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        """Block until every job has finished (or `timeout` seconds passed); the jobs as
        they are then, in the order asked. `on_done` is called once per finished job."""
        ...

    def jobs(self, states: Collection[JobState] | None = None) -> list[Job]:
        """The jobs the queue knows (newest first), optionally only those in `states`."""
        ...

    def close(self) -> None: ...
