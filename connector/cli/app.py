"""The `connector` command: the one composition root that wires store, ledgers and output.

Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. Errors are one line on stderr;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from connector.cli import check
from connector.cli import connections
from connector.cli import data
from connector.cli import dunning
from connector.cli import http
from connector.cli import jobs
from connector.cli import letters
from connector.cli import payments
from connector.cli import tasks
from connector.cli import users
from connector.cli.context import Context
from connector.errors import ConnectorError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $CONNECTOR_CONFIG or ./connector.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(package_name="dunning-connector")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """dunning-connector: keeps a company's receivables collected."""
    ctx.obj = Context(config_path=config_path, debug=debug)
    ctx.call_on_close(ctx.obj.close)


for command in (
    data.init,
    connections.connect,
    connections.connections,
    connections.disconnect,
    connections.keep_alive,
    connections.secrets_group,
    data.administrations,
    data.sync,
    data.debtors,
    data.items,
    data.report,
    data.demo,
    check.check,
    dunning.dunning,
    dunning.dispute,
    dunning.arrangement,
    dunning.pause,
    dunning.tasks,
    letters.letters,
    payments.webhooks,
    payments.payments,
    payments.outbox,
    http.serve,
    jobs.scheduler,
    jobs.run,
    tasks.worker,
    tasks.jobs,
    users.users,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: one line on stderr for any error, never a traceback without --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cli.main(args=args, prog_name="connector", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("connector: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConnectorError as exc:
        if debug:
            raise
        click.echo(f"connector: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"connector: unexpected error: {type(exc).__name__}: {exc} "
            "(run again with --debug for details)",
            err=True,
        )
        sys.exit(1)
