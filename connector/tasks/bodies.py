"""The units of work as tasks: idempotent core functions under stable names.

Each body takes the worker's `Services` and JSON arguments (ids, never live objects, so a
job can be stored and run on another machine) and reuses the core function that already
does the work; none is rewritten here. Idempotent: run twice, or retried after a kill, a
body changes nothing more, because the functions it calls already key their writes
(fingerprints for the sync, `dunning_actions` keys for letters, the outbox's idempotency
keys for ledger writes, the event status for payments, the refresh lock for tokens).

The keys each task is enqueued with are part of its definition (`keys`), so every caller
serialises the same way: one sync per administration at a time, one token refresh per
connection at a time, at most one of each waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypedDict

from connector.errors import ConnectorError
from connector.payments.outbox import run_outbox
from connector.payments.processing import process_pending
from connector.ports import Ledger
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord
from connector.sync import CloseGuard
from connector.sync import SyncSummary
from connector.sync import sync_administration
from connector.tasks.port import JSON
from connector.tasks.port import RetryPolicy
from connector.tasks.port import TaskDef
from connector.tasks.port import TaskError
from connector.tasks.port import TaskRegistry

if TYPE_CHECKING:
    from connector.dunning.run import Dunning
    from connector.oauth.service import OAuthLedgers

# Stable names: persisted in job tables, so never renamed (add a new one instead).
SYNC_ADMINISTRATION = "sync.administration"
RUN_DUNNING = "dunning.administration"
FLUSH_LEDGER_WRITES = "ledger_writes.administration"
REFRESH_TOKEN = "token.refresh"  # noqa: S105 - a task name, not a secret
PROCESS_PAYMENTS = "payments.process"


class Services(Protocol):
    """What a worker gives every task body (the CLI builds it: the composition root)."""

    @property
    def store(self) -> Store: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def max_close_share(self) -> float:
        """`[sync] max_close_share`: the most of an administration's open items one sync may
        close (connector.sync.CloseGuard)."""
        ...

    def ledger_for(self, connection: ConnectionRecord) -> Ledger: ...

    def dunning(self) -> Dunning: ...

    def oauth(self) -> OAuthLedgers: ...


@dataclass
class LedgerCache:
    """One ledger per connection for the life of a worker, shared by its threads.

    Sharing matters: the ledger's client holds the connection's rate limiter (Exact's
    budgets per division) and its token holder, so all threads count against the same
    budget and refresh through the same lock.
    """

    open: Callable[[ConnectionRecord], Ledger]
    _ledgers: dict[int, Ledger] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, connection: ConnectionRecord) -> Ledger:
        with self._lock:
            found = self._ledgers.get(connection.id)
            if found is None:
                found = self.open(connection)
                self._ledgers[connection.id] = found
            return found


# --- keys ------------------------------------------------------------------------------


class Keys(TypedDict):
    """A task's serialisation keys, spread into `TaskQueue.enqueue(**keys)`."""

    exclusive_key: str
    pending_key: str


def sync_keys(administration_id: int, *, serial_connection: int | None = None) -> Keys:
    """One sync per administration at a time; with `serial_connection`, one per connection
    (a ledger with `Capabilities.one_call_per_connection`)."""
    key = f"sync:administration:{administration_id}"
    if serial_connection is not None:
        return Keys(exclusive_key=f"sync:connection:{serial_connection}", pending_key=key)
    return Keys(exclusive_key=key, pending_key=key)


def dunning_keys(administration_id: int) -> Keys:
    key = f"dunning:administration:{administration_id}"
    return Keys(exclusive_key=key, pending_key=key)


def writes_keys(administration_id: int) -> Keys:
    key = f"ledger_writes:administration:{administration_id}"
    return Keys(exclusive_key=key, pending_key=key)


def token_keys(connection_id: int) -> Keys:
    key = f"token:connection:{connection_id}"
    return Keys(exclusive_key=key, pending_key=key)


PAYMENTS_KEYS = Keys(exclusive_key="payments", pending_key="payments")


# --- summaries as JSON -----------------------------------------------------------------


def summary_json(summary: SyncSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["problems"] = list(summary.problems)
    return data


def summary_from_json(data: JSON) -> SyncSummary:
    values = dict(data)
    values["problems"] = tuple(values.get("problems", ()))
    return SyncSummary(**values)


# --- the bodies ------------------------------------------------------------------------


def _admin(store: Store, administration_id: int) -> tuple[AdministrationRecord, ConnectionRecord]:
    with store.begin() as conn:
        admin = records.find_administration(conn, str(administration_id))
        connection = records.find_connection(conn, str(admin.connection_id))
    return admin, connection


def _failed_sync(store: Store, admin: AdministrationRecord, error: str) -> TaskError:
    with store.begin() as conn:
        records.record_sync_outcome(
            conn, admin.id, at=datetime.now(UTC), status="error", error=error
        )
    summary = SyncSummary(administration_id=admin.id, administration=admin.name, error=error)
    return TaskError(error, result=summary_json(summary))


def sync_one(services: Services, args: JSON) -> JSON:
    """Sync one administration (one transaction, as `sync_administration` always did)."""
    store = services.store
    admin, connection = _admin(store, int(args["administration_id"]))
    if connection.status == "reconnect_required":  # a dead grant: nothing may retry it
        reason = connection.status_reason or "the connection must be connected again"
        raise _failed_sync(store, admin, f"skipped: {reason}")
    if connection.status != "active" or not admin.active:
        summary = SyncSummary(administration_id=admin.id, administration=admin.name)
        return summary_json(summary)  # disconnected: the history stays, nothing syncs
    try:
        ledger = services.ledger_for(connection)
    except ConnectorError as exc:
        raise _failed_sync(store, admin, str(exc)) from exc
    guard = CloseGuard(services.max_close_share, allow=bool(args.get("allow_mass_close", False)))
    summary = sync_administration(
        store,
        ledger,
        admin,
        full=bool(args.get("full", False)),
        batch_size=services.batch_size,
        guard=guard,
    )
    if not summary.ok:
        raise TaskError(summary.error, result=summary_json(summary))
    return summary_json(summary)


def dunning_one(services: Services, args: JSON) -> JSON:
    """The dunning run of one administration (its `dunning_locks` row and the actions' keys
    keep a second run, or a retry, from sending anything twice)."""
    admin, _connection = _admin(services.store, int(args["administration_id"]))
    on = args.get("on_date")
    report = services.dunning().run([admin], on_date=date.fromisoformat(on) if on else None)
    (run,) = report.administrations
    result = {
        "administration_id": run.administration_id,
        "administration": run.administration,
        "planned": run.planned,
        "sent": len(run.sent),
        "awaiting_approval": run.awaiting_approval,
        "retry": len(run.retry),
        "uncertain": len(run.uncertain),
        "busy": run.busy,
        "error": run.error,
    }
    if run.error:
        raise TaskError(run.error, result=result)
    return result


def flush_writes_one(services: Services, args: JSON) -> JSON:
    """Carry out one administration's due ledger writes (payments, write-backs)."""
    store = services.store
    administration_id = int(args["administration_id"])
    _admin_record, connection = _admin(store, administration_id)
    summary = run_outbox(
        store,
        lambda _admin: services.ledger_for(connection),
        now=datetime.now(UTC),
        administration_id=administration_id,
    )
    return {"done": summary.done, "later": summary.retry_later, "failed": summary.failed}


def refresh_token_one(services: Services, args: JSON) -> JSON:
    """Refresh one connection's tokens if they have been idle for its keep-alive period.

    The refresh itself still runs under the token row lock (`ConnectionTokens`): the
    exclusive key only keeps two *tasks* apart, while a sync on another worker, the web
    process or a CLI command may refresh the same connection inline when its token is due.
    """
    oauth = services.oauth()
    with services.store.begin() as conn:
        connection = records.find_connection(conn, str(int(args["connection_id"])))
    spec = oauth.spec(connection.ledger)
    if spec is None or spec.keepalive_seconds is None or connection.status != "active":
        return {"connection_id": connection.id, "outcome": "not due"}
    idle_since = oauth.clock() - timedelta(seconds=spec.keepalive_seconds)
    try:
        refreshed = oauth.tokens(connection).refresh_if_idle(idle_since)
    except ConnectorError as exc:
        msg = f"connection {connection.name!r}: {exc}"
        raise TaskError(msg) from exc
    return {"connection_id": connection.id, "outcome": "refreshed" if refreshed else "not due"}


def process_payments(services: Services, _args: JSON) -> JSON:
    """Process the received payment events (each in its own transaction, status-guarded)."""
    summary = process_pending(services.store, now=datetime.now(UTC))
    return {
        "processed": summary.processed,
        "unmatched": summary.unmatched,
        "ignored": summary.ignored,
    }


def standard_registry() -> TaskRegistry:
    """Every task the connector runs, under its stable name."""
    registry = TaskRegistry()
    # A sync records its own failure and runs again on the next interval: no retry here
    # beyond a store hiccup before it started.
    registry.add(TaskDef(SYNC_ADMINISTRATION, sync_one, RetryPolicy(attempts=2)))
    registry.add(TaskDef(RUN_DUNNING, dunning_one, RetryPolicy(attempts=3, base_seconds=30)))
    registry.add(TaskDef(FLUSH_LEDGER_WRITES, flush_writes_one, RetryPolicy(attempts=3)))
    registry.add(TaskDef(REFRESH_TOKEN, refresh_token_one, RetryPolicy(attempts=3)))
    registry.add(TaskDef(PROCESS_PAYMENTS, process_payments, RetryPolicy(attempts=3)))
    return registry
