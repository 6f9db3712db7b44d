"""Connections: connect a ledger, list, disconnect, keep alive; the vault's key.

`connect files --path DIR` reads a folder of exports. `connect LEDGER` for a ledger that
signs in over OAuth prints the authorization URL alone on one line on stdout, opens a
browser (unless --no-browser), waits for http://127.0.0.1:PORT/callback, stores the
connection with its tokens encrypted and lists the administrations the grant reaches.
No listing ever shows a token.
"""

from __future__ import annotations

import logging
import sys
import webbrowser
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connector import registry
from connector.cli.context import Context
from connector.cli.context import json_option
from connector.cli.context import pass_context
from connector.cli.context import print_administrations
from connector.errors import ConfigError
from connector.oauth import flow
from connector.oauth import records as token_records
from connector.oauth.loopback import CallbackListener
from connector.oauth.service import disconnect as disconnect_connection
from connector.oauth.service import keep_alive as keep_alive_connections
from connector.output import write_json
from connector.output import write_table
from connector.store import records
from connector.store.tables import all_metadata
from connector.vault import KEY_ENV
from connector.vault import new_key
from connector.vault import rotate_stored

logger = logging.getLogger(__name__)


def _connect_files(ctx: Context, ledger: str, name: str | None, path: str | None) -> None:
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


@click.command()
@click.argument("ledger")
@click.option("--name", help="A name for this connection (default: the ledger's name).")
@click.option("--path", type=click.Path(), help="files ledger: the folder with the exports.")
@click.option("--no-browser", is_flag=True, help="OAuth: only print the URL, open no browser.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="OAuth: the callback is http://127.0.0.1:PORT/callback (register it at the ledger).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="OAuth: seconds to wait for the browser.",
)
@pass_context
def connect(
    ctx: Context,
    ledger: str,
    name: str | None,
    path: str | None,
    no_browser: bool,
    port: int,
    timeout: float,
) -> None:
    """Connect a ledger and list the administrations it reaches."""
    oauth = ctx.oauth()
    if ledger == "files" or oauth.spec(ledger) is None:
        _connect_files(ctx, ledger, name, path)
        return
    if path is not None:
        msg = f"--path is for the files ledger, not for {ledger}"
        raise ConfigError(msg)
    ctx.store()  # a store that is not set up stops us before the browser opens
    with CallbackListener(port) as listener:
        auth = flow.begin(oauth, ledger, name or ledger, listener.redirect_uri)
        click.echo(auth.url)
        sys.stdout.flush()
        click.echo(
            f"Open the URL above to connect {ledger}; waiting up to {timeout:g} s "
            f"for the answer on {listener.redirect_uri}",
            err=True,
        )
        if not no_browser and not webbrowser.open(auth.url):
            click.echo("(no browser could be opened: open the URL yourself)", err=True)
        answer = listener.wait(timeout)
    connection = flow.complete(oauth, auth, answer)
    admins = flow.discover(oauth, connection)
    click.echo(f"connected {connection.name!r} ({ledger}); administrations:")
    print_administrations(admins, sys.stdout)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@click.command("connections")
@json_option
@pass_context
def connections(ctx: Context, as_json: bool) -> None:
    """List the connections: status, administrations, access-token expiry (never a token)."""
    with ctx.store().begin() as conn:
        found = records.list_connections(conn)
        admins = records.list_administrations(conn)
        tokens = token_records.token_overview(conn)
        changed = token_records.status_changes(conn)
    by_connection: dict[int, list[records.AdministrationRecord]] = {}
    for admin in admins:
        by_connection.setdefault(admin.connection_id, []).append(admin)
    if as_json:
        rows = []
        for c in found:
            t = tokens.get(c.id)
            rows.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "ledger": c.ledger,
                    "status": c.status,
                    "status_reason": c.status_reason,
                    "status_changed_at": changed.get(c.id),
                    "administrations": [
                        {"id": a.id, "external_id": a.external_id, "name": a.name}
                        for a in by_connection.get(c.id, [])
                    ],
                    "access_token_expires_at": t.expires_at if t else None,
                    "token_refreshed_at": t.refreshed_at if t else None,
                    "refreshes": t.refresh_count if t else 0,
                }
            )
        write_json(rows, sys.stdout)
        return
    write_table(
        ["ID", "NAME", "LEDGER", "STATUS", "ADMINISTRATIONS", "TOKEN EXPIRES (UTC)"],
        [
            (
                c.id,
                c.name,
                c.ledger,
                c.status,
                ", ".join(a.name for a in by_connection.get(c.id, [])) or "-",
                _when(tokens[c.id].expires_at) if c.id in tokens else "-",
            )
            for c in found
        ],
        sys.stdout,
        right=(0,),
    )
    for c in found:
        if c.status != token_records.ACTIVE and c.status_reason:
            click.echo(f"{c.id}: {c.status_reason}")


@click.command()
@click.argument("connection", metavar="ID")
@pass_context
def disconnect(ctx: Context, connection: str) -> None:
    """Revoke a connection's grant, delete its tokens; its synced history stays."""
    with ctx.store().begin() as conn:
        found = records.find_connection(conn, connection)
    done = disconnect_connection(ctx.oauth(), found)
    click.echo(
        f"disconnected {found.name!r} ({found.ledger}): {done.revocation}; tokens deleted; "
        f"its administrations and their history stay "
        f"(connect again with: connector connect {found.ledger} --name {found.name})"
    )


@click.command("keep-alive")
@pass_context
def keep_alive(ctx: Context) -> None:
    """Refresh connections whose refresh token has been idle long (run daily from cron)."""
    results = keep_alive_connections(ctx.oauth())
    write_table(
        ["ID", "NAME", "LEDGER", "OUTCOME"],
        [(r.connection_id, r.name, r.ledger, r.outcome) for r in results],
        sys.stdout,
        right=(0,),
    )
    if any(r.outcome not in {"refreshed", "not due"} for r in results):
        sys.exit(1)


@click.group("secrets")
def secrets_group() -> None:
    """The key that encrypts stored tokens and secrets (CONNECTOR_SECRET_KEY)."""


@secrets_group.command("rotate")
@pass_context
def rotate(ctx: Context) -> None:
    """Re-encrypt everything stored with the first key of CONNECTOR_SECRET_KEY."""
    vault = ctx.oauth().vault  # refuses keys that cannot open what is stored
    with ctx.store().begin(immediate=True) as conn:
        count = rotate_stored(conn, vault, all_metadata())
    click.echo(
        f"re-encrypted {count} stored record(s) with the first key of {KEY_ENV}; "
        "the other keys can now be removed from it"
    )


@secrets_group.command("new-key")
def new_key_command() -> None:
    """Print a new key for CONNECTOR_SECRET_KEY (put it first, keep the old one after it)."""
    click.echo(new_key())
