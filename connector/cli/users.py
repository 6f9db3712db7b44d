"""`connector users add | list | grant`: the first users of a firm (later: in the workspace)."""

from __future__ import annotations

import sys
from datetime import UTC
from datetime import datetime

import click
from sqlalchemy import Connection

from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.errors import ConfigError
from connector.errors import NotFound
from connector.firms import users as firm_users
from connector.firms.tables import Role
from connector.output import write_table
from connector.store import records


@click.group()
def users() -> None:
    """Users of the workspace: firms, roles and the administrations they may see."""


def _admin_ids(conn: Connection, refs: tuple[str, ...]) -> list[int]:
    return [records.find_administration(conn, ref).id for ref in refs]


@users.command("add")
@click.argument("email")
@click.option("--firm", required=True, help="The firm (made when it does not exist yet).")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="owner: everything of the firm; controller: acts; viewer: reads.",
)
@click.option(
    "--administration",
    "administrations",
    multiple=True,
    metavar="ID",
    help="Grant this administration (id, ledger id or name); repeatable.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
@pass_context
def add_command(
    ctx: Context,
    email: str,
    firm: str,
    role: str,
    administrations: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Add a user; the password is asked for (or read from stdin), never an argument."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    now = datetime.now(UTC)
    with ctx.store().begin() as conn:
        user = firm_users.add_user(
            conn, email=email, firm=firm, role=Role(role), password=password, now=now
        )
        ids = _admin_ids(conn, administrations)
        if ids:
            firm_users.grant(conn, user, ids)
    granted = f", {len(ids)} administration(s) granted" if ids else ""
    click.echo(f"user {user.email} ({user.role.value}) of firm {user.firm_name} added{granted}")


@users.command("grant")
@click.argument("email")
@click.argument("administrations", nargs=-1, required=True)
@pass_context
def grant_command(ctx: Context, email: str, administrations: tuple[str, ...]) -> None:
    """Let a user see these administrations (made the user's firm's when nobody's yet)."""
    address = firm_users.normalise_email(email)
    with ctx.store().begin() as conn:
        found = [u for u in firm_users.list_users(conn) if u.email == address]
        if not found:
            msg = f"no user {address}; see: connector users list"
            raise NotFound(msg)
        ids = _admin_ids(conn, administrations)
        firm_users.grant(conn, found[0], ids)
    click.echo(f"{address} may see {len(ids)} more administration(s)")


@users.command("list")
@click.option("--firm", help="Only this firm's users.")
@pass_context
def list_command(ctx: Context, firm: str | None) -> None:
    """Users with firm and role."""
    with ctx.store().begin() as conn:
        fid = None
        if firm is not None:
            try:
                fid = firm_users.firm_id(conn, firm, datetime.now(UTC), create=False)
            except NotFound:
                msg = f"no firm {firm!r}"
                raise ConfigError(msg) from None
        found = firm_users.list_users(conn, fid)
    write_table(
        ["EMAIL", "FIRM", "ROLE", "ACTIVE"],
        [(u.email, u.firm_name, u.role.value, "yes" if u.active else "no") for u in found],
        sys.stdout,
    )
