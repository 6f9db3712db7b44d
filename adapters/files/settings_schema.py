"""`[ledgers.files]` takes no keys: the folder of a files connection is stored with the
connection (`connector connect files --name NAME --path DIR`), so any key here would be read
by nobody, which the core's up-front config check (`connector.config`) reports as an error.
"""

from __future__ import annotations

from connector.config.base import Section


class FilesLedgerSettings(Section):
    pass


SETTINGS_SCHEMA = FilesLedgerSettings
