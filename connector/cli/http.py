"""The HTTP edge wired up: `connector serve` runs it under gunicorn.

The app is built inside each gunicorn worker (after the fork), so no database connection or
thread crosses a fork.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC
from datetime import datetime
from functools import cache
from typing import Any

import click
from flask import Flask

from connector import registry
from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.ports import PaymentProvider
from connector.vault import KEY_ENV
from webhooks.app import Services
from webhooks.app import create_app
from webhooks.edge import edge_blueprint
from webhooks.metrics import Metrics
from webhooks.payments import payments_blueprints

logger = logging.getLogger("connector.http")


def build_app(ctx: Context) -> Flask:
    """Everything the edge needs, from the settings and the environment.

    Without CONNECTOR_SECRET_KEY nothing secret can be read, so the webhook routes stay off
    (404) and a warning says why; health, metrics and the API document still work. A key
    that is set but wrong is an error, as everywhere.
    """
    settings = ctx.settings
    store = ctx.store()

    def clock() -> datetime:
        return datetime.now(UTC)

    metrics = Metrics(store, clock)
    blueprints = [edge_blueprint(store=store, metrics=metrics)]
    if os.environ.get(KEY_ENV, "").strip():

        @cache
        def providers(name: str) -> PaymentProvider:
            factory = registry.provider_factory(name)
            provider: PaymentProvider = factory(dict(settings.section("providers", name)))
            return provider

        blueprints[:0] = payments_blueprints(
            store=store,
            # Checked against every stored ciphertext: a well-formed but wrong key refuses
            # to start here, before any worker forks.
            vault=ctx.oauth().vault,
            providers=providers,
            provider_names=registry.available(registry.PROVIDER_GROUP),
            metrics=metrics,
            clock=clock,
            ledger_webhooks=registry.ledger_webhooks,
        )
    else:
        logger.warning("%s is not set: payment and ledger webhooks are switched off", KEY_ENV)
    services = Services(
        store=store, oauth=ctx.oauth(), admin_key=os.environ.get("CONNECTOR_ADMIN_KEY") or None
    )
    return create_app(settings, services, blueprints=blueprints)


def _gunicorn(
    ctx: Context,
    bind: str,
    workers: int,
    options: dict[str, Any],
    *,
    with_scheduler: bool = False,
) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            # In the worker: a fresh Context, so each worker opens its own connections.
            worker = Context(config_path=ctx.config_path, debug=ctx.debug)
            if with_scheduler:
                # In the (single) worker too, after the fork: its threads and connections
                # are its own; a restarted worker restarts its scheduler, and the lock
                # dies with the process.
                from connector.cli.jobs import start_scheduler

                start_scheduler(Context(config_path=ctx.config_path, debug=ctx.debug))
            return build_app(worker)

    _Server().run()


def serve_with_scheduler(ctx: Context, bind: str, threads: int) -> None:
    """`connector run`: one worker process serving HTTP with the scheduler beside it."""
    build_app(ctx)  # configuration errors stop us before forking
    ctx.close()
    _gunicorn(
        ctx,
        bind,
        1,
        {"threads": threads, "timeout": 30, "worker_class": "gthread", "keepalive": 5},
        with_scheduler=True,
    )


@click.command()
@click.option(
    "--bind",
    default="127.0.0.1:8000",
    show_default=True,
    help="Address to listen on (put a TLS-terminating proxy in front).",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True)
@pass_context
def serve(ctx: Context, bind: str, workers: int, threads: int) -> None:
    """Run the HTTP edge (webhooks, OAuth callbacks, health, metrics) under gunicorn."""
    from connector.cli.check import refuse_to_listen

    ctx.configure_logging(default="INFO")
    refuse_to_listen(bind)  # a port in use: one line, not gunicorn's retries
    ctx.store()  # a store that is not set up is reported here, once, not per worker
    build_app(ctx)  # configuration errors (e.g. a missing key) stop us before forking
    ctx.close()
    _gunicorn(
        ctx,
        bind,
        workers,
        {
            "threads": threads,
            "timeout": 30,
            "worker_class": "gthread" if threads > 1 else "sync",
            # Longer than deploy/nginx.conf's upstream keepalive_timeout (2 s), so the proxy
            # always closes an idle connection first (never a POST on a closing one).
            "keepalive": 5,
        },
    )
