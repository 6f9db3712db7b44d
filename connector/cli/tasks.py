"""The work queue wired for the terminal: the services every task body gets, the queue the
config asks for, and `connector sync` over it (the composition root for `connector.tasks`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from connector.cli.context import Context
from connector.ports import Ledger
from connector.store import Store
from connector.store import records
from connector.store.records import ConnectionRecord
from connector.sync import ProgressFactory
from connector.sync import SyncSummary
from connector.tasks.bodies import LedgerCache
from connector.tasks.bodies import standard_registry
from connector.tasks.config import TaskSettings
from connector.tasks.config import task_settings
from connector.tasks.fanout import sync_via_queue
from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import Job

if TYPE_CHECKING:
    from connector.dunning.run import Dunning
    from connector.oauth.service import OAuthLedgers


class CliServices:
    """`connector.tasks.bodies.Services` from a CLI context: one ledger per connection,
    shared by the threads (so they share its rate limiter and token holder)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.ledger_for_connection = LedgerCache(ctx.ledger_for)

    @property
    def store(self) -> Store:
        return self._ctx.store()

    @property
    def batch_size(self) -> int:
        return self._ctx.settings.sync_batch_size

    def ledger_for(self, connection: ConnectionRecord) -> Ledger:
        return self.ledger_for_connection(connection)

    def dunning(self) -> Dunning:
        from connector.cli.dunning import make_dunning

        with self.store.begin() as conn:
            admins = records.list_administrations(conn)
        runner = make_dunning(self._ctx, admins)
        runner.ledger_for = self.ledger_for
        return runner

    def oauth(self) -> OAuthLedgers:
        return self._ctx.oauth()


def tasks_settings(ctx: Context) -> TaskSettings:
    where = str(ctx.settings.config_path or "connector.toml")
    return task_settings(ctx.settings.section("tasks"), where=where)


def in_process_queue(ctx: Context, services: CliServices | None = None) -> InProcessQueue:
    settings = tasks_settings(ctx)
    return InProcessQueue(
        standard_registry(), services or CliServices(ctx), concurrency=settings.concurrency
    )


def sync_in_parallel(
    ctx: Context,
    *,
    administration_ids: Sequence[int] | None,
    full: bool,
    progress: ProgressFactory,
) -> list[SyncSummary]:
    """`connector sync` on the in-process queue: administrations in parallel, one bar."""
    services = CliServices(ctx)
    store = ctx.store()
    bar: list[Any] = []

    def planned(n: int) -> None:
        bar.append(progress("administrations synced", n))

    def done(_job: Job) -> None:
        if bar:
            bar[0].update(1)

    with in_process_queue(ctx, services) as queue:
        try:
            return sync_via_queue(
                queue,
                store,
                services.ledger_for,
                administration_ids=administration_ids,
                full=full,
                on_planned=planned,
                on_done=done,
            )
        finally:
            if bar:
                bar[0].close()
