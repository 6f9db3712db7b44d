"""Group commit for received events: one writer thread per process, one transaction a batch.

Under load many request threads want to commit at once; on SQLite they would queue on the
database's write lock, each waiting in the busy handler's millisecond sleeps. Here they hand
their events to one writer thread that commits whatever has arrived in a single transaction
and then wakes each of them. Every request still answers only after its own events are
committed: durability is unchanged, only the number of transactions drops.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from connector.errors import StoreError
from connector.payments import events as event_store
from connector.payments.model import PaymentEvent
from connector.store import Store

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    endpoint_id: int
    events: Sequence[PaymentEvent]
    now: datetime
    done: threading.Event = field(default_factory=threading.Event)
    result: list[bool] | None = None
    error: Exception | None = None


class EventWriter:
    def __init__(self, store: Store, *, max_batch: int = 256, timeout: float = 10.0) -> None:
        self._store = store
        self._max_batch = max_batch
        self._timeout = timeout
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write(self, endpoint_id: int, events: Sequence[PaymentEvent], now: datetime) -> list[bool]:
        """Store the events (True: new, False: duplicate) once they are committed.

        Raises:
            StoreError: the store could not take them; nothing may be acknowledged.
        """
        self._ensure_thread()
        job = _Job(endpoint_id, events, now)
        self._queue.put(job)
        if not job.done.wait(self._timeout):
            msg = "the store did not commit the events in time"
            raise StoreError(msg)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _ensure_thread(self) -> None:
        # Started lazily, in the process that serves (after a fork, never before it).
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception:  # one bad job must not fail its neighbours: retry alone
                for job in batch:
                    try:
                        self._commit([job])
                    except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                        logger.warning("storing a webhook event failed: %s", exc)
                        job.error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                        job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        with self._store.begin(immediate=True) as conn:
            results = [
                event_store.store_events(conn, job.endpoint_id, job.events, job.now)
                for job in batch
            ]
        for job, result in zip(batch, results, strict=True):
            job.result = result
            job.done.set()
