"""Where a plug-in declares its settings: a schema next to its factory.

A ledger or payment provider registered under the entry-point groups of `connector.registry`
declares the keys of its `[ledgers.NAME]` / `[providers.NAME]` table as a pydantic model
(normally built on `connector.config.base.Section` or `OAuthLedgerSection`), found as:

- `SETTINGS_SCHEMA` in the module `<entry point module>.settings_schema`, or
- `SETTINGS_SCHEMA` in the entry point's module itself.

A provider that makes payment links declares the keys it takes in `[payment_links]` as
`LINKS_SCHEMA` in the same place. A third-party package does the same, so its keys are checked
like ours. A plug-in without a schema is reported by `connector check`; its keys pass unchecked.
"""

from __future__ import annotations

import importlib
from typing import Any

from connector import registry
from connector.errors import ConfigError

LEDGER_GROUP = registry.LEDGER_GROUP
PROVIDER_GROUP = registry.PROVIDER_GROUP


def installed(group: str) -> dict[str, str]:
    """Plug-in name -> the module its entry point names (the registry's own view, so a
    plug-in registered at run time counts too)."""
    return {name: ep.module for name, ep in registry._entry_points(group).items()}


def schema(group: str, name: str, attribute: str = "SETTINGS_SCHEMA") -> Any | None:
    """The plug-in's declared schema (a class with `model_validate`), or None when it
    declares none. A schema module that fails to import is a configuration error."""
    module = installed(group).get(name)
    if module is None:
        return None
    for candidate in (f"{module}.settings_schema", module):
        try:
            loaded = importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            if exc.name in (candidate, module):
                continue
            msg = f"the {name!r} plug-in's settings schema ({candidate}) failed to load: {exc}"
            raise ConfigError(msg) from exc
        except Exception as exc:  # a broken plug-in must not end in a traceback
            msg = f"the {name!r} plug-in's settings schema ({candidate}) failed to load: {exc}"
            raise ConfigError(msg) from exc
        found = getattr(loaded, attribute, None)
        if found is not None:
            if not callable(getattr(found, "model_validate", None)):
                msg = f"the {name!r} plug-in's {candidate}.{attribute} is not a pydantic model"
                raise ConfigError(msg)
            return found
    return None
