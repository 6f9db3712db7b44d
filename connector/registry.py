"""Ledgers and payment providers, found by name through entry points.

Third parties ship a ledger as their own distribution with an entry point in the group
`dunning_connector.ledgers`; nothing here imports an adapter module until it is asked for.
A ledger that signs in over OAuth2 puts an `OAuthSpec` named `OAUTH_SPEC` next to its
factory, in the module the entry point names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint
from importlib.metadata import entry_points
from typing import Any
from typing import cast

from connector.errors import ConfigError
from connector.errors import UnknownPlugin
from connector.ports import LedgerFactory
from connector.ports import LedgerWebhooks
from connector.ports import OAuthSpec

LEDGER_GROUP = "dunning_connector.ledgers"
PROVIDER_GROUP = "dunning_connector.providers"


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> list[str]:
    """Names installed in the group, sorted."""
    return sorted(_entry_points(group))


@cache
def _load(group: str, name: str) -> Callable[..., Any]:
    found = _entry_points(group)
    if name not in found:
        kind = "ledger" if group == LEDGER_GROUP else "payment provider"
        known = ", ".join(sorted(found)) or "none"
        msg = f"unknown {kind} {name!r}; installed: {known}"
        raise UnknownPlugin(msg)
    try:
        obj = found[name].load()
    except Exception as exc:  # a broken plug-in must not take the CLI down with a traceback
        msg = f"the {name!r} plug-in failed to load ({found[name].value}): {exc}"
        raise ConfigError(msg) from exc
    if not callable(obj):
        msg = f"the {name!r} plug-in ({found[name].value}) is not a factory"
        raise ConfigError(msg)
    return cast(Callable[..., Any], obj)


def ledger_factory(name: str) -> LedgerFactory:
    return cast(LedgerFactory, _load(LEDGER_GROUP, name))


def ledger_oauth_spec(name: str) -> OAuthSpec | None:
    """The ledger's declared OAuth needs, or None for a ledger that does not sign in."""
    _load(LEDGER_GROUP, name)  # the same checks and messages as for the factory
    entry = _entry_points(LEDGER_GROUP)[name]
    spec = getattr(importlib.import_module(entry.module), "OAUTH_SPEC", None)
    if spec is not None and not isinstance(spec, OAuthSpec):
        msg = f"the {name!r} plug-in ({entry.module}.OAUTH_SPEC) is not an OAuthSpec"
        raise ConfigError(msg)
    return spec


def provider_factory(name: str) -> Callable[..., Any]:
    return _load(PROVIDER_GROUP, name)


def ledger_webhooks(name: str) -> LedgerWebhooks | None:
    """The ledger's webhook verifier (`WEBHOOKS` in its module), or None when it has none."""
    _load(LEDGER_GROUP, name)
    entry = _entry_points(LEDGER_GROUP)[name]
    hooks = getattr(importlib.import_module(entry.module), "WEBHOOKS", None)
    if hooks is not None and not callable(getattr(hooks, "verify", None)):
        msg = f"the {name!r} plug-in ({entry.module}.WEBHOOKS) has no verify()"
        raise ConfigError(msg)
    return cast(LedgerWebhooks | None, hooks)


def provider_links(name: str) -> Callable[..., Any] | None:
    """The provider's payment-link factory (`create_links` in its module), or None."""
    _load(PROVIDER_GROUP, name)
    entry = _entry_points(PROVIDER_GROUP)[name]
    factory = getattr(importlib.import_module(entry.module), "create_links", None)
    return cast(Callable[..., Any], factory) if callable(factory) else None
