"""Exact Online's per-division budgets hold when divisions sync in parallel threads."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from adapters.exact.auth import settings_from
from adapters.exact.ledger import ExactLedger
from connector.store import Store
from connector.store import records
from connector.tasks.bodies import LedgerCache
from connector.tasks.bodies import standard_registry
from connector.tasks.fanout import sync_via_queue
from connector.tasks.inprocess import InProcessQueue
from tests.fakes.exact import FakeExact
from tests.fakes.exact import StaticTokens


class _Services:
    def __init__(self, store: Store, ledgers: LedgerCache) -> None:
        self.store = store
        self.batch_size = 1000
        self.max_close_share = 0.5
        self.ledger_for = ledgers


def test_parallel_divisions_keep_to_exacts_minutely_limit(tmp_path) -> None:
    # A minute lasts 0.6 s and allows 3 calls per division; a sync needs 4 per division.
    with FakeExact(time_scale=0.01, minutely_limit=3) as fake:
        divisions = [300_001 + n for n in range(6)]
        for d in divisions:
            fake.add_division(d, f"Client {d}")
            fake.seed(d, accounts=3, receivables=5)
        store = Store(f"sqlite:///{tmp_path / 'c.db'}")
        store.migrate()
        with store.begin() as conn:
            records.save_connection(
                conn, name="exact", ledger="exact", config={}, now=datetime.now(UTC)
            )
        ledger = ExactLedger(settings_from(fake.settings()), StaticTokens(fake))
        cache = LedgerCache(lambda _c: ledger)
        with InProcessQueue(standard_registry(), _Services(store, cache), concurrency=6) as q:
            summaries = sync_via_queue(q, store, cache, timeout=60)
        assert [s.ok for s in summaries] == [True] * 6, [s.error for s in summaries]
        assert sum(s.fetched for s in summaries) == 30
        assert fake.too_many == 0  # the shared limiter waited for each division's reset
        assert ledger.client.limiter.waited_seconds > 0
        assert all(fake.calls_by[str(d)] >= 4 for d in divisions)
        store.dispose()
