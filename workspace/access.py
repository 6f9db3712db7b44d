"""Access checks, one helper per kind of object; every workspace route calls one first.

healthchecks' habit (`_get_check_for_user` / `_get_rw_check_for_user`): an object outside the
user's administrations is a 404, so nothing leaks about whether it exists; a read-only user
asking to act gets a 403. A token that does not decode is a 404 as well.
"""

from __future__ import annotations

from typing import NoReturn
from typing import cast

from flask import abort
from flask_login import current_user

from connector.queries import debtor as debtor_queries
from connector.queries.debtor import DebtorInfo
from connector.store import records
from connector.store.records import AdministrationRecord
from workspace.session import WorkspaceUser
from workspace.state import state


def user() -> WorkspaceUser:
    """The signed-in user (routes are behind login_required)."""
    if not current_user.is_authenticated:
        abort(401)
    return cast(WorkspaceUser, current_user._get_current_object())


def _not_found() -> NoReturn:
    abort(404)


def _may_see(admin_id: int | None) -> int:
    if admin_id is None or admin_id not in user().administration_ids:
        _not_found()
    return admin_id


def _must_act() -> None:
    if not user().can_act:
        abort(403)


def administration_for_user(token: str) -> AdministrationRecord:
    admin_id = _may_see(state().ids.decode("administration", token))
    with state().store.begin() as conn:
        return records.find_administration(conn, str(admin_id))


def debtor_for_user(token: str) -> DebtorInfo:
    debtor_id = state().ids.decode("debtor", token)
    if debtor_id is None:
        _not_found()
    with state().store.begin() as conn:
        found = debtor_queries.find_debtor(conn, debtor_id)
    if found is None:
        _not_found()
    _may_see(found.administration_id)
    return found


def rw_debtor_for_user(token: str) -> DebtorInfo:
    found = debtor_for_user(token)
    _must_act()
    return found


def rw_letter_for_user(token: str) -> tuple[int, int]:
    """(administration id, action id) of a letter the user may act on."""
    action_id = state().ids.decode("letter", token)
    if action_id is None:
        _not_found()
    with state().store.begin() as conn:
        admin_id = debtor_queries.action_administration(conn, action_id)
    _may_see(admin_id)
    _must_act()
    assert admin_id is not None
    return admin_id, action_id


def rw_pause_for_user(token: str) -> tuple[int, int, str]:
    """(administration id, override id, debtor code) of a pause the user may lift."""
    override_id = state().ids.decode("pause", token)
    if override_id is None:
        _not_found()
    with state().store.begin() as conn:
        owner = debtor_queries.override_owner(conn, override_id)
    if owner is None:
        _not_found()
    _may_see(owner[0])
    _must_act()
    return owner[0], override_id, owner[1]
