"""The files ledger needs no sign-in: "access" is a directory the connector can read.

`check_directory` turns a configured path into a usable directory, or raises `ConfigError`
with one line that says what is wrong with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connector.errors import ConfigError


def path_from_config(config: Mapping[str, Any]) -> Path:
    """The `path` setting of the files ledger, checked."""
    value = config.get("path")
    if value is None or (isinstance(value, str) and not value.strip()):
        msg = "the files ledger needs a 'path' setting: the directory with the exported files"
        raise ConfigError(msg)
    if not isinstance(value, str | os.PathLike):
        msg = f"the files ledger 'path' must be a directory path, got {value!r}"
        raise ConfigError(msg)
    return check_directory(Path(value).expanduser())


def check_directory(path: Path) -> Path:
    """`path` if it is an existing directory this process can list and read."""
    if not path.exists():
        msg = f"files ledger: {path} does not exist; point 'path' at the export directory"
        raise ConfigError(msg)
    if not path.is_dir():
        msg = f"files ledger: {path} is not a directory; point 'path' at the export directory"
        raise ConfigError(msg)
    if not os.access(path, os.R_OK | os.X_OK):
        msg = f"files ledger: {path} is not readable; check the directory's permissions"
        raise ConfigError(msg)
    return path
