"""Every module that defines tables on the store's MetaData, so that migrations and the
schema check see all of them."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

TABLE_MODULES = (
    "connector.store.schema",
    "connector.dunning.tables",
    "connector.payments.tables",
    "connector.sync_metrics",
    "connector.firms.tables",
)


def all_metadata() -> MetaData:
    """The MetaData with every table module imported."""
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise
    from connector.store.schema import metadata

    return metadata
