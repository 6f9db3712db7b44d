"""Every workspace route × three personas: the owner acts, the read-only colleague gets 403 for
actions, the user of another firm gets 404 for everything of Acme and never sees its data."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from connector.dunning import store as dstore
from connector.dunning.tables import OverrideKind
from connector.dunning.tables import dunning_actions
from connector.store import Store
from connector.store.schema import debtors
from tests.workspace.conftest import OUTSIDER
from tests.workspace.conftest import OWNER
from tests.workspace.conftest import VIEWER
from tests.workspace.conftest import csrf_of

# Routes without an object in the path: every persona may open them (each sees its own scope).
SCOPED_PAGES = {"workspace.overview", "workspace.queue", "workspace.audit_page"}
PUBLIC = {"workspace.login", "workspace.logout", "workspace.static"}
SECRET_NAMES = ("Bakkerij Korf", "J. Jansen", "Later BV", "F-1", "export")


def _objects(seeded) -> dict[str, int]:
    """One object of each kind of Acme's, by its key."""
    from datetime import UTC
    from datetime import date
    from datetime import datetime

    store = Store(seeded.url)
    with store.begin() as conn:
        debtor_id = (
            conn.execute(
                select(debtors.c.id).where(debtors.c.administration_id == seeded.acme_admin)
            )
            .scalars()
            .first()
        )
        action_id = (
            conn.execute(
                select(dunning_actions.c.id).where(
                    dunning_actions.c.administration_id == seeded.acme_admin
                )
            )
            .scalars()
            .first()
        )
        pause_id = dstore.add_override(
            conn,
            administration_id=seeded.acme_admin,
            debtor_code="K1",
            item_id=None,
            kind=OverrideKind.PAUSE,
            until=date(2099, 1, 1),
            policy="",
            reason="test",
            now=datetime.now(UTC),
        )
    store.dispose()
    return {
        "administration": seeded.acme_admin,
        "debtor": int(debtor_id),
        "letter": int(action_id),
        "pause": pause_id,
    }


KIND_OF_ENDPOINT = {
    "workspace.administration": "administration",
    "workspace.debtor": "debtor",
    "workspace.pause": "debtor",
    "workspace.note": "debtor",
    "workspace.approve": "letter",
    "workspace.lift": "pause",
}


def _routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("workspace.") and rule.endpoint not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def test_every_route_is_known_to_this_test(app):
    """A new route must be added to the walk (here) before it can land."""
    endpoints = {rule.endpoint for rule, _ in _routes(app)}
    assert endpoints == SCOPED_PAGES | set(KIND_OF_ENDPOINT)


@pytest.mark.parametrize("persona", [OWNER, VIEWER, OUTSIDER])
def test_every_route_for_every_persona(app, seeded, client_for, persona):
    objects = _objects(seeded)
    ids = app.extensions["workspace"].ids
    client = client_for(persona)
    token = csrf_of(client.get("/w/").text)
    for rule, method in _routes(app):
        kwargs = {}
        if rule.endpoint in KIND_OF_ENDPOINT:
            kind = KIND_OF_ENDPOINT[rule.endpoint]
            kwargs["token"] = ids.encode(kind, objects[kind])
        path = rule.rule.replace("<token>", kwargs.get("token", ""))
        data = {"csrf_token": token, "until": "2099-02-01", "reason": "walk", "body": "walk"}
        response = client.get(path) if method == "GET" else client.post(path, data=data)
        where = f"{persona} {method} {path} ({rule.endpoint})"
        if rule.endpoint in SCOPED_PAGES:
            assert response.status_code == 200, where
            if persona == OUTSIDER:
                for name in SECRET_NAMES:
                    assert name not in response.text, where
            continue
        if persona == OUTSIDER:
            assert response.status_code == 404, where
            for name in SECRET_NAMES:
                assert name not in response.text, where
        elif persona == VIEWER and method == "POST":
            assert response.status_code == 403, where
        elif method == "GET":
            assert response.status_code == 200, where
        else:
            assert response.status_code in (200, 302), where


def test_a_token_of_one_kind_is_no_token_of_another(app, seeded, client_for):
    objects = _objects(seeded)
    ids = app.extensions["workspace"].ids
    client = client_for(OWNER)
    # The administration's token in the debtor route names no debtor, even with equal keys.
    assert client.get(f"/w/d/{ids.encode('administration', objects['debtor'])}").status_code == 404
    assert client.get(f"/w/d/{ids.encode('debtor', objects['debtor'])}").status_code == 200


def test_urls_carry_no_sequential_keys(client_for, seeded):
    client = client_for(OWNER)
    page = client.get("/w/").text + client.get("/w/vandaag").text
    for url in re.findall(r'(?:href|action)="(/w/[^"]+)"', page):
        for part in url.split("/"):
            assert not part.isdigit(), url
