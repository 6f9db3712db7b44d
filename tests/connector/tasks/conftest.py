"""Queues for the contract suite: the in-process one always, Procrastinate on PostgreSQL
where CONNECTOR_TEST_POSTGRES_URL is set (a fresh database per test)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import TaskQueue
from connector.tasks.port import TaskRegistry

QueueFactory = Callable[[TaskRegistry, Any, int], TaskQueue]


@pytest.fixture(params=["inprocess"])
def make_queue(request: pytest.FixtureRequest) -> Iterator[QueueFactory]:
    made: list[TaskQueue] = []

    def factory(registry: TaskRegistry, services: Any, concurrency: int) -> TaskQueue:
        queue = InProcessQueue(registry, services, concurrency=concurrency)
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        queue.close()
