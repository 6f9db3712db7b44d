"""Settings: one TOML file plus `CONNECTOR_*` environment variables (which win).

The file is `CONNECTOR_CONFIG`, or `./connector.toml` when that exists. Secrets never go in
the file; they come from the environment. A bad value is reported with where it came from,
the key, and what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.config import validate_document
from connector.errors import ConfigError

DEFAULT_CONFIG = "connector.toml"
DEFAULT_DATABASE_URL = "sqlite:///connector.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: str = "Europe/Amsterdam"
    log_level: str | None = None  # None: WARNING, INFO for run / scheduler / serve
    sync_batch_size: int = 1000
    config_path: Path | None = None
    # The whole document, for sections that later parts own (ledgers, policies, ...).
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def section(self, *keys: str) -> Mapping[str, Any]:
        """A nested table of the config, empty when absent: `section("ledgers", "exact")`."""
        node: Any = self.raw
        for key in keys:
            node = node.get(key, {}) if isinstance(node, Mapping) else {}
        if not isinstance(node, Mapping):
            where = self.config_path or DEFAULT_CONFIG
            msg = f"{where}: {'.'.join(keys)}: expected a table, got {node!r}"
            raise ConfigError(msg)
        return node


def _database_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    try:
        make_url(value)
    except ArgumentError as exc:
        raise ValueError from exc
    return value


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError from exc
    return value


def _log_level(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ValueError
    return value.upper()


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = int(value)  # strings from the environment are accepted here
    if number < 1:
        raise ValueError
    return number


# key in the file -> (environment variable, parser, what a person should write)
_FIELDS: dict[str, tuple[str, Callable[[Any], Any], str]] = {
    "database_url": (
        "CONNECTOR_DATABASE_URL",
        _database_url,
        "a database URL such as sqlite:///connector.db or postgresql+psycopg://user@host/db",
    ),
    "timezone": ("CONNECTOR_TIMEZONE", _timezone, "an IANA timezone such as Europe/Amsterdam"),
    "log_level": ("CONNECTOR_LOG_LEVEL", _log_level, "one of " + ", ".join(LOG_LEVELS)),
    "sync_batch_size": ("CONNECTOR_SYNC_BATCH_SIZE", _positive_int, "a whole number >= 1"),
}


def load_settings(environ: Mapping[str, str], *, config_path: str | Path | None = None) -> Settings:
    """Read the config file (if any) and the environment into Settings."""
    explicit = config_path or environ.get("CONNECTOR_CONFIG")
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            msg = f"{path}: not valid TOML: {exc}"
            raise ConfigError(msg) from exc
        except OSError as exc:
            msg = f"{path}: cannot be read: {exc.strerror}"
            raise ConfigError(msg) from exc
    elif explicit:
        msg = f"{path}: config file not found (set CONNECTOR_CONFIG or pass --config)"
        raise ConfigError(msg)

    values: dict[str, Any] = {}
    for key, (env_name, parse, expected) in _FIELDS.items():
        if env_name in environ:
            source, raw = f"environment variable {env_name}", environ[env_name]
        elif key in document:
            source, raw = f"{path}: {key}", document[key]
        else:
            continue
        try:
            values[key] = parse(raw)
        except (ValueError, TypeError):
            msg = f"{source}: expected {expected}, got {raw!r}"
            raise ConfigError(msg) from None
    # The whole file against one schema first: an unknown table or key, a wrong type, a
    # policy or template that does not exist stops every command here, in one line.
    validate_document(document, str(path))
    return Settings(
        **values,
        config_path=path if path.is_file() else None,
        raw=MappingProxyType(document),
    )
