"""Point 12.4: a fuzz of the configuration (hypothesis) never yields a traceback, and an
unknown key never passes.

Three kinds of input: random documents (random keys, random value types, nested); a real,
complete configuration with one key typo'd; the same with one value replaced by a value of a
random type. Each goes through the schema and then the semantic parsers every command uses
(policies, scheduler, channels, payment providers), and some through the command line, where
the only acceptable outcomes are exit 0 or one line with exit 2.
"""

from __future__ import annotations

import json
import os
import string
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from connector import registry
from connector.cli.channels import message_channels
from connector.config import plugins
from connector.config.schema import ConfigFile
from connector.config.validate import known_keys
from connector.config.validate import validate_document
from connector.dunning.policy import load_dunning_config
from connector.errors import ConfigError
from connector.scheduler import scheduler_settings
from connector.settings import Settings
from tests.fakes.cli import cli_runner

REAL: dict[str, Any] = {
    "timezone": "Europe/Amsterdam",
    "log_level": "INFO",
    "sync_batch_size": 500,
    "scheduler": {"sync_interval_minutes": 30, "dunning_time": "09:00"},
    "dunning": {
        "default_policy": "standard",
        "approval": False,
        "arrangement_grace_days": 5,
        "segments": [{"policy": "standard", "kind": "consumer", "tags_any": ["vip"]}],
    },
    "policies": {
        "standard": {
            "min_days_between_letters": 7,
            "steps": [
                {
                    "name": "reminder_1",
                    "days_after_due": 2,
                    "channels": ["email"],
                    "minimum_amount": "5.00",
                },
                {
                    "name": "final_notice",
                    "kind": "final_notice",
                    "days_after_due": 30,
                    "channels": ["email", "letter"],
                    "collection_costs": "bik",
                    "interest": "statutory",
                    "consumer_template": "final_notice_consumer",  # 13.4: a court's reading
                },
            ],
        }
    },
    "administrations": {
        "acme": {"approval": True, "sender": {"iban": "NL91ABNA0417164300", "city": "Utrecht"}}
    },
    "channels": {
        "email": {"host": "smtp.example.nl", "port": 587, "from_address": "a@example.nl"},
        "letter": {"folder": "print"},
    },
    "ledgers": {
        "exact": {"client_id": "x", "api_url": "https://start.exactonline.nl", "retries": 3},
        "moneybird": {"rate_limit_requests": 100},
        "twinfield": {"credits_per_minute": 25},
    },
    "providers": {"mollie": {"timeout": 5}, "adyen": {"capture": "auto"}},
}

# Tables whose keys are names (of a policy, an administration, a ledger) rather than keys.
_NAME_TABLES = {("policies",), ("administrations",), ("ledgers",), ("providers",)}

scalars = st.one_of(  # what TOML can hold: no null
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.dates(),
)
keys = st.text(alphabet=string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


def _leaf_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*prefix, key))
            paths.extend(_leaf_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths.extend(_leaf_paths(value, (*prefix, index)))
    return paths


KEY_PATHS = [p for p in _leaf_paths(REAL) if isinstance(p[-1], str)]
VALUE_PATHS = _leaf_paths(REAL)


def _copy(node: Any) -> Any:
    return json.loads(json.dumps(node))


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> None:
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _rename(document: Any, path: tuple[Any, ...], new: str) -> None:
    node = document
    for part in path[:-1]:
        node = node[part]
    node[new] = node.pop(path[-1])


def _allowed(path: tuple[Any, ...]) -> set[str] | None:
    """The keys allowed where `path` ends, or None where any name is allowed."""
    parent = tuple(path[:-1])
    if parent in _NAME_TABLES:
        return None
    if parent[:1] in (("ledgers",), ("providers",)) and len(parent) == 2:
        group = plugins.LEDGER_GROUP if parent[0] == "ledgers" else plugins.PROVIDER_GROUP
        return set(known_keys(plugins.schema(group, parent[1]), ()))
    return set(known_keys(ConfigFile, parent))


def _every_parser(document: dict[str, Any]) -> None:
    """What the commands run over the file: the schema, then the semantic parsers."""
    validate_document(document, "c.toml")
    config = Settings(raw=MappingProxyType(document), config_path=Path("c.toml"))
    load_dunning_config(config)
    scheduler_settings(config.section("scheduler"), timezone="Europe/Amsterdam", where="c.toml")
    message_channels(config, {})
    for name, section in config.section("providers").items():
        registry.provider_factory(name)(dict(section))


def _outcome(document: dict[str, Any]) -> str:
    try:
        _every_parser(document)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("c.toml: "), message
        return "error"
    return "ok"


def test_the_real_configuration_passes():
    assert _outcome(_copy(REAL)) == "ok"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=5))
def test_random_documents_never_crash_and_unknown_keys_never_pass(document):
    known = set(known_keys(ConfigFile, ()))
    outcome = _outcome(document)
    if set(document) - known:
        assert outcome == "error"


typo = st.sampled_from(KEY_PATHS).flatmap(
    lambda path: st.tuples(
        st.just(path),
        st.sampled_from(["drop", "double", "swap", "case", "suffix"]),
        st.integers(min_value=0, max_value=30),
    )
)


def _typo(word: str, how: str, at: int) -> str:
    at = at % len(word)
    if how == "drop":
        return word[:at] + word[at + 1 :] or word + "x"
    if how == "double":
        return word[:at] + word[at] + word[at:]
    if how == "swap" and len(word) > 1:
        at = min(at, len(word) - 2)
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if how == "case":
        return word.upper() if word != word.upper() else word.lower()
    return word + "s"


@settings(max_examples=300, deadline=None)
@given(typo)
def test_a_typo_of_a_real_key_never_passes(case):
    path, how, at = case
    allowed = _allowed(path)
    new = _typo(path[-1], how, at)
    if allowed is None or new in allowed:
        return  # a name table (any name is fine) or the typo is another real key
    document = _copy(REAL)
    _rename(document, path, new)
    assert _outcome(document) == "error"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALUE_PATHS), values)
def test_a_value_of_a_random_type_never_crashes(path, value):
    document = _copy(REAL)
    _replace(document, path, value)
    _outcome(document)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(typo)
def test_a_typo_through_the_command_line_is_exit_2(folder: Path, capsys, case):
    path, how, at = case
    allowed = _allowed(path)
    new = _typo(path[-1], how, at)
    document = _copy(REAL)
    _rename(document, path, new)
    result = _run_cli(folder, capsys, document)
    if allowed is None or new in allowed:
        assert result.code in (0, 2), result
    else:
        assert result.code == 2, (path, new, result)
        assert len(result.err.strip().splitlines()) == 1, result.err


def _run_cli(folder: Path, capsys: Any, document: dict[str, Any]) -> Any:
    path = folder / "connector.toml"
    path.write_text(_toml(document), encoding="utf-8")
    old = {k: os.environ.get(k) for k in ("CONNECTOR_CONFIG", "CONNECTOR_DATABASE_URL")}
    os.environ["CONNECTOR_CONFIG"] = str(path)
    os.environ["CONNECTOR_DATABASE_URL"] = f"sqlite:///{folder / 'c.db'}"
    try:
        return cli_runner(capsys)("dunning", "plan")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _toml(document: dict[str, Any]) -> str:
    """A tiny TOML writer for the fuzz (inline tables), enough for what the strategies make."""

    def value(node: Any) -> str:
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, int | float):
            return repr(node)
        if isinstance(node, date):
            return node.isoformat()
        if isinstance(node, str):
            return json.dumps(node)
        if isinstance(node, list):
            return "[" + ", ".join(value(v) for v in node) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(v)}" for k, v in node.items()) + "}"

    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in document.items() if v is not None)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A migrated store, so that a document that passes reaches the command itself."""
    from connector.store import Store

    made = tmp_path_factory.mktemp("fuzz-cli")
    store = Store(f"sqlite:///{made / 'c.db'}")
    store.migrate()
    store.dispose()
    return made


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(keys, values, min_size=1, max_size=4))
def test_the_command_line_exits_0_or_2_with_one_line(folder: Path, capsys, document):
    result = _run_cli(folder, capsys, document)
    assert "Traceback" not in result.err and "unexpected error" not in result.err, result.err
    if set(document) - set(known_keys(ConfigFile, ())):
        assert result.code == 2, (document, result)
    assert result.code in (0, 2), result
    if result.code == 0:
        assert result.out.startswith("ADMINISTRATION"), result.out  # the (empty) plan
    else:
        assert len(result.err.strip().splitlines()) == 1, result.err
