"""Every key the schema knows, as (table, key) pairs: what the README's key reference must
list, no more and no less (tests/connector/config/test_readme_keys.py).

Tables are written as in TOML without brackets; a name a person chooses is a capital word:
`policies.NAME.steps` (an array of tables), `administrations.REF.sender`, `ledgers.exact`.
Top-level keys have the table "". The core's OAuth keys of an OAuth ledger's table are listed
once, as `ledgers.NAME`.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from connector.config import plugins
from connector.config.base import OAuthLedgerSection
from connector.config.schema import ConfigFile
from connector.config.validate import _unwrap

#: The capital word for the names of each table of names.
_NAMES = {"policies": "NAME", "administrations": "REF"}


def _walk(
    model: type[BaseModel],
    table: str,
    out: set[tuple[str, str]],
    skip: frozenset[str] = frozenset(),
) -> None:
    for key, field in model.model_fields.items():
        if key in skip:
            continue
        tp = _unwrap(field.annotation)
        origin = typing.get_origin(tp)
        here = f"{table}.{key}" if table else key
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            _walk(tp, here, out)
        elif origin is list and _is_model(typing.get_args(tp)[0]):
            _walk(_unwrap(typing.get_args(tp)[0]), here, out)
        elif origin is dict and _is_model(typing.get_args(tp)[1]):
            _walk(_unwrap(typing.get_args(tp)[1]), f"{here}.{_NAMES.get(key, 'NAME')}", out)
        elif key in ("ledgers", "providers", "payment_links"):
            continue  # the plug-ins' own schemas, below
        else:
            out.add((table, key))


def _is_model(tp: Any) -> bool:
    tp = _unwrap(tp)
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def schema_keys() -> set[tuple[str, str]]:
    """(table, key) for every key of the core schema and of every installed plug-in's."""
    out: set[tuple[str, str]] = set()
    _walk(ConfigFile, "", out)
    for group, table in ((plugins.LEDGER_GROUP, "ledgers"), (plugins.PROVIDER_GROUP, "providers")):
        for name in sorted(plugins.installed(group)):
            schema = plugins.schema(group, name)
            if schema is None:
                continue
            oauth: frozenset[str] = frozenset()
            if isinstance(schema, type) and issubclass(schema, OAuthLedgerSection):
                # the core's OAuth keys, the same for every OAuth ledger: listed once
                oauth = frozenset(OAuthLedgerSection.model_fields)
                out.update(("ledgers.NAME", key) for key in oauth)
            _walk(schema, f"{table}.{name}", out, oauth)
    for name in sorted(plugins.installed(plugins.PROVIDER_GROUP)):
        links = plugins.schema(plugins.PROVIDER_GROUP, name, "LINKS_SCHEMA")
        if links is not None:
            out.add(("payment_links", "provider"))
            _walk(links, "payment_links", out)
    return out
