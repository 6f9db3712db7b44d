"""`connector sync` over the port: parallel across administrations, never within one,
stalest first, and a failing or dead connection blocks nothing else."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import update

from connector.domain import Administration
from connector.errors import ConfigError
from connector.store import Store
from connector.store import records
from connector.store.schema import administrations
from connector.store.schema import connections
from connector.tasks.bodies import LedgerCache
from connector.tasks.bodies import standard_registry
from connector.tasks.config import task_settings
from connector.tasks.fanout import sync_via_queue
from connector.tasks.inprocess import InProcessQueue
from tests.fakes.ledger import FakeLedger
from tests.fakes.ledger import item

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class SlowLedger(FakeLedger):
    """Each read takes a little while and is counted: at once overall and per administration."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.guard = threading.Lock()
        self.now = 0
        self.most = 0
        self.per_admin: dict[str, int] = {}
        self.most_per_admin = 0
        self.order: list[str] = []

    def open_items(self, administration, cursor):
        ext = administration.external_id
        with self.guard:
            self.order.append(ext)
            self.now += 1
            self.most = max(self.most, self.now)
            self.per_admin[ext] = self.per_admin.get(ext, 0) + 1
            self.most_per_admin = max(self.most_per_admin, self.per_admin[ext])
        time.sleep(0.05)
        with self.guard:
            self.now -= 1
            self.per_admin[ext] -= 1
        return super().open_items(administration, cursor)


class Services:
    def __init__(self, store: Store, ledgers: dict[str, FakeLedger]) -> None:
        self.store = store
        self.batch_size = 1000
        self.max_close_share = 0.5
        self.opened: list[str] = []

        def open_ledger(connection):
            self.opened.append(connection.name)
            return ledgers[connection.name]

        self.ledger_for = LedgerCache(open_ledger)


def _connect(store: Store, name: str, ledger: FakeLedger) -> None:
    with store.begin() as conn:
        c = records.save_connection(conn, name=name, ledger="fake", config={}, now=NOW)
        records.save_administrations(conn, c.id, ledger.administrations())


def _ledger(prefix: str, n: int) -> SlowLedger:
    ledger = SlowLedger(admins=[Administration(f"{prefix}{k}", f"{prefix} {k}") for k in range(n)])
    for k in range(n):
        ledger.set_items(f"{prefix}{k}", [item(j) for j in range(3)])
    return ledger


def _sync(store: Store, services: Services, concurrency: int, **kwargs):
    with InProcessQueue(standard_registry(), services, concurrency=concurrency) as queue:
        return sync_via_queue(queue, store, services.ledger_for, timeout=60, **kwargs), queue


def test_administrations_sync_in_parallel_but_each_one_alone(store: Store) -> None:
    ledger = _ledger("a", 12)
    _connect(store, "exact", ledger)
    services = Services(store, {"exact": ledger})
    summaries, queue = _sync(store, services, 6)
    assert len(summaries) == 12 and all(s.ok for s in summaries), summaries
    assert [s.new for s in summaries] == [3] * 12
    assert ledger.most >= 2  # several administrations at once
    assert queue.max_in_flight <= 6  # bounded by the pool
    assert ledger.most_per_admin == 1
    assert services.opened == ["exact"]  # one ledger (one rate limiter) for all threads


def test_stalest_administrations_are_synced_first(store: Store) -> None:
    ledger = _ledger("s", 4)
    _connect(store, "c", ledger)
    with store.begin() as conn:
        for k, hours in ((0, 1), (1, 5), (3, 3)):  # s2 never synced
            conn.execute(
                update(administrations)
                .where(administrations.c.external_id == f"s{k}")
                .values(last_sync_at=NOW - timedelta(hours=hours))
            )
    _sync(store, Services(store, {"c": ledger}), 1)
    assert ledger.order == ["s2", "s1", "s3", "s0"]


def test_a_failing_and_a_dead_connection_block_no_one(store: Store) -> None:
    good, bad, dead = _ledger("g", 3), _ledger("b", 2), _ledger("d", 2)
    bad.fail_after["b0"] = 0
    for name, ledger in (("good", good), ("bad", bad), ("dead", dead)):
        _connect(store, name, ledger)
    with store.begin() as conn:
        dead_id = records.find_connection(conn, "dead").id
        conn.execute(
            update(connections)
            .where(connections.c.id == dead_id)
            .values(status="reconnect_required", status_reason="grant revoked")
        )
    services = Services(store, {"good": good, "bad": bad, "dead": dead})
    summaries, _queue = _sync(store, services, 3)
    by_name = {s.administration: s for s in summaries}
    assert all(by_name[f"g {k}"].ok for k in range(3))
    assert by_name["b 1"].ok
    assert "ledger broke while reading b0" in by_name["b 0"].error
    assert by_name["d 0"].error == by_name["d 1"].error == "skipped: grant revoked"
    assert "dead" not in services.opened  # no ledger call for a dead grant


def test_tasks_settings_are_checked() -> None:
    assert task_settings({}, where="c.toml").concurrency == 16
    assert task_settings({"concurrency": 4}, where="c.toml").concurrency == 4
    with pytest.raises(ConfigError, match="tasks.threads: unknown setting"):
        task_settings({"threads": 4}, where="c.toml")
    with pytest.raises(ConfigError, match="tasks.concurrency: expected a whole number"):
        task_settings({"concurrency": 0}, where="c.toml")
    with pytest.raises(ConfigError, match="tasks.engine: expected one of"):
        task_settings({"engine": "celery"}, where="c.toml")


def test_a_one_call_per_connection_ledger_syncs_its_administrations_one_at_a_time(store):
    from connector.ports import Capabilities

    org = _ledger("t", 4)  # e.g. Twinfield: one request in flight per organisation
    org.capabilities = Capabilities(one_call_per_connection=True)
    other = _ledger("o", 4)
    _connect(store, "twinfield", org)
    _connect(store, "exact", other)
    summaries, _queue = _sync(store, Services(store, {"twinfield": org, "exact": other}), 8)
    assert len(summaries) == 8 and all(s.ok for s in summaries)
    assert org.most == 1  # the organisation's four offices one after another
    assert other.most >= 2  # while the other connection's run side by side
