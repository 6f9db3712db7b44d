from __future__ import annotations

import pytest

from connector import registry
from connector.errors import UnknownPlugin


def test_files_ledger_is_registered_and_loads_lazily():
    assert "files" in registry.available(registry.LEDGER_GROUP)
    factory = registry.ledger_factory("files")
    assert callable(factory)


def test_unknown_ledger_names_what_is_installed():
    with pytest.raises(UnknownPlugin) as err:
        registry.ledger_factory("sap")
    assert "unknown ledger 'sap'" in str(err.value)
    assert "files" in str(err.value)


def test_unknown_provider_is_reported_as_provider():
    with pytest.raises(UnknownPlugin, match="unknown payment provider 'paypal'"):
        registry.provider_factory("paypal")


def test_core_never_imports_adapters_or_webhooks():
    import pathlib
    import re

    core = pathlib.Path(registry.__file__).parent
    pattern = re.compile(r"^\s*(from|import)\s+(adapters|webhooks)\b", re.M)
    offenders = [
        str(p.relative_to(core))
        for p in core.rglob("*.py")
        if p.relative_to(core).parts[0] != "cli" and pattern.search(p.read_text())
    ]
    assert offenders == []
