from __future__ import annotations

import io

from connector.cli.context import progress
from connector.sync import no_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress() is no_progress

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    factory = progress()
    assert factory is not no_progress
    bar = factory("Acme: items", 10)
    bar.update(10)
    bar.close()
    assert "Acme: items" in terminal.getvalue()
    assert "/10 [" in terminal.getvalue()  # the total the feed announced
