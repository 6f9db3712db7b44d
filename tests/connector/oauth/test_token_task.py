"""The `token.refresh` task: one connection's keep-alive through the work-queue port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.tasks import bodies
from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import JobState
from tests.fakes.oauth_support import connect


@dataclass
class _Services:
    oauth_ledgers: Any
    batch_size: int = 1000

    @property
    def store(self) -> Any:
        return self.oauth_ledgers.store

    def oauth(self) -> Any:
        return self.oauth_ledgers


def test_token_task_refreshes_an_idle_connection_once(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=86_400)
    connection = connect(oauth)
    clock.advance(86_401)
    with InProcessQueue(bodies.standard_registry(), _Services(oauth), concurrency=2) as queue:
        keys = bodies.token_keys(connection.id)
        jobs = [
            queue.enqueue(bodies.REFRESH_TOKEN, {"connection_id": connection.id}, **keys)
            for _ in range(3)
        ]
        done = queue.wait([j.id for j in jobs], timeout=30)
    assert {j.state for j in done} == {JobState.SUCCEEDED}
    outcomes = sorted(j.result["outcome"] for j in {j.id: j for j in done}.values())
    assert "refreshed" in outcomes
    assert server.refresh_attempts == 1  # run again (or collapsed), it refreshes no more


def test_token_task_fails_with_the_reason_when_the_server_is_away(make_oauth, clock, server):
    oauth = make_oauth(clock=clock, keepalive_seconds=10)
    connection = connect(oauth)
    server.stop()
    clock.advance(60)
    with InProcessQueue(bodies.standard_registry(), _Services(oauth), concurrency=1) as queue:
        job = queue.enqueue(bodies.REFRESH_TOKEN, {"connection_id": connection.id})
        (done,) = queue.wait([job.id], timeout=30)
    assert done.state is JobState.FAILED
    assert "token endpoint cannot be reached" in done.error
