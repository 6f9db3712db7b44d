"""The files ledger: debtors and open items from CSV/XLSX aging exports in a directory.

Registered as the `files` entry point of `dunning_connector.ledgers`; configure it with
`path`, the directory that holds the exports (see `adapters.files.ledger`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.files.auth import path_from_config
from adapters.files.ledger import FilesLedger

__all__ = ["FilesLedger", "create_ledger"]


def create_ledger(config: Mapping[str, Any]) -> FilesLedger:
    """The files ledger over `config["path"]`.

    Raises:
        ConfigError: the path is missing or not a readable directory.
    """
    return FilesLedger(path_from_config(config))
