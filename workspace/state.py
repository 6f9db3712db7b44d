"""What the workspace's views share, kept on the app (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app
from flask_limiter import Limiter

from connector.store import Store
from workspace.ids import OpaqueIds

EXTENSION = "workspace"


@dataclass(frozen=True)
class WorkspaceState:
    store: Store
    ids: OpaqueIds
    limiter: Limiter


def state() -> WorkspaceState:
    return cast(WorkspaceState, current_app.extensions[EXTENSION])
