"""The configuration schema: the whole of `connector.toml`, checked before anything runs.

`validate_document(document, where)` raises a one-line `ConfigError` for the first problem;
`connector.settings.load_settings` calls it, so every command that reads the file checks it.
"""

from __future__ import annotations

from connector.config.validate import validate_document

__all__ = ["validate_document"]
