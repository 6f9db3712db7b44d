"""The signed-in user as Flask-Login sees it: the user record and the administrations visible."""

from __future__ import annotations

from collections.abc import Sequence

from connector.firms.users import UserRecord


class WorkspaceUser:
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, record: UserRecord, administration_ids: Sequence[int]) -> None:
        self.record = record
        self.administration_ids = frozenset(administration_ids)

    def get_id(self) -> str:
        return str(self.record.id)

    @property
    def can_act(self) -> bool:
        return self.record.role.can_act
