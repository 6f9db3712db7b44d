"""A worker killed in the middle of a job (kill -9: no clean-up, its heartbeat stops): the
job goes back to the queue and another worker runs it, once."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from connector.tasks.port import JobState
from connector.tasks.port import TaskDef
from connector.tasks.port import TaskRegistry

pytest.importorskip("procrastinate")
from adapters.procrastinate import ProcrastinateQueue  # noqa: E402

PG_ENV = "CONNECTOR_TEST_POSTGRES_URL"


@pytest.fixture
def engine() -> Iterator[Engine]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set; the Procrastinate recovery test needs PostgreSQL")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"connector_recover_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = create_engine(make_url(url).set(database=name))
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Services:
    def __init__(self) -> None:
        self.runs: list[int] = []
        self.lock = threading.Lock()


def _work(services: Services, args) -> dict:
    with services.lock:
        services.runs.append(int(args["n"]))
    return {"n": args["n"]}


def test_the_job_of_a_dead_worker_is_run_again_by_another(engine: Engine) -> None:
    registry = TaskRegistry()
    registry.add(TaskDef("test.work", _work))
    services = Services()
    queue = ProcrastinateQueue(registry, engine, services=services, poll_seconds=0.05)
    try:
        job = queue.enqueue("test.work", {"n": 7}, exclusive_key="k", pending_key="k")
        with engine.begin() as conn:  # a worker took it, then died without a word
            dead = conn.execute(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '5 minutes') RETURNING id"
                )
            ).scalar_one()
            conn.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w, "
                    "attempts = 1 WHERE id = :id"
                ),
                {"w": dead, "id": int(job.id)},
            )
        assert queue.get(job.id).state is JobState.RUNNING
        assert queue.recover_stalled(seconds_since_heartbeat=60) == 1
        assert queue.get(job.id).state is JobState.QUEUED
        queue.start_worker(concurrency=2)
        (done,) = queue.wait([job.id], timeout=30)
        assert done.state is JobState.SUCCEEDED
        assert done.result == {"n": 7}
        assert services.runs == [7]  # run once more, not twice
        assert queue.recover_stalled(seconds_since_heartbeat=60) == 0
    finally:
        queue.close()
