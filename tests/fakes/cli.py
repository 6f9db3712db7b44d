"""Running `connector ...` in-process in tests, capturing its output and exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import pytest

from connector.cli import main


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli_runner(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """A function running the CLI with the given arguments; earlier output is discarded."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
