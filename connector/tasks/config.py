"""`[tasks]`: which engine runs the work, and how many jobs run at once in this process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.errors import ConfigError

ENGINES = ("in-process", "procrastinate")
DEFAULT_CONCURRENCY = 16  # jobs wait on ledger HTTP calls: threads are cheap, cores are not


@dataclass(frozen=True, slots=True)
class TaskSettings:
    engine: str = "in-process"
    concurrency: int = DEFAULT_CONCURRENCY


def task_settings(section: Mapping[str, Any], *, where: str) -> TaskSettings:
    """`[tasks]` from the config, checked; every key is known or an error."""
    known = {"engine", "concurrency"}
    for key in section:
        if key not in known:
            msg = f"{where}: tasks.{key}: unknown setting; known: {', '.join(sorted(known))}"
            raise ConfigError(msg)
    engine = section.get("engine", "in-process")
    if engine not in ENGINES:
        msg = f"{where}: tasks.engine: expected one of {', '.join(ENGINES)}, got {engine!r}"
        raise ConfigError(msg)
    concurrency = section.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        msg = f"{where}: tasks.concurrency: expected a whole number >= 1, got {concurrency!r}"
        raise ConfigError(msg)
    return TaskSettings(engine=str(engine), concurrency=concurrency)
