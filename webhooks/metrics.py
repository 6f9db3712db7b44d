"""Prometheus metrics of the HTTP edge, one registry per app (no process-wide state)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy import select

from connector.errors import StoreError
from connector.payments.tables import outbox
from connector.payments.tables import webhook_events
from connector.store import Store
from webhooks.store_metrics import store_collectors


class _StoreGauges(Collector):
    """Read at scrape time from the store, so every process reports the same truth."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._store.begin() as conn:
                oldest = conn.execute(
                    select(func.min(webhook_events.c.received_at)).where(
                        webhook_events.c.status == "received"
                    )
                ).scalar()
                counts: dict[str, int] = {
                    status: int(n)
                    for status, n in conn.execute(
                        select(outbox.c.status, func.count()).group_by(outbox.c.status)
                    )
                }
        except StoreError:
            return
        lag = 0.0 if oldest is None else (self._clock() - oldest).total_seconds()
        yield GaugeMetricFamily(
            "connector_payment_processing_lag_seconds",
            "Age of the oldest received payment event not yet processed.",
            value=max(lag, 0.0),
        )
        yield GaugeMetricFamily(
            "connector_outbox_queue_depth",
            "Ledger writes waiting to be carried out.",
            value=counts.get("pending", 0),
        )
        yield GaugeMetricFamily(
            "connector_outbox_failed",
            "Ledger writes that failed for good and wait for a person.",
            value=counts.get("failed", 0),
        )


class Metrics:
    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "connector_webhook_events_received",
            "Webhook deliveries received.",
            ["provider"],
            registry=self.registry,
        )
        self.verified = Counter(
            "connector_webhook_events_verified",
            "Deliveries verified and stored.",
            ["provider"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "connector_webhook_events_rejected",
            "Deliveries refused (bad signature, malformed, unknown endpoint).",
            ["provider", "status"],
            registry=self.registry,
        )
        self.duplicate = Counter(
            "connector_webhook_events_duplicate",
            "Deliveries of events already stored.",
            ["provider"],
            registry=self.registry,
        )
        self.unusable = Counter(
            "connector_webhook_events_unusable",
            "Verified deliveries kept as rejected (unusable content; see: connector payments "
            "rejected) and acknowledged so the provider stops retrying.",
            ["provider"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "connector_webhook_seconds",
            "Time to verify and store a delivery.",
            ["provider"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.registry.register(_StoreGauges(store, clock or (lambda: datetime.now(UTC))))
        for collector in store_collectors(store):  # sync and dunning figures (store_metrics)
            self.registry.register(collector)
