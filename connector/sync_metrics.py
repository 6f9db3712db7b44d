"""Sync figures per ledger, kept in the store so that `/metrics` of every process reports the
same truth: syncs, failed administrations, items read, seconds spent, API calls and 429s.

`sync_and_record` is `connector.sync.sync_all` one connection at a time, timed, with the
totals of each added to the ledger's row of `sync_totals` (a handful of rows, one per ledger;
nothing grows with time). API calls and rate-limit answers are counted where the ledger says
them: a ledger object with `api_usage() -> (calls, rate_limited)` (cumulative counts of its
client; see `ReportsApiUsage`). For a ledger without it those two columns stay empty, and the
metric is left out rather than shown as 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Protocol
from typing import runtime_checkable

from sqlalchemy import Column
from sqlalchemy import Float
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import select
from sqlalchemy import update

from connector.ports import Ledger
from connector.store import Store
from connector.store import records
from connector.store.records import ConnectionRecord
from connector.store.schema import metadata
from connector.store.types import UTCDateTime
from connector.sync import CloseGuard
from connector.sync import ProgressFactory
from connector.sync import SyncSummary
from connector.sync import no_progress
from connector.sync import sync_all

sync_totals = Table(
    "sync_totals",
    metadata,
    Column("ledger", String(40), primary_key=True),
    Column("syncs", Integer, nullable=False, default=0),  # connection syncs
    Column("administrations", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),  # administrations whose sync failed
    Column("items", Integer, nullable=False, default=0),  # open items read from the ledger
    Column("seconds", Float, nullable=False, default=0.0),
    Column("last_seconds", Float, nullable=False, default=0.0),
    Column("api_calls", Integer),  # None: the ledger does not count its calls
    Column("rate_limited", Integer),
    Column("last_finished_at", UTCDateTime),
)


@runtime_checkable
class ReportsApiUsage(Protocol):
    def api_usage(self) -> tuple[int, int]:
        """(API calls, rate-limit answers) since the ledger object was made."""
        ...


@dataclass(frozen=True, slots=True)
class SyncRun:
    ledger: str
    summaries: Sequence[SyncSummary]
    seconds: float
    api_calls: int | None = None
    rate_limited: int | None = None


def record(store: Store, run: SyncRun, now: datetime) -> None:
    """Add one connection's sync to its ledger's totals."""
    failed = sum(1 for s in run.summaries if not s.ok)
    items = sum(s.fetched for s in run.summaries)
    with store.begin(immediate=True) as conn:
        found = conn.execute(
            select(sync_totals).where(sync_totals.c.ledger == run.ledger).with_for_update()
        ).first()
        if found is None:
            conn.execute(sync_totals.insert().values(ledger=run.ledger))
            found = conn.execute(
                select(sync_totals).where(sync_totals.c.ledger == run.ledger)
            ).one()

        def plus(current: int | None, more: int | None) -> int | None:
            return current if more is None else (current or 0) + more

        conn.execute(
            update(sync_totals)
            .where(sync_totals.c.ledger == run.ledger)
            .values(
                syncs=found.syncs + 1,
                administrations=found.administrations + len(run.summaries),
                errors=found.errors + failed,
                items=found.items + items,
                seconds=found.seconds + run.seconds,
                last_seconds=run.seconds,
                api_calls=plus(found.api_calls, run.api_calls),
                rate_limited=plus(found.rate_limited, run.rate_limited),
                last_finished_at=now,
            )
        )


def _keeping(
    ledger_for: Callable[[ConnectionRecord], Ledger], opened: list[Ledger]
) -> Callable[[ConnectionRecord], Ledger]:
    """`ledger_for` that keeps the ledgers it opened, to ask them for their API usage."""

    def open_ledger(connection: ConnectionRecord) -> Ledger:
        ledger = ledger_for(connection)
        opened.append(ledger)
        return ledger

    return open_ledger


def sync_and_record(
    store: Store,
    ledger_for: Callable[[ConnectionRecord], Ledger],
    *,
    administration_ids: Sequence[int] | None = None,
    full: bool = False,
    batch_size: int = 1000,
    progress: ProgressFactory = no_progress,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    guard: CloseGuard | None = None,
) -> list[SyncSummary]:
    """`sync_all` (same arguments), one connection at a time, each recorded in the totals."""
    with store.begin() as conn:
        connections = records.list_connections(conn)
        admins = records.list_administrations(conn)
    summaries: list[SyncSummary] = []
    for connection in connections:
        ids = [
            a.id
            for a in admins
            if a.connection_id == connection.id
            and (administration_ids is None or a.id in administration_ids)
        ]
        if not ids:
            continue
        opened: list[Ledger] = []
        started = time.monotonic()
        done = sync_all(
            store,
            _keeping(ledger_for, opened),
            administration_ids=ids,
            full=full,
            guard=guard,
            batch_size=batch_size,
            progress=progress,
            clock=clock,
        )
        seconds = time.monotonic() - started
        summaries.extend(done)
        if not done:
            continue  # disconnected: nothing was synced
        usage = [ledger.api_usage() for ledger in opened if isinstance(ledger, ReportsApiUsage)]
        record(
            store,
            SyncRun(
                ledger=connection.ledger,
                summaries=done,
                seconds=seconds,
                api_calls=sum(u[0] for u in usage) if usage else None,
                rate_limited=sum(u[1] for u in usage) if usage else None,
            ),
            clock(),
        )
    return summaries
