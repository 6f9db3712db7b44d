"""The up-front check of the whole configuration file: one line for the first problem.

`validate_document` runs the schema (`connector.config.schema`) over the parsed TOML, then the
plug-ins' own schemas over `[ledgers.NAME]`, `[providers.NAME]` and `[payment_links]`, then
what spans tables (a policy named elsewhere, a template that must exist, a step a policy
starts its backlog at). The first problem becomes a `ConfigError` of one line: the file, the
key path, what was expected, what was found, and "did you mean ..." for a near miss.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError

from connector.config import plugins
from connector.config.base import suggestion
from connector.config.schema import ConfigFile
from connector.errors import ConfigError

Loc = tuple[str | int, ...]
#: The channels that render a letter from a template (connector.dunning.policy).
MESSAGE_CHANNELS = frozenset({"email", "letter", "outbox"})


def validate_document(document: Mapping[str, Any], where: str) -> None:
    """Check the whole file.

    Raises:
        ConfigError: one line naming the file, the key and what was expected.
    """
    _check(ConfigFile, document, (), where)
    for group, table, kind in (
        (plugins.LEDGER_GROUP, "ledgers", "ledger"),
        (plugins.PROVIDER_GROUP, "providers", "payment provider"),
    ):
        installed = plugins.installed(group)
        for name, section in (document.get(table) or {}).items():
            if name not in installed:
                known = ", ".join(sorted(installed)) or "none"
                msg = (
                    f"{where}: {table}.{_key(name)}: unknown {kind}; installed: {known}"
                    f"{suggestion(name, installed)}"
                )
                raise ConfigError(msg)
            schema = plugins.schema(group, name)
            if schema is not None:
                _check(schema, section, (table, name), where)
    _check_payment_links(document.get("payment_links"), where)
    _check_references(document, where)


# --------------------------------------------------------------------------------------------
# Schema errors as one line
# --------------------------------------------------------------------------------------------


def _check(model: Any, data: Any, prefix: Loc, where: str) -> None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_line(model, data, exc.errors(), prefix, where)) from None


def _key(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    bare = part and all(c.isalnum() or c in "-_" for c in part)
    return part if bare else '"' + part.replace('"', '\\"') + '"'


def path_text(loc: Loc) -> str:
    """`policies.standard.steps[0].template`, TOML-quoted where a key needs it."""
    text = ""
    for part in loc:
        key = _key(part)
        text += key if isinstance(part, int) or not text else "." + key
    return text or "(the file)"


def _real_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """The error's location without pydantic's union-member tags ('str', 'int', ...): only
    the steps that exist in the document are kept."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, Mapping) and part in node):
            kept.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and isinstance(part, str) and part not in _UNION_TAGS:
            kept.append(part)  # a required key that is missing: name it, stop walking
            node = None
    return tuple(kept)


_UNION_TAGS = frozenset(
    {"str", "int", "float", "bool", "date", "none", "list[str]", "list", "dict", "function-after"}
)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            structured = [
                a
                for a in options
                if (isinstance(a, type) and issubclass(a, BaseModel))
                or typing.get_origin(_strip(a)) in (list, dict)
            ]
            tp = (structured or options)[0]
        else:
            return tp


def _strip(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def known_keys(model: Any, loc: Loc) -> list[str]:
    """The keys the schema allows in the table at `loc` (empty when it is not a table)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    for lead in ("Value error, ", "Assertion failed, "):
        if message.startswith(lead):
            return message[len(lead) :]
    if message.startswith("Input should be "):
        message = "expected " + message[len("Input should be ") :]
    elif message.startswith("List should have at least"):
        message = "expected a list with at least one entry"
    return f"{message}, got {error.get('input')!r}"


def _first_line(
    model: Any, data: Any, errors: Sequence[Mapping[str, Any]], prefix: Loc, where: str
) -> str:
    first = errors[0]
    loc = _real_loc(data, first["loc"])
    same = [e for e in errors if _real_loc(data, e["loc"]) == loc]
    path = path_text(prefix + loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        known = known_keys(model, loc[:-1])
        what = "unknown table" if isinstance(first.get("input"), Mapping) else "unknown key"
        if not known:
            return f"{where}: {path}: {what}; this table takes no keys"
        options = ", ".join(known)
        return (
            f"{where}: {path}: {what}; expected one of {options}{suggestion(str(loc[-1]), known)}"
        )
    if kind == "missing":
        return f"{where}: {path}: required, but missing"
    if len(same) > 1 and all(str(e["msg"]).startswith("Input should be ") for e in same):
        choices = " or ".join(str(e["msg"])[len("Input should be ") :] for e in same)
        return f"{where}: {path}: expected {choices}, got {first.get('input')!r}"
    if kind in ("model_type", "dict_type"):
        return f"{where}: {path}: expected a table, got {first.get('input')!r}"
    return f"{where}: {path}: {_describe(first)}"


# --------------------------------------------------------------------------------------------
# Across tables
# --------------------------------------------------------------------------------------------


def _check_payment_links(section: Any, where: str) -> None:
    if section is None:
        return
    provider = section.get("provider")
    installed = plugins.installed(plugins.PROVIDER_GROUP)
    if not isinstance(provider, str) or provider not in installed:
        known = ", ".join(sorted(installed)) or "none"
        msg = (
            f"{where}: payment_links.provider: unknown payment provider {provider!r}; "
            f"installed: {known}{suggestion(str(provider), installed)}"
        )
        raise ConfigError(msg)
    schema = plugins.schema(plugins.PROVIDER_GROUP, provider, "LINKS_SCHEMA")
    if schema is None:
        msg = f"{where}: payment_links.provider: {provider} cannot make payment links"
        raise ConfigError(msg)
    rest = {k: v for k, v in section.items() if k != "provider"}
    _check(schema, rest, ("payment_links",), where)


def shipped_templates() -> set[str]:
    """Names of the shipped letter templates (`reminder_1`, ..., per language folder)."""
    root = files("connector.dunning") / "templates"
    names: set[str] = set()
    for language in root.iterdir():
        if language.is_dir():
            names.update(
                entry.name[: -len(".j2")]
                for entry in language.iterdir()
                if entry.name.endswith(".j2") and not entry.name.startswith("_")
            )
    return names


def _own_templates(folder: str, at: str, where: str) -> set[str]:
    path = Path(folder)
    if not path.is_dir():
        msg = f"{where}: {at}: expected an existing folder of templates, got {folder!r}"
        raise ConfigError(msg)
    return {
        entry.stem
        for entry in [*path.glob("*.j2"), *path.glob("*/*.j2")]
        if not entry.name.startswith("_")
    }


def _check_references(document: Mapping[str, Any], where: str) -> None:
    policies = document.get("policies") or {}
    policy_names = {"default", *policies}
    dunning = document.get("dunning") or {}
    administrations = document.get("administrations") or {}

    def policy_ref(value: Any, at: str) -> None:
        if value is not None and value not in policy_names:
            msg = (
                f"{where}: {at}: expected a policy ({', '.join(sorted(policy_names))}), "
                f"got {value!r}{suggestion(str(value), policy_names)}"
            )
            raise ConfigError(msg)

    policy_ref(dunning.get("default_policy"), "dunning.default_policy")
    for index, rule in enumerate(dunning.get("segments") or []):
        policy_ref(rule.get("policy"), f"dunning.segments[{index}].policy")
    for ref, table in administrations.items():
        policy_ref(table.get("policy"), path_text(("administrations", ref, "policy")))

    templates = shipped_templates()
    if dunning.get("templates_dir"):
        templates |= _own_templates(dunning["templates_dir"], "dunning.templates_dir", where)
    for ref, table in administrations.items():
        if table.get("templates_dir"):
            at = path_text(("administrations", ref, "templates_dir"))
            templates |= _own_templates(table["templates_dir"], at, where)
    for name, policy in policies.items():
        steps = policy.get("steps") or []
        for index, step in enumerate(steps):
            channels = {*(step.get("channels") or ()), step.get("fallback")}
            if not channels & MESSAGE_CHANNELS:
                continue  # call tasks and hand-overs are summaries, not rendered letters
            for key, value in (
                ("template", step.get("template", step.get("name"))),
                ("consumer_template", step.get("consumer_template") or None),
            ):
                if value is not None and value not in templates:
                    at = path_text(("policies", name, "steps", index, key))
                    msg = (
                        f"{where}: {at}: expected a template ({', '.join(sorted(templates))}), "
                        f"got {value!r}{suggestion(str(value), templates)}"
                    )
                    raise ConfigError(msg)
        start = policy.get("backlog_start_step")
        step_names = [step.get("name") for step in steps]
        if start is not None and start not in step_names:
            at = path_text(("policies", name, "backlog_start_step"))
            msg = (
                f"{where}: {at}: expected a step of this policy ({', '.join(step_names)}), "
                f"got {start!r}{suggestion(str(start), step_names)}"
            )
            raise ConfigError(msg)
