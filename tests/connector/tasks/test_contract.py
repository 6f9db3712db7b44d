"""The work-queue port's contract, run against every implementation (see conftest)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from connector.errors import RetriableLedgerError
from connector.tasks.port import JobState
from connector.tasks.port import RetryPolicy
from connector.tasks.port import TaskDef
from connector.tasks.port import TaskError
from connector.tasks.port import TaskRegistry
from connector.tasks.port import UnknownTask

WAIT = 30.0  # every wait is bounded


class Services:
    """What the test bodies share: counters, and a gate that holds a job running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.runs: Counter[str] = Counter()
        self.overall = 0
        self.overall_most = 0
        self.gate = threading.Event()
        self.started = threading.Event()


def _work(services: Services, args: Any) -> dict[str, Any]:
    key = str(args["key"])
    with services.lock:
        services.running[key] += 1
        services.most[key] = max(services.most[key], services.running[key])
        services.overall += 1
        services.overall_most = max(services.overall_most, services.overall)
        services.runs[key] += 1
    time.sleep(float(args.get("seconds", 0.05)))
    with services.lock:
        services.running[key] -= 1
        services.overall -= 1
    return {"key": key}


def _blocker(services: Services, _args: Any) -> None:
    services.started.set()
    services.gate.wait(WAIT)


def _flaky(services: Services, args: Any) -> dict[str, Any]:
    key = str(args["key"])
    with services.lock:
        services.runs[key] += 1
        n = services.runs[key]
    if n <= int(args["failures"]):
        msg = f"attempt {n}: the ledger answered 503"
        raise RetriableLedgerError(msg)
    return {"attempts": n}


def _broken(_services: Services, _args: Any) -> None:
    msg = "the data is wrong"
    raise ValueError(msg)


def _unit_failed(_services: Services, _args: Any) -> None:
    raise TaskError("administration 7: the ledger refused", result={"administration": 7})


def registry() -> TaskRegistry:
    r = TaskRegistry()
    fast = RetryPolicy(attempts=3, base_seconds=0.05, cap_seconds=0.2)
    r.add(TaskDef("test.work", _work))
    r.add(TaskDef("test.blocker", _blocker))
    r.add(TaskDef("test.flaky", _flaky, retry=fast))
    r.add(TaskDef("test.broken", _broken, retry=fast))
    r.add(TaskDef("test.unit_failed", _unit_failed, retry=fast))
    return r


def test_exclusive_key_never_runs_twice_at_once_while_other_keys_run_beside(make_queue) -> None:
    services = Services()
    queue = make_queue(registry(), services, 4)
    jobs = [
        queue.enqueue("test.work", {"key": key, "seconds": 0.1}, exclusive_key=f"x:{key}")
        for key in ("a", "a", "a", "b", "c")
    ]
    done = queue.wait([j.id for j in jobs], timeout=WAIT)
    assert [j.state for j in done] == [JobState.SUCCEEDED] * 5
    assert services.runs == Counter({"a": 3, "b": 1, "c": 1})
    assert services.most["a"] == 1  # the three "a" jobs one after another
    assert services.overall_most >= 2  # but "b" and "c" ran beside them


def test_pending_key_collapses_waiting_jobs_but_not_a_running_one(make_queue) -> None:
    services = Services()
    queue = make_queue(registry(), services, 1)
    blocker = queue.enqueue("test.blocker")
    assert services.started.wait(WAIT)
    first = queue.enqueue("test.work", {"key": "s"}, pending_key="sync:1")
    second = queue.enqueue("test.work", {"key": "s"}, pending_key="sync:1")
    other = queue.enqueue("test.work", {"key": "t"}, pending_key="sync:2")
    assert second.id == first.id  # a backlog of syncs is one sync
    assert other.id != first.id
    services.gate.set()
    queue.wait([blocker.id, first.id, other.id], timeout=WAIT)
    assert services.runs == Counter({"s": 1, "t": 1})
    third = queue.enqueue("test.work", {"key": "s"}, pending_key="sync:1")
    assert third.id != first.id  # the first one ran: a new one may wait again
    assert queue.wait([third.id], timeout=WAIT)[0].state is JobState.SUCCEEDED
    assert services.runs["s"] == 2


def test_transient_failures_are_retried_with_backoff(make_queue) -> None:
    services = Services()
    queue = make_queue(registry(), services, 2)
    started = time.monotonic()
    job = queue.enqueue("test.flaky", {"key": "f", "failures": 2})
    (done,) = queue.wait([job.id], timeout=WAIT)
    assert done.state is JobState.SUCCEEDED
    assert done.attempts == 3
    assert services.runs["f"] == 3
    assert time.monotonic() - started >= 0.05 + 0.1  # two backoffs: base, then base x 2


def test_retries_stop_after_the_policy_attempts_and_keep_the_error(make_queue) -> None:
    services = Services()
    queue = make_queue(registry(), services, 2)
    job = queue.enqueue("test.flaky", {"key": "g", "failures": 10})
    (done,) = queue.wait([job.id], timeout=WAIT)
    assert done.state is JobState.FAILED
    assert services.runs["g"] == 3
    assert "attempt 3: the ledger answered 503" in done.error


def test_a_bug_fails_at_once_and_is_listed_with_its_error(make_queue) -> None:
    services = Services()
    queue = make_queue(registry(), services, 2)
    job = queue.enqueue("test.broken")
    (done,) = queue.wait([job.id], timeout=WAIT)
    assert done.state is JobState.FAILED
    assert done.attempts == 1  # ValueError is not transient: no retry
    assert "ValueError: the data is wrong" in done.error
    failed = queue.jobs({JobState.FAILED})
    assert [j.id for j in failed] == [job.id]
    assert failed[0].task == "test.broken"


def test_a_failed_unit_of_work_keeps_its_message(make_queue) -> None:
    queue = make_queue(registry(), Services(), 1)
    job = queue.enqueue("test.unit_failed")
    (done,) = queue.wait([job.id], timeout=WAIT)
    assert done.state is JobState.FAILED
    assert done.attempts == 1
    assert done.error == "administration 7: the ledger refused"


def test_unknown_task_names_are_refused_when_enqueued(make_queue) -> None:
    queue = make_queue(registry(), Services(), 1)
    with pytest.raises(UnknownTask, match="unknown task 'test.nope'"):
        queue.enqueue("test.nope")
