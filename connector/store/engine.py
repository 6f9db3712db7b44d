"""Opening the store, migrating it, and transactions that fit each backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy import table as sql_table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError

try:  # POSIX; elsewhere SQLite's busy timeout alone orders the writers
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from connector.errors import ConfigError
from connector.errors import StoreError

_IMMEDIATE = "connector_immediate"
_BUSY_TIMEOUT_MS = 30000


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("connector.store") / "migrations"))
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions behind our back; take control so that BEGIN
    # IMMEDIATE is possible (the SQLAlchemy documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: in WAL mode NORMAL syncs the log only at checkpoints, so commits acknowledged
    # to a payment provider could vanish in a power cut. FULL syncs at every commit; the
    # webhook writer's group commit shares one sync between many events (bench/webhooks.py
    # --sync-cost measures the price).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _WriterLock:
    """Writers of one SQLite file queue on an OS file lock before BEGIN IMMEDIATE.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so two processes that both
    commit often (two gunicorn workers' webhook writers) starve each other for seconds
    while the lock is free most of the time. A blocking flock wakes the next writer as soon
    as the lock is released. Processes that do not take it (an older version, a tool) still
    meet SQLite's busy timeout as before; a killed holder releases it with its process.
    """

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".writer-lock")
        self._thread_lock = threading.Lock()  # flock does not exclude threads of one process
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            assert fcntl is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            self._thread_lock.release()  # no lock file (read-only folder): SQLite's alone
            self._fd = None
            return
        except BaseException:
            self._thread_lock.release()
            raise

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None:
                assert fcntl is not None
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


class Store:
    """The database behind the connector: an engine plus the transactions we need."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:
            msg = f"database URL {url!r} is not valid: {exc}"
            raise ConfigError(msg) from exc
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        # No bound parameter in any log line or error message: they hold payer names, IBANs
        # and references (a failed INSERT's message would otherwise quote them all).
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                parent = Path(database).expanduser().resolve().parent
                if not parent.is_dir():
                    msg = (
                        f"the store's folder {parent} does not exist; "
                        "create it or change database_url"
                    )
                    raise ConfigError(msg)
        elif self.dialect == "postgresql":
            kwargs["pool_pre_ping"] = True
            if "connect_timeout" not in parsed.query:
                # libpq waits for ever on an unreachable host; readiness must not.
                kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except (ImportError, SQLAlchemyError) as exc:
            hint = " (install the extra: pip install 'dunning-connector[postgres]')"
            msg = f"cannot open the store {parsed.render_as_string(hide_password=True)}: {exc}"
            raise ConfigError(msg + (hint if isinstance(exc, ImportError) else "")) from exc
        # Bulk upserts go out as multi-row statements, one per batch (see store.upsert).
        self.engine.dialect.use_insertmanyvalues_wo_returning = True
        self._writers: _WriterLock | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            database = parsed.database or ""
            if database and database != ":memory:" and fcntl is not None:
                self._writers = _WriterLock(Path(database).expanduser().resolve())

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self, *, immediate: bool = False) -> Iterator[Connection]:
        """A transaction; `immediate` takes the write lock up front (SQLite BEGIN IMMEDIATE)."""
        if immediate and self._writers is not None:
            with self._writers, self._begin(immediate=True) as conn:
                yield conn
            return
        with self._begin(immediate=immediate) as conn:
            yield conn

    @contextmanager
    def _begin(self, *, immediate: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if immediate:
                    conn = conn.execution_options(**{_IMMEDIATE: True})
                with conn.begin():
                    yield conn
        except (OperationalError, InterfaceError) as exc:  # the database, not our statement
            msg = f"the store {self.describe()} failed: {exc.orig or exc}"
            raise StoreError(msg) from exc

    def check_ready(self, table: str, *, timeout: float = 1.0) -> None:
        """Can a write to `table` start within `timeout` seconds? For /readyz.

        `SELECT 1` proves only that a connection opens: it answers while another process
        holds SQLite's write lock for minutes, or while a migration holds a PostgreSQL
        table lock, and every webhook then waits and fails. So this takes the lock an
        insert needs (SQLite BEGIN IMMEDIATE; PostgreSQL ROW EXCLUSIVE on the table) with
        a short timeout, reads the table, and rolls back.

        Raises:
            StoreError: unreachable, locked, or the table cannot be read.
        """
        millis = max(int(timeout * 1000), 1)
        quoted = self.engine.dialect.identifier_preparer.quote(table)
        probe: Any = select(literal_column("1")).select_from(sql_table(table)).limit(1)
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    # On the DBAPI connection: a pragma through SQLAlchemy would autobegin.
                    raw: Any = conn.connection.dbapi_connection
                    raw.execute(f"PRAGMA busy_timeout={millis}")
                    try:
                        with conn.execution_options(**{_IMMEDIATE: True}).begin():
                            conn.execute(probe).all()
                    finally:
                        raw.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
                    return
                trans = conn.begin()
                try:
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {millis}")
                        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis * 2}")
                        conn.exec_driver_sql(f"LOCK TABLE {quoted} IN ROW EXCLUSIVE MODE")
                    conn.execute(probe).all()
                finally:
                    trans.rollback()
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [""])[0]
            msg = f"the store {self.describe()} is not ready: {first}"
            raise StoreError(msg) from exc

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest revision; returns it."""
        config = _alembic_config()
        try:
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except OperationalError as exc:
            msg = f"cannot create or upgrade the store {self.describe()}: {exc.orig or exc}"
            raise StoreError(msg) from exc
        return self.head()

    @staticmethod
    def head() -> str:
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None
        return head

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            msg = f"cannot open the store {self.describe()}: {exc.orig or exc}"
            raise StoreError(msg) from exc

    def check_current(self) -> None:
        """Refuse to work on a store that is missing or older than this code."""
        current = self.revision()
        if current is None:
            msg = f"the store {self.describe()} is not set up; run: connector init"
            raise ConfigError(msg)
        if current != self.head():
            msg = f"the store {self.describe()} is at revision {current}; run: connector init"
            raise ConfigError(msg)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()
