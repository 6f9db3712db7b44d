"""`connector sync` over the work-queue port: one `sync.administration` job per
administration, least-recently-synced first, in parallel where the queue allows.

What stays serial and why: discovery (which administrations a connection reaches) is one
call per connection and runs here, before the jobs, so every job has an administration id
to carry. Each administration is still one transaction (`sync_administration`); the
exclusive key keeps two syncs of it apart, and the pending key lets a sync asked for while
one already waits join that one instead of queueing a second.

Fairness: jobs are enqueued oldest `last_sync_at` first (never-synced before all), so a
backlog works through the stalest administrations first, and a slow or failing one
occupies one thread while the others go on. A connection that needs reconnecting costs
no ledger call: its jobs record "skipped" at once.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime

from connector.errors import ConnectorError
from connector.ports import Ledger
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord
from connector.sync import SyncSummary
from connector.sync import discover
from connector.tasks.bodies import SYNC_ADMINISTRATION
from connector.tasks.bodies import summary_from_json
from connector.tasks.bodies import sync_keys
from connector.tasks.port import Job
from connector.tasks.port import TaskQueue

_NEVER = datetime.min.replace(tzinfo=UTC)


def record_failed_sync(store: Store, admin: AdministrationRecord, error: str) -> SyncSummary:
    """Store a sync failure that happened before the administration's own job could run."""
    with store.begin() as conn:
        records.record_sync_outcome(
            conn, admin.id, at=datetime.now(UTC), status="error", error=error
        )
    return SyncSummary(administration_id=admin.id, administration=admin.name, error=error)


def plan_sync(
    store: Store,
    ledger_for: Callable[[ConnectionRecord], Ledger],
    *,
    administration_ids: Sequence[int] | None = None,
) -> tuple[list[AdministrationRecord], list[SyncSummary], set[int]]:
    """The administrations to sync, stalest first; the failures found while planning (a
    connection whose ledger cannot be opened or asked for its administrations); and the
    connections whose ledger allows one request at a time."""
    wanted_ids = None if administration_ids is None else set(administration_ids)
    todo: list[AdministrationRecord] = []
    failed: list[SyncSummary] = []
    with store.begin() as conn:
        connections = records.list_connections(conn)
    serial: set[int] = set()
    for connection in connections:
        with store.begin() as conn:
            known = records.list_administrations(conn, connection_id=connection.id)
        wanted = [a for a in known if wanted_ids is None or a.id in wanted_ids]
        if wanted_ids is not None and not wanted:
            continue
        if connection.status == "reconnect_required":
            todo.extend(wanted)  # the job records "skipped" without a ledger call
            continue
        if connection.status != "active":  # disconnected: the history stays, nothing syncs
            continue
        try:
            ledger = ledger_for(connection)
            admins = discover(store, connection, ledger)
        except ConnectorError as exc:
            failed.extend(record_failed_sync(store, a, str(exc)) for a in wanted)
            continue
        if ledger.capabilities.one_call_per_connection:
            serial.add(connection.id)
        todo.extend(a for a in admins if wanted_ids is None or a.id in wanted_ids)
    todo.sort(key=lambda a: (a.last_sync_at or _NEVER, a.id))
    return todo, failed, serial


def sync_via_queue(
    queue: TaskQueue,
    store: Store,
    ledger_for: Callable[[ConnectionRecord], Ledger],
    *,
    administration_ids: Sequence[int] | None = None,
    full: bool = False,
    allow_mass_close: bool = False,
    on_done: Callable[[Job], None] | None = None,
    on_planned: Callable[[int], None] | None = None,
    timeout: float | None = None,
    wait: bool = True,
) -> list[SyncSummary]:
    """Sync through the queue and wait; one summary per administration, in id order.
    `wait=False` only enqueues (for workers elsewhere) and returns the planning failures."""
    todo, failed, serial = plan_sync(store, ledger_for, administration_ids=administration_ids)
    if on_planned is not None:
        on_planned(len(todo))
    jobs = [
        queue.enqueue(
            SYNC_ADMINISTRATION,
            {"administration_id": admin.id, "full": full, "allow_mass_close": allow_mass_close},
            **sync_keys(
                admin.id,
                serial_connection=admin.connection_id if admin.connection_id in serial else None,
            ),
        )
        for admin in todo
    ]
    if not wait:
        return failed
    finished = queue.wait([j.id for j in jobs], timeout=timeout, on_done=on_done)
    summaries = list(failed)
    for admin, job in zip(todo, finished, strict=True):
        if job.result is not None:
            summaries.append(summary_from_json(job.result))
        else:
            error = job.error or f"job {job.id} is {job.state.value}; see: connector jobs"
            summaries.append(
                SyncSummary(administration_id=admin.id, administration=admin.name, error=error)
            )
    return sorted(summaries, key=lambda s: s.administration_id)
