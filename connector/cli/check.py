"""`connector check`: everything that would stop or spoil a run, found before the run.

A check is a function of the command's `Context` that returns problem lines (empty: fine);
`CHECKS` lists them in order, so another part adds its own with one line. The configuration
is read first: a file that does not pass its schema stops with exit 2 and one line, as in
every command. The rest print one line per problem and the command exits 1 if there is any.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import sys
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

import click

from connector.channels.email import EmailChannel
from connector.channels.letter import LetterChannel
from connector.channels.outbox import OutboxChannel
from connector.cli.channels import message_channels
from connector.cli.context import Context
from connector.cli.context import pass_context
from connector.config import plugins
from connector.config.references import unknown_administrations
from connector.dunning.collector import wki_problems
from connector.dunning.model import ChannelKind
from connector.dunning.policy import DunningConfig
from connector.dunning.policy import Policy
from connector.dunning.policy import load_dunning_config
from connector.dunning.readiness import check_dunning
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.oauth import records as oauth_records
from connector.ports import SelfChecking
from connector.scheduler import scheduler_settings
from connector.store import records

Check = Callable[[Context], list[str]]

#: Channels that live in the store or a folder of their own and need no configuration.
_ALWAYS = frozenset({ChannelKind.CALL, ChannelKind.COLLECTION})


def _where(ctx: Context) -> str:
    return str(ctx.settings.config_path or "connector.toml")


def config_problems(ctx: Context) -> list[str]:
    """The semantic parsers over the file (the schema has already passed): policies,
    scheduler, channels. Their errors are configuration errors: exit 2, as everywhere."""
    settings = ctx.settings
    load_dunning_config(settings)
    scheduler_settings(settings.section("scheduler"), timezone=settings.timezone, where=_where(ctx))
    message_channels(settings, os.environ)
    problems = []
    for group, table in ((plugins.LEDGER_GROUP, "ledgers"), (plugins.PROVIDER_GROUP, "providers")):
        for name in settings.section(table):
            if plugins.schema(group, name) is None:
                problems.append(
                    f"{_where(ctx)}: {table}.{name}: the plug-in declares no settings schema, "
                    "so its keys are not checked"
                )
    return problems


def store_problems(ctx: Context) -> list[str]:
    """The store opens and is at this code's revision."""
    try:
        ctx.store()
    except ConnectorError as exc:
        return [str(exc)]
    return []


def _store_ready(ctx: Context) -> bool:
    return not store_problems(ctx)


def connection_problems(ctx: Context) -> list[str]:
    """Each connection: active, its ledger opens (settings, client secret, folder), and an
    OAuth connection has tokens the vault can open."""
    if not _store_ready(ctx):
        return []
    store = ctx.store()
    with store.begin() as conn:
        connections = records.list_connections(conn)
        tokens = oauth_records.token_overview(conn)
    problems: list[str] = []
    for connection in connections:
        label = f"connection {connection.name!r} ({connection.ledger})"
        if connection.status == oauth_records.DISCONNECTED:
            continue
        if connection.status != oauth_records.ACTIVE:
            problems.append(
                f"{label}: {connection.status}: {connection.status_reason}; connect again: "
                f"connector connect {connection.ledger} --name {connection.name}"
            )
            continue
        try:
            oauth = ctx.oauth().spec(connection.ledger) is not None
            if oauth:
                ctx.oauth().vault  # noqa: B018 - a key that cannot open the tokens is a problem
            ledger = ctx.ledger_for(connection)
            if isinstance(ledger, SelfChecking):
                problems += [f"{label}: {line}" for line in ledger.configuration_problems()]
        except ConnectorError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if oauth:
            found = tokens.get(connection.id)
            if found is None:
                problems.append(
                    f"{label}: no tokens are stored; connect again: "
                    f"connector connect {connection.ledger} --name {connection.name}"
                )
            elif not found.has_refresh_token and found.expires_at is not None:
                now = ctx.oauth().clock()
                if found.expires_at <= now:
                    problems.append(
                        f"{label}: the access token expired at {found.expires_at:%Y-%m-%d %H:%M} "
                        "and there is no refresh token; connect again"
                    )
    return problems


def administration_problems(ctx: Context) -> list[str]:
    """`[administrations.REF]` and segment rules name administrations the store has."""
    if not _store_ready(ctx):
        return []
    with ctx.store().begin() as conn:
        admins = records.list_administrations(conn)
    return unknown_administrations(ctx.settings.raw, admins, _where(ctx))


def _writable(folder: Path, what: str) -> list[str]:
    """The folder (or, while it does not exist yet, the folder it will be made in) can be
    written by this process. Nothing is created."""
    target = folder.resolve()
    while not target.exists() and target != target.parent:
        target = target.parent
    if not target.is_dir():
        return [f"the {what} folder {folder} cannot be made: {target} is not a folder"]
    if not os.access(target, os.W_OK | os.X_OK):
        return [f"the {what} folder {folder} is not writable (no write permission on {target})"]
    return []


def smtp_problems(channel: EmailChannel) -> list[str]:
    """Connect and EHLO (and STARTTLS where configured); nothing is sent, no login tried."""
    smtp = channel.smtp
    where = f"{smtp.host}:{smtp.effective_port}"
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.effective_port, timeout=smtp.timeout, context=smtp.tls_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.effective_port, timeout=smtp.timeout)
        try:
            code, reply = client.ehlo()
            if code != 250:
                return [f"the SMTP server {where} refused EHLO: {code} {reply!r}"]
            if smtp.security == "starttls" and not client.has_extn("starttls"):
                return [f"the SMTP server {where} does not offer STARTTLS"]
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        return [f"cannot reach the SMTP server {where}: {exc}"]
    return []


def channel_problems(ctx: Context) -> list[str]:
    """Every channel a policy step uses is configured, the SMTP server answers, and the
    letter, outbox and collection folders are writable."""
    config = load_dunning_config(ctx.settings)
    channels = message_channels(ctx.settings, os.environ)
    problems: list[str] = []
    uses_collection = False
    for policy in _policies_in_use(ctx, config):
        missing: dict[str, list[str]] = {}
        for step in policy.steps:
            uses_collection = uses_collection or ChannelKind.COLLECTION in step.channels
            for kind in step.channels:
                if kind not in _ALWAYS and kind not in channels:
                    missing.setdefault(kind.value, []).append(step.name)
        for kind_name, steps in missing.items():
            problems.append(
                f"{_where(ctx)}: policies.{policy.name} sends by {kind_name} (steps "
                f"{', '.join(steps)}), but [channels.{kind_name}] is not configured"
            )
    for channel in channels.values():
        if isinstance(channel, EmailChannel):
            problems += smtp_problems(channel)
        elif isinstance(channel, LetterChannel | OutboxChannel):
            problems += _writable(channel.folder, channel.kind.value)
    if uses_collection:
        problems += _writable(Path(config.collection_folder), "collection")
    if ctx.settings.section("payment_links"):
        from connector.cli.dunning import payment_links

        try:
            payment_links(ctx)  # the provider's API key comes from the environment
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


_DUNNING_TABLES = ("dunning", "policies", "administrations", "channels")


def dunning_configured(ctx: Context) -> bool:
    """The file says something about dunning. Without any of it the built-in policy would
    need e-mail and letter channels nobody configured, so the scheduler runs no dunning."""
    return any(table in ctx.settings.raw for table in _DUNNING_TABLES)


def _policies_in_use(ctx: Context, config: DunningConfig) -> list[Policy]:
    """The policies a run may send by: none while the file configures no dunning at all (a
    store that only syncs, or the demo) or everything is in review mode (nothing leaves);
    else the default policy and every policy a segment or administration names."""
    if not dunning_configured(ctx):
        return []
    modes = {ctx.settings.section("dunning").get("mode")} | {
        table.get("mode")
        for table in ctx.settings.section("administrations").values()
        if table.get("mode")
    }
    if modes == {"review"}:
        return []
    names = {config.default_policy}
    names |= {rule.policy for rule in config.segments}
    names |= {a.policy for a in config.administrations.values() if a.policy}
    return [config.policies[name] for name in sorted(names) if name in config.policies]


#: What `connector check` runs, in order. Each returns problem lines; add one here.
def dunning_problems(ctx: Context) -> list[str]:
    """Each administration's sender, the interest-rate table's coverage, the templates (only
    where dunning is configured: otherwise the scheduler runs none either)."""
    if not _store_ready(ctx) or not dunning_configured(ctx):
        return []
    problems = check_dunning(ctx.settings, ctx.store())
    return problems + wki_problems(load_dunning_config(ctx.settings))


CHECKS: list[Check] = [
    config_problems,
    store_problems,
    connection_problems,
    administration_problems,
    channel_problems,
    dunning_problems,
]


def run_checks(ctx: Context, checks: Sequence[Check]) -> list[str]:
    """The problems of every check, in order. A configuration error stops at once (exit 2)."""
    ctx.settings  # noqa: B018 - the schema first: a bad file is one line and exit 2
    problems: list[str] = []
    for check_function in checks:
        try:
            problems += check_function(ctx)
        except ConfigError:
            raise
        except ConnectorError as exc:
            problems.append(str(exc))
    return problems


def _start_config(ctx: Context) -> list[str]:
    config_problems(ctx)  # its errors stop the start; a plug-in without a schema does not
    return []


#: What a long-running command checks before it starts (`connector run`, `scheduler`).
START_CHECKS: list[Check] = [_start_config, store_problems, channel_problems]


def refuse_to_start(ctx: Context, what: str) -> None:
    """Stop before starting `what` when a start check finds a problem: one line.

    Raises:
        ConfigError: the first problem, and how many more `connector check` lists.
    """
    problems = run_checks(ctx, START_CHECKS)
    if problems:
        more = f" (and {len(problems) - 1} more; run: connector check)" if problems[1:] else ""
        msg = f"cannot start {what}: {problems[0]}{more}"
        raise ConfigError(msg)


def listen_problem(bind: str) -> str | None:
    """Whether this process could listen on `bind` (host:port), checked before gunicorn
    starts, so a port in use is one line instead of gunicorn's retries and tracebacks."""
    if bind.startswith(("unix:", "fd://")):
        return None
    host, _, port_text = bind.rpartition(":")
    if not host:
        host, port_text = bind, "8000"  # gunicorn's default port
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        return f"--bind {bind}: expected HOST:PORT, e.g. 127.0.0.1:8000"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (
                f"cannot listen on {bind}: {exc.strerror or exc}; another program uses the "
                "port, or the address is not this machine's: --bind another one"
            )
    return None


def refuse_to_listen(bind: str) -> None:
    """Raises ConfigError (one line) when `bind` cannot be listened on."""
    problem = listen_problem(bind)
    if problem is not None:
        raise ConfigError(problem)


@click.command()
@pass_context
def check(ctx: Context) -> None:
    """Check the configuration, the store, connections and channels; one line per problem."""
    problems = run_checks(ctx, CHECKS)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(1)
    click.echo("everything checked: no problems")
