"""Queues for the contract suite: the in-process one always, Procrastinate on PostgreSQL
where CONNECTOR_TEST_POSTGRES_URL is set (a fresh database per test, its worker on a
background thread of the test process)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import TaskQueue
from connector.tasks.port import TaskRegistry

PG_ENV = "CONNECTOR_TEST_POSTGRES_URL"
QueueFactory = Callable[[TaskRegistry, Any, int], TaskQueue]


@pytest.fixture(params=["inprocess", "procrastinate"])
def make_queue(request: pytest.FixtureRequest) -> Iterator[QueueFactory]:
    made: list[TaskQueue] = []
    cleanup: list[Callable[[], None]] = []
    if request.param == "procrastinate":
        url = os.environ.get(PG_ENV)
        if not url:
            pytest.skip(f"{PG_ENV} is not set; the Procrastinate runs of the contract are skipped")
        pytest.importorskip("procrastinate")
        from adapters.procrastinate import ProcrastinateQueue

        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        name = f"connector_tasks_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(make_url(url).set(database=name))

        def drop() -> None:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        cleanup.append(drop)

        def factory(registry: TaskRegistry, services: Any, concurrency: int) -> TaskQueue:
            queue = ProcrastinateQueue(registry, engine, services=services, poll_seconds=0.05)
            queue.start_worker(concurrency=concurrency)
            made.append(queue)
            return queue

    else:

        def factory(registry: TaskRegistry, services: Any, concurrency: int) -> TaskQueue:
            queue = InProcessQueue(registry, services, concurrency=concurrency)
            made.append(queue)
            return queue

    yield factory
    for queue in made:
        queue.close()
    for step in cleanup:
        step()
