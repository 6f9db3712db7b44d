"""What every command shares: settings, the store, ledgers, and small helpers."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import TextIO

import click

from connector.errors import ConfigError
from connector.oauth.service import OAuthLedgers
from connector.output import write_table
from connector.ports import Ledger
from connector.settings import Settings
from connector.settings import load_settings
from connector.store import Store
from connector.store import records
from connector.store.records import AdministrationRecord
from connector.store.records import ConnectionRecord
from connector.sync import ProgressFactory
from connector.sync import no_progress


@dataclass
class Context:
    config_path: str | None
    debug: bool
    _settings: Settings | None = None
    _store: Store | None = None
    _oauth: OAuthLedgers | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(os.environ, config_path=self.config_path)
            self.configure_logging(default=None)
        return self._settings

    def configure_logging(self, *, default: str | None) -> None:
        """The root logger at `log_level` (CONNECTOR_LOG_LEVEL), else at `default`: long-
        running commands log their routine at INFO, one-off commands stay at WARNING."""
        level = "DEBUG" if self.debug else (self.settings.log_level or default)
        if level is not None:
            logging.getLogger().setLevel(level)
            if level != "DEBUG":  # alembic's "Context impl SQLiteImpl." at every start
                logging.getLogger("alembic").setLevel(logging.WARNING)

    def store(self, *, migrated: bool = True) -> Store:
        if self._store is None:
            self._store = Store(self.settings.database_url)
        if migrated:
            self._store.check_current()
        return self._store

    def use_store(self, url: str) -> None:
        """Work on this store instead of the configured one (`connector demo --store`)."""
        self.close()
        self._store = Store(url)

    def close(self) -> None:
        self._oauth = None
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def oauth(self) -> OAuthLedgers:
        """OAuth specs, clients, the token vault (opened on first need) and ledgers."""
        if self._oauth is None:
            self._oauth = OAuthLedgers(self.settings, self.store(), os.environ)
        return self._oauth

    def ledger_for(self, connection: ConnectionRecord) -> Ledger:
        return self.oauth().open_ledger(connection)


pass_context = click.make_pass_decorator(Context)

json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
administration_option = click.option(
    "--administration",
    metavar="ID",
    help="Only this administration (id, ledger id or name).",
)


def progress() -> ProgressFactory:
    if not sys.stderr.isatty():
        return no_progress
    from tqdm import tqdm

    def factory(label: str, total: int | None) -> Any:
        return tqdm(total=total, desc=label, unit=" rows", leave=False, file=sys.stderr)

    return factory


def check_administration_refs(ctx: Context) -> None:
    """Stop (exit 2, one line) when `[administrations.REF]` or a segment rule names an
    administration the store does not have: a typo would otherwise silently not apply."""
    from connector.config.references import unknown_administrations

    with ctx.store().begin() as conn:
        admins = records.list_administrations(conn)
    where = str(ctx.settings.config_path or "connector.toml")
    problems = unknown_administrations(ctx.settings.raw, admins, where)
    if problems:
        raise ConfigError(problems[0])


def admin_ids(conn: Any, ref: str | None) -> list[int] | None:
    if ref is None:
        return None
    return [records.find_administration(conn, ref).id]


def selected_admins(conn: Any, ref: str | None) -> list[AdministrationRecord]:
    if ref is not None:
        return [records.find_administration(conn, ref)]
    return records.list_administrations(conn)


def print_administrations(admins: Sequence[AdministrationRecord], out: TextIO) -> None:
    write_table(
        ["ID", "NAME", "CONNECTION", "LEDGER ID", "LAST SYNC", "STATUS"],
        [
            (
                a.id,
                a.name,
                a.connection_name,
                a.external_id,
                a.last_sync_at.strftime("%Y-%m-%d %H:%M") if a.last_sync_at else "never",
                a.last_sync_status + (f": {a.last_sync_error}" if a.last_sync_error else ""),
            )
            for a in admins
        ],
        out,
        right=(0,),
    )
