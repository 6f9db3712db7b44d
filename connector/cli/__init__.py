"""The `connector` command line."""

from __future__ import annotations

from connector.cli.app import cli
from connector.cli.app import main

__all__ = ["cli", "main"]
