"""Scheduled jobs and the commands that run the scheduler: `connector scheduler` and `run`.

Job functions are top-level and take only the config path, so APScheduler can persist them
by reference; each builds its own services, as a fresh process would.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import click
from apscheduler.schedulers.base import BaseScheduler

from connector.cli.check import dunning_configured
from connector.cli.check import refuse_to_listen
from connector.cli.check import refuse_to_start
from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.errors import ConnectorError
from connector.scheduler import DUNNING_JOB
from connector.scheduler import SchedulerLock
from connector.scheduler import SchedulerSettings
from connector.scheduler import build_scheduler
from connector.scheduler import scheduler_settings
from connector.scheduler import standard_jobs
from connector.sync import SyncSummary
from connector.sync import no_progress

logger = logging.getLogger("connector.jobs")


def _settings(ctx: Context) -> SchedulerSettings:
    where = str(ctx.settings.config_path or "connector.toml")
    return scheduler_settings(
        ctx.settings.section("scheduler"), timezone=ctx.settings.timezone, where=where
    )


def _one_line(job: Callable[[str | None], None]) -> Callable[[str | None], None]:
    """A job whose errors the connector explains is logged as one line, not as APScheduler's
    traceback; anything else still gets the traceback (a bug must be visible)."""

    @functools.wraps(job)
    def run(config_path: str | None) -> None:
        try:
            job(config_path)
        except ConnectorError as exc:
            logger.error("%s: %s", job.__name__.strip("_"), exc)  # noqa: TRY400

    return run


def log_summaries(summaries: list[SyncSummary]) -> None:
    for s in summaries:
        if s.ok:
            logger.info(
                "synced %s: %d items, %d new, %d changed, %d closed",
                s.administration,
                s.fetched,
                s.new,
                s.changed,
                s.closed,
            )
        else:
            logger.error("sync of %s failed: %s", s.administration, s.error)


def _sync(config_path: str | None) -> None:
    """Sync every administration (the scheduler's interval job)."""
    ctx = Context(config_path=config_path, debug=False)
    try:
        from connector.cli.tasks import sync_in_parallel  # administrations in parallel

        ctx.store()
        log_summaries(
            sync_in_parallel(ctx, administration_ids=None, full=False, progress=no_progress)
        )
    finally:
        ctx.close()


def _payments(config_path: str | None) -> None:
    """Process received payment events, then carry out the ledger writes that are due."""
    from connector.cli.payments import ledger_for_admin
    from connector.payments.hints import process_hints
    from connector.payments.outbox import run_outbox
    from connector.payments.processing import process_pending

    ctx = Context(config_path=config_path, debug=False)
    try:
        now = datetime.now(UTC)
        poll_payment_providers(ctx, now)  # before processing, so what it finds is processed now
        processed = process_pending(ctx.store(), now=now)
        written = run_outbox(ctx.store(), lambda admin: ledger_for_admin(ctx, admin), now=now)
        hints = process_hints(ctx.store(), lambda admin: ledger_for_admin(ctx, admin), now=now)
        if hints.failed:
            logger.error("%d ledger webhook re-reads failed; see the ledger_hints", hints.failed)
        if processed.processed or processed.unmatched or written.done or written.failed:
            logger.info(
                "payments: %d processed, %d unmatched; ledger writes: %d done, %d failed",
                processed.processed,
                processed.unmatched,
                written.done,
                written.failed,
            )
    finally:
        ctx.close()


def poll_payment_providers(ctx: Context, now: datetime) -> None:
    """Ask the providers that poll (Mollie's chargebacks for next-gen tenants) for events."""
    import os
    from functools import cache

    from connector import registry
    from connector.payments.polling import poll_providers
    from connector.vault import KEY_ENV
    from connector.vault import Vault

    if not os.environ.get(KEY_ENV, "").strip():
        return  # no secret can be read without it (the webhook routes are off too)

    @cache
    def providers(name: str) -> object:
        return registry.provider_factory(name)(dict(ctx.settings.section("providers", name)))

    summary = poll_providers(
        ctx.store(),
        Vault.from_environ(os.environ),
        providers,
        registry.available(registry.PROVIDER_GROUP),
        now,
    )
    if summary.stored or summary.failed:
        logger.info(
            "provider polls: %d new events, %d failed (of %d)",
            summary.stored,
            summary.failed,
            summary.polled,
        )


def _keepalive(config_path: str | None) -> None:
    """Refresh OAuth connections idle for long, so their refresh tokens do not expire."""
    from connector.oauth.service import keep_alive

    ctx = Context(config_path=config_path, debug=False)
    try:
        for result in keep_alive(ctx.oauth()):
            if result.outcome not in ("refreshed", "not due"):
                logger.error("keep-alive of connection %s: %s", result.name, result.outcome)
    finally:
        ctx.close()


def _dunning(config_path: str | None) -> None:
    """The dunning run (connector.cli.dunning), its errors one line in the log."""
    from connector.cli.dunning import dunning_job as run_dunning

    run_dunning(config_path)


# The scheduler's jobs, by these names ("connector.cli.jobs:sync_job"): one line per error.
sync_job = _one_line(_sync)
payments_job = _one_line(_payments)
keepalive_job = _one_line(_keepalive)
dunning_job = _one_line(_dunning)


def _jobs(ctx: Context, settings: SchedulerSettings, *, dunning: bool) -> list[Any]:
    return standard_jobs(
        settings,
        sync=f"{__name__}:sync_job",
        dunning=f"{__name__}:dunning_job" if dunning else None,
        payments=f"{__name__}:payments_job",
        keepalive=f"{__name__}:keepalive_job",
        args=(ctx.config_path,),
    )


def _wait_for_signal() -> None:
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start_scheduler(ctx: Context) -> tuple[BaseScheduler, SchedulerLock]:
    """Create or upgrade the store, take the single-scheduler lock and start the jobs in the
    background; stop with `stop_scheduler`."""
    store = ctx.store(migrated=False)
    store.migrate()
    settings = _settings(ctx)
    refuse_to_start(ctx, "the scheduler")  # a missing channel: one line now, not at 09:00
    dunning = dunning_configured(ctx)
    lock = SchedulerLock(store)
    lock.acquire()
    try:
        scheduler = build_scheduler(
            store, settings, _jobs(ctx, settings, dunning=dunning), blocking=False
        )
        scheduler.start(paused=True)
        if not dunning and scheduler.get_job(DUNNING_JOB) is not None:
            scheduler.remove_job(DUNNING_JOB)  # persisted by an earlier start with dunning
        scheduler.resume()
    except BaseException:
        lock.release()
        raise
    logger.info(
        "scheduler started: sync every %d min, %s (%s)",
        settings.sync_interval_minutes,
        f"dunning on business days at {settings.dunning_time}" if dunning else "no dunning",
        settings.timezone,
    )
    if not dunning:
        logger.warning(
            "no [dunning], [policies] or [channels] in the config: nothing is dunned; "
            "see the README's Configuration section"
        )
    return scheduler, lock


def stop_scheduler(scheduler: BaseScheduler, lock: SchedulerLock) -> None:
    try:
        scheduler.shutdown(wait=True)
    finally:
        lock.release()


def run_scheduler(ctx: Context) -> None:
    """The scheduler in the background until SIGTERM/SIGINT, holding the lock."""
    scheduler, lock = start_scheduler(ctx)
    try:
        _wait_for_signal()
    finally:
        stop_scheduler(scheduler, lock)


@click.command()
@pass_context
def scheduler(ctx: Context) -> None:
    """Run the scheduler alone: sync on an interval, dunning on business days."""
    ctx.configure_logging(default="INFO")
    run_scheduler(ctx)


@click.command()
@click.option("--once", is_flag=True, help="Sync every administration once and exit (for cron).")
@click.option(
    "--bind",
    default="127.0.0.1:8000",
    show_default=True,
    envvar="CONNECTOR_BIND",
    help="Address of the HTTP side (webhooks, OAuth callbacks, health, metrics).",
)
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True)
@pass_context
def run(ctx: Context, once: bool, bind: str, threads: int) -> None:
    """The single-machine default: the scheduler and the HTTP app in one process.

    Creates or upgrades the store first, so that a fresh container starts by itself.
    """
    ctx.configure_logging(default="INFO")
    ctx.store(migrated=False).migrate()
    if once:
        _sync(ctx.config_path)  # unwrapped: an error is this command's exit code
        return
    refuse_to_start(ctx, "connector run")
    refuse_to_listen(bind)
    from connector.cli.http import serve_with_scheduler

    serve_with_scheduler(ctx, bind, threads)
