"""Sync and dunning metrics, read from the store at scrape time (no process-wide state), so
every worker and the scheduler's process report the same figures.

- `connector_sync_*{ledger}`: totals kept by `connector.sync_metrics` per ledger: connection
  syncs, administrations synced, administrations that failed, open items read, seconds spent
  (and the last sync's), API calls and 429 answers where the ledger counts them.
- `connector_dunning_letters{status}`: letters (e-mail, PDF, outbox messages) per status;
  `connector_dunning_blocked{reason}`: letters held back, per reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy import select

from connector.dunning.tables import dunning_actions
from connector.errors import StoreError
from connector.store import Store
from connector.sync_metrics import sync_totals

#: The status of a letter held back with a reason (`blocked: sender has no IBAN`).
BLOCKED = "blocked"
_REASON_CHARS = 120  # a reason is a short sentence; cap it so a label stays bounded


class SyncCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        try:
            with self._store.begin() as conn:
                rows = list(conn.execute(select(sync_totals).order_by(sync_totals.c.ledger)))
        except StoreError:
            return
        counters = {
            "syncs": ("connector_sync_runs", "Connection syncs run."),
            "administrations": ("connector_sync_administrations", "Administrations synced."),
            "errors": ("connector_sync_errors", "Administrations whose sync failed."),
            "items": ("connector_sync_items", "Open items read from the ledger."),
            "seconds": ("connector_sync_seconds", "Seconds spent syncing."),
            "api_calls": ("connector_sync_api_calls", "API calls made by syncs."),
            "rate_limited": ("connector_sync_rate_limited", "429 answers received by syncs."),
        }
        for column, (name, text) in counters.items():
            family = CounterMetricFamily(name, text, labels=["ledger"])
            for row in rows:
                value = getattr(row, column)
                if value is not None:  # a ledger that does not count its calls: left out
                    family.add_metric([row.ledger], float(value))
            yield family
        last = GaugeMetricFamily(
            "connector_sync_last_duration_seconds",
            "Duration of the last sync of a connection, per ledger.",
            labels=["ledger"],
        )
        for row in rows:
            last.add_metric([row.ledger], row.last_seconds)
        yield last


class DunningCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._store.begin() as conn:
                letters = conn.execute(
                    select(dunning_actions.c.status, func.count())
                    .where(dunning_actions.c.message.is_(True))
                    .group_by(dunning_actions.c.status)
                    .order_by(dunning_actions.c.status)
                ).all()
                blocked = conn.execute(
                    select(dunning_actions.c.status_reason, func.count())
                    .where(dunning_actions.c.status == BLOCKED)
                    .group_by(dunning_actions.c.status_reason)
                    .order_by(dunning_actions.c.status_reason)
                ).all()
        except StoreError:
            return
        by_status = GaugeMetricFamily(
            "connector_dunning_letters", "Dunning letters per status.", labels=["status"]
        )
        for status, count in letters:
            by_status.add_metric([status], count)
        yield by_status
        by_reason = GaugeMetricFamily(
            "connector_dunning_blocked",
            "Dunning letters held back, per reason.",
            labels=["reason"],
        )
        totals: dict[str, int] = {}
        for reason, count in blocked:
            label = (reason or "no reason given")[:_REASON_CHARS]
            totals[label] = totals.get(label, 0) + count
        for label, count in totals.items():
            by_reason.add_metric([label], count)
        yield by_reason


def store_collectors(store: Store) -> list[Collector]:
    """The collectors to register on an app's metrics registry."""
    return [SyncCollector(store), DunningCollector(store)]
