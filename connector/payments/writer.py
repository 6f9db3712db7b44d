"""Group commit for received events: one writer thread per process, one transaction a batch.

Under load many request threads want to commit at once; on SQLite they would queue on the
database's write lock, each waiting in the busy handler's millisecond sleeps. Here they hand
their events to one writer thread that commits whatever has arrived in a single transaction
and then wakes each of them. Every request still answers only after its own events are
committed: durability is unchanged, only the number of transactions drops.

Only the store being unreachable or locked (`StoreError`) fails a request, with 503, so the
provider retries. A verified event the store cannot hold (an amount beyond its columns, a
value the driver refuses) would fail the same way on every retry: it is kept as rejected
with the reason (`store_or_reject`) and acknowledged, so a provider does not retry a poison
event for days.
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


@dataclass(frozen=True, slots=True)
class Stored:
    """For each event True when new, False for a duplicate; `rejected` of them were kept
    as rejected (the store could not hold them)."""

    fresh: list[bool]
    rejected: int = 0


def _reason(exc: Exception) -> str:
    # The driver's own first line ("numeric field overflow", "Python int too large to
    # convert to SQLite INTEGER"), never the statement or its parameters.
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0][:200]
    return f"the store cannot hold this event ({type(orig).__name__}: {first})"


def store_or_reject(
    store: Store, endpoint_id: int, events: Sequence[PaymentEvent], now: datetime
) -> Stored:
    """Store the events, keeping any the store cannot hold as rejected with the reason.

    Raises:
        StoreError: the store is unreachable or locked, or even the rejected row could not
            be written; nothing may be acknowledged.
    """
    try:
        with store.begin(immediate=True) as conn:
            return Stored(event_store.store_events(conn, endpoint_id, events, now))
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - which event is at fault is found one by one
        logger.debug("a batch of %d events failed as a whole: %s", len(events), _reason(exc))
    fresh: list[bool] = []
    rejected = 0
    for event in events:
        try:
            with store.begin(immediate=True) as conn:
                fresh.extend(event_store.store_events(conn, endpoint_id, [event], now))
            continue
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - a value the store refuses
            reason = _reason(exc)
        logger.error(
            "%s event %s of endpoint %d kept as rejected: %s",
            event.provider,
            event.event_id[:100],
            endpoint_id,
            reason,
        )
        try:
            with store.begin(immediate=True) as conn:
                new = event_store.store_rejected(
                    conn,
                    endpoint_id,
                    event.provider,
                    event_store.rejected_id(f"{event.provider}:{event.event_id}"),
                    reason,
                    now,
                )
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - our failure: let the provider retry
            msg = f"not even a rejected event could be stored: {type(exc).__name__}"
            raise StoreError(msg) from exc
        fresh.append(new)
        rejected += 1
    return Stored(fresh, rejected)


@dataclass
class _Job:
    endpoint_id: int
    events: Sequence[PaymentEvent]
    now: datetime
    done: threading.Event = field(default_factory=threading.Event)
    result: Stored | None = None
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
        """Store the events (True: new, False: duplicate) once they are committed."""
        return self.store(endpoint_id, events, now).fresh

    def store(self, endpoint_id: int, events: Sequence[PaymentEvent], now: datetime) -> Stored:
        """Store the events once they are committed (or kept as rejected, see the module).

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
            except Exception:  # noqa: BLE001 - one bad job must not fail its neighbours
                for job in batch:
                    try:
                        job.result = store_or_reject(
                            self._store, job.endpoint_id, job.events, job.now
                        )
                    except StoreError as exc:  # handed to the waiting request: 503
                        logger.warning("storing a webhook event failed: %s", exc)
                        job.error = exc
                    except Exception as exc:  # noqa: BLE001 - never lost in this thread
                        logger.error("storing a webhook event failed: %s", type(exc).__name__)
                        job.error = StoreError(type(exc).__name__)
                    job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        with self._store.begin(immediate=True) as conn:
            results = [
                event_store.store_events(conn, job.endpoint_id, job.events, job.now)
                for job in batch
            ]
        for job, result in zip(batch, results, strict=True):
            job.result = Stored(result)
            job.done.set()
