"""Connecting ledgers."""

from __future__ import annotations

import sys
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connector import registry
from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.cli.context import print_administrations
from connector.errors import ConfigError
from connector.store import records


@click.command()
@click.argument("ledger")
@click.option("--name", help="A name for this connection (default: the ledger's name).")
@click.option("--path", type=click.Path(), help="files ledger: the folder with the exports.")
@pass_context
def connect(ctx: Context, ledger: str, name: str | None, path: str | None) -> None:
    """Connect a ledger and list the administrations it reaches."""
    config: dict[str, Any] = {}
    if ledger == "files":
        if path is None:
            msg = "connect files needs --path FOLDER (the folder with the CSV or XLSX exports)"
            raise ConfigError(msg)
        config["path"] = str(Path(path).expanduser().resolve())
    elif path is not None:
        msg = f"--path is for the files ledger, not for {ledger}"
        raise ConfigError(msg)
    factory = registry.ledger_factory(ledger)
    store = ctx.store()
    connection_ledger = factory(config)  # validates the config before anything is stored
    found = connection_ledger.administrations()
    with store.begin() as conn:
        connection = records.save_connection(
            conn, name=name or ledger, ledger=ledger, config=config, now=datetime.now(UTC)
        )
        admins = records.save_administrations(conn, connection.id, found)
    click.echo(f"connected {connection.name!r} ({ledger}); administrations:")
    print_administrations(admins, sys.stdout)
