"""The work queue wired for the terminal: the services every task body gets, the queue the
config asks for, and `connector sync` over it (the composition root for `connector.tasks`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

import click

from connector.cli.context import Context
from connector.cli.context import json_option
from connector.cli.context import pass_context
from connector.errors import ConfigError
from connector.output import write_json
from connector.output import write_table
from connector.ports import Ledger
from connector.store import Store
from connector.store import records
from connector.store.records import ConnectionRecord
from connector.sync import ProgressFactory
from connector.sync import SyncSummary
from connector.sync import no_progress
from connector.tasks.bodies import LedgerCache
from connector.tasks.bodies import standard_registry
from connector.tasks.config import TaskSettings
from connector.tasks.config import task_settings
from connector.tasks.fanout import sync_via_queue
from connector.tasks.inprocess import InProcessQueue
from connector.tasks.port import Job
from connector.tasks.port import JobState

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

    @property
    def max_close_share(self) -> float:
        from connector.cli.data import close_guard

        return close_guard(self._ctx).max_share

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


def procrastinate_queue(ctx: Context, *, worker: bool = False) -> Any:
    """The Procrastinate queue on the store's PostgreSQL database (the adapter is imported
    only here, so the embedded default needs neither it nor PostgreSQL)."""
    try:
        from adapters.procrastinate import ProcrastinateQueue
    except ImportError as exc:
        msg = (
            '[tasks] engine = "procrastinate" needs the postgres extra: '
            "pip install 'dunning-connector[postgres]'"
        )
        raise ConfigError(msg) from exc
    factory = (lambda: CliServices(ctx)) if worker else None
    return ProcrastinateQueue(standard_registry(), ctx.store().engine, services_factory=factory)


def make_queue(ctx: Context, services: CliServices | None = None) -> Any:
    """The queue `[tasks] engine` names: in this process, or on Procrastinate's workers."""
    if tasks_settings(ctx).engine == "procrastinate":
        return procrastinate_queue(ctx)
    return in_process_queue(ctx, services)


def sync_in_parallel(
    ctx: Context,
    *,
    administration_ids: Sequence[int] | None,
    full: bool,
    progress: ProgressFactory,
    wait: bool = True,
    allow_mass_close: bool = False,
) -> list[SyncSummary]:
    """`connector sync` over the queue: administrations in parallel, one bar. With
    `wait=False` (Procrastinate only) the jobs are enqueued and nothing is returned."""
    services = CliServices(ctx)
    store = ctx.store()
    bar: list[Any] = []

    def planned(n: int) -> None:
        bar.append(progress("administrations synced", n))

    def done(_job: Job) -> None:
        if bar:
            bar[0].update(1)

    queue = make_queue(ctx, services)
    started = time.monotonic()
    try:
        summaries = sync_via_queue(
            queue,
            store,
            services.ledger_for,
            administration_ids=administration_ids,
            full=full,
            allow_mass_close=allow_mass_close,
            on_planned=planned,
            on_done=done,
            wait=wait,
        )
    finally:
        if bar:
            bar[0].close()
        queue.close()
    if wait and summaries:
        _record_totals(store, summaries, time.monotonic() - started)
    return summaries


def _record_totals(store: Store, summaries: Sequence[SyncSummary], seconds: float) -> None:
    """The per-ledger figures of /metrics (connector.sync_metrics); in parallel, a ledger's
    seconds are the wall time of the whole run it took part in."""
    from connector.sync_metrics import SyncRun
    from connector.sync_metrics import record

    with store.begin() as conn:
        ledger_of_connection = {c.id: c.ledger for c in records.list_connections(conn)}
        ledger_of = {
            a.id: ledger_of_connection.get(a.connection_id, "")
            for a in records.list_administrations(conn)
        }
    by_ledger: dict[str, list[SyncSummary]] = {}
    for summary in summaries:
        by_ledger.setdefault(ledger_of.get(summary.administration_id, ""), []).append(summary)
    now = datetime.now(UTC)
    for ledger, done in sorted(by_ledger.items()):
        if ledger:
            record(store, SyncRun(ledger=ledger, summaries=done, seconds=seconds), now)


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs this worker runs at once (default: [tasks] concurrency).",
)
@click.option("--name", default=None, help="The worker's name in logs.")
@pass_context
def worker(ctx: Context, concurrency: int | None, name: str | None) -> None:
    """Run jobs from the PostgreSQL queue until SIGTERM/SIGINT (start one per machine or
    more; each runs --concurrency jobs at once)."""
    if ctx.store(migrated=True).dialect != "postgresql":
        msg = (
            "connector worker needs the store on PostgreSQL (database_url); with SQLite "
            "the jobs run inside connector sync / connector run"
        )
        raise ConfigError(msg)
    queue = procrastinate_queue(ctx, worker=True)
    try:
        queue.run_worker(concurrency=concurrency or tasks_settings(ctx).concurrency, name=name)
    finally:
        queue.close()


_STATE_CHOICES = {
    "queued": {JobState.QUEUED},
    "running": {JobState.RUNNING},
    "failed": {JobState.FAILED},
    "succeeded": {JobState.SUCCEEDED},
    "active": {JobState.QUEUED, JobState.RUNNING, JobState.FAILED},
    "all": None,
}


@click.command()
@click.option(
    "--status",
    type=click.Choice(list(_STATE_CHOICES)),
    default="active",
    show_default=True,
    help="active: queued, running and failed.",
)
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@json_option
@pass_context
def jobs(ctx: Context, status: str, limit: int, as_json: bool) -> None:
    """List the work queue's jobs (PostgreSQL: what every worker runs), newest first."""
    if tasks_settings(ctx).engine != "procrastinate":
        msg = (
            "the in-process queue keeps its jobs only while connector sync / run runs; "
            'set [tasks] engine = "procrastinate" (PostgreSQL) to list jobs'
        )
        raise ConfigError(msg)
    queue = procrastinate_queue(ctx)
    try:
        found = queue.jobs(_STATE_CHOICES[status], limit=limit)
    finally:
        queue.close()
    if as_json:
        write_json(
            [
                {
                    "id": j.id,
                    "task": j.task,
                    "args": dict(j.args),
                    "state": j.state.value,
                    "attempts": j.attempts,
                    "exclusive_key": j.exclusive_key,
                    "error": j.error,
                    "enqueued_at": j.enqueued_at,
                    "finished_at": j.finished_at,
                }
                for j in found
            ],
            sys.stdout,
        )
        return
    write_table(
        ["ID", "TASK", "ARGS", "STATE", "TRIES", "ERROR"],
        [
            (
                j.id,
                j.task,
                " ".join(f"{k}={v}" for k, v in j.args.items()),
                j.state.value,
                j.attempts,
                j.error or "-",
            )
            for j in found
        ],
        sys.stdout,
        right=(0, 4),
    )


def enqueue_only(ctx: Context, *, administration_ids: Sequence[int] | None, full: bool) -> None:
    """`connector sync --no-wait`: the sync jobs go to the workers; this returns at once."""
    if tasks_settings(ctx).engine != "procrastinate":
        msg = (
            "--no-wait needs workers to run the syncs: set [tasks] engine = "
            '"procrastinate" (PostgreSQL) and start connector worker'
        )
        raise ConfigError(msg)
    failed = sync_in_parallel(
        ctx, administration_ids=administration_ids, full=full, progress=no_progress, wait=False
    )
    for summary in failed:
        click.echo(f"connector: {summary.administration}: {summary.error}", err=True)
    click.echo("sync jobs enqueued; follow them with: connector jobs")
