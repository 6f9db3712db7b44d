"""The workspace's pages over HTTP (Flask's test client): login, overview, queue, approve,
debtor page with pause and resume, the audit log, the security headers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.dunning.tables import dunning_actions
from connector.firms.tables import audit_log
from connector.store import Store
from tests.workspace.conftest import OWNER
from tests.workspace.conftest import VIEWER
from tests.workspace.conftest import csrf_of


def test_pages_need_a_login(client_for):
    client = client_for(None)
    for path in ("/w/", "/w/vandaag", "/w/audit"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/w/login")


def test_a_wrong_password_is_401_and_no_session(client_for):
    client = client_for(None)
    page = client.get("/w/login")
    response = client.post(
        "/w/login",
        data={"email": OWNER, "password": "wrong password!", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "wrong" in response.text
    assert client.get("/w/").status_code == 302


def test_login_without_csrf_token_is_refused(client_for):
    client = client_for(None)
    response = client.post("/w/login", data={"email": OWNER, "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/w/").status_code == 302


def test_login_is_rate_limited(client_for):
    client = client_for(None)
    token = csrf_of(client.get("/w/login").text)
    codes = [
        client.post(
            "/w/login", data={"email": OWNER, "password": "bad", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_session_cookie_is_secure_httponly_samesite(client_for):
    client = client_for(None)
    page = client.get("/w/login")
    response = client.post(
        "/w/login",
        data={
            "email": OWNER,
            "password": "correct horse battery",
            "csrf_token": csrf_of(page.text),
        },
    )
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_csp_forbids_inline_script_and_pages_have_none(client_for):
    client = client_for(OWNER)
    for path in ("/w/", "/w/vandaag", "/w/audit", "/w/login"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in response.text and "style=" not in response.text
        assert '<script src="/w/static/htmx.min.js"' in response.text


def test_overview_shows_the_firms_administration_only(client_for):
    client = client_for(OWNER)
    page = client.get("/w/").text
    assert "export" in page and "other" not in page.split("<main", 1)[1].lower().replace(
        "others", ""
    )
    assert "€" in page and "930,00" in page  # 100 + 250 + 80 + 500, all overdue by now


def test_queue_lists_letters_and_owner_approves_through_the_core(client_for, seeded):
    client = client_for(OWNER)
    page = client.get("/w/vandaag")
    assert page.status_code == 200
    assert "Bakkerij Korf" in page.text and "J. Jansen" in page.text
    assert "Geheim BV" not in page.text
    import re

    action = re.search(r'action="(/w/letters/[^"]+/approve)"', page.text).group(1)
    response = client.post(
        action, data={"csrf_token": csrf_of(page.text)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "Approved" in response.text
    store = Store(seeded.url)
    with store.begin() as conn:
        statuses = sorted(
            conn.execute(
                select(dunning_actions.c.status).where(
                    dunning_actions.c.administration_id == seeded.acme_admin
                )
            ).scalars()
        )
        entries = list(conn.execute(select(audit_log.c.action, audit_log.c.after)))
    store.dispose()
    assert statuses.count("pending") == 1
    assert ("letter.approve", {"status": "pending"}) in [tuple(e) for e in entries]
    # The approved letter left the queue.
    assert client.get("/w/vandaag").text.count("Approve <span") == statuses.count(
        "pending_approval"
    )


def test_debtor_pause_resume_and_note_are_audited(client_for, seeded):
    import re

    client = client_for(OWNER)
    overview = client.get("/w/").text
    admin_url = re.search(r'href="(/w/a/[^"]+)"', overview).group(1)
    debtors = client.get(admin_url).text
    debtor_url = re.search(r'href="(/w/d/[^"]+)">Bakkerij Korf', debtors).group(1)
    page = client.get(debtor_url).text
    assert "F-1" in page and "letter bellen" in page
    response = client.post(
        debtor_url + "/pause",
        data={
            "until": "2099-01-31",
            "reason": "betalingsregeling besproken",
            "csrf_token": csrf_of(page),
        },
    )
    assert response.status_code == 302
    page = client.get(debtor_url).text
    assert "until 31-01-2099" in page and "betalingsregeling besproken" in page
    lift = re.search(r'action="(/w/p/[^"]+/lift)"', page).group(1)
    assert client.post(lift, data={"csrf_token": csrf_of(page)}).status_code == 302
    page = client.get(debtor_url).text
    assert "Dunning is running for this debtor" in page
    note = client.post(
        debtor_url + "/note",
        data={"body": "Belt vrijdag terug over F-2", "csrf_token": csrf_of(page)},
    )
    assert note.status_code == 302
    page = client.get(debtor_url).text
    assert "owner@acme.test: Belt vrijdag terug over F-2" in page
    audit = client.get("/w/audit").text
    assert "debtor.pause" in audit and "debtor.resume" in audit and "debtor.note" in audit


def test_viewer_sees_the_queue_without_approve_buttons(client_for):
    client = client_for(VIEWER)
    page = client.get("/w/vandaag").text
    assert "Bakkerij Korf" in page and "Approve <span" not in page and "read-only" in page


@pytest.mark.parametrize("bad", ["", "x" * 22, "AAAAAAAAAAAAAAAAAAAAAA", "../../etc"])
def test_garbage_tokens_are_404(client_for, bad):
    client = client_for(OWNER)
    assert client.get(f"/w/d/{bad}").status_code == 404


def test_without_a_secret_the_workspace_is_off(seeded, monkeypatch, caplog):
    from connector.cli.context import Context
    from connector.cli.http import build_app

    monkeypatch.delenv("CONNECTOR_WORKSPACE_SECRET")
    ctx = Context(config_path=None, debug=False)
    try:
        client = build_app(ctx).test_client()
        assert client.get("/w/login").status_code == 404
        assert client.get("/healthz").status_code == 200
    finally:
        ctx.close()
    assert "the workspace (/w/) is switched off" in caplog.text


def test_a_vault_key_alone_switches_it_on_with_a_derived_secret():
    from workspace import workspace_secret

    derived = workspace_secret({"CONNECTOR_SECRET_KEY": "k" * 44})
    assert derived is not None and b"k" * 44 not in derived
    assert workspace_secret({}) is None


def test_the_queue_is_paged_and_every_row_is_reachable(client_for, monkeypatch):
    monkeypatch.setattr("workspace.views.QUEUE_PAGE", 1)
    client = client_for(OWNER)
    first = client.get("/w/vandaag").text
    second = client.get("/w/vandaag?page=2").text
    assert "2 rows, page 1 of 2" in first and 'rel="next"' in first
    assert "2 rows, page 2 of 2" in second and 'rel="prev"' in second
    names = {n for n in ("Bakkerij Korf", "J. Jansen") if n in first} | {
        n for n in ("Bakkerij Korf", "J. Jansen") if n in second
    }
    assert names == {"Bakkerij Korf", "J. Jansen"}
    assert client.get("/w/vandaag?page=99").status_code == 200  # clamped to the last page
    assert client.get("/w/vandaag?page=x").status_code == 200


def test_the_workspace_speaks_dutch_when_the_browser_asks(client_for):
    client = client_for(OWNER)
    page = client.get("/w/vandaag", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}).text
    assert '<html lang="nl">' in page
    assert ">Vandaag</a>" in page and "Goedkeuren" in page and "Brief wacht op goedkeuring" in page
    english = client.get("/w/vandaag", headers={"Accept-Language": "en-GB"}).text
    assert '<html lang="en">' in english and ">Today</a>" in english and "Approve" in english


def test_every_message_has_a_dutch_translation_and_the_catalogue_is_compiled():
    from pathlib import Path

    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = (
        Path(__file__).resolve().parents[2] / "workspace" / "translations" / "nl" / "LC_MESSAGES"
    )
    with (folder / "messages.po").open("rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with (folder / "messages.mo").open("rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert po and all(po.values()), [k for k, v in po.items() if not v]
    assert mo == po, "run: pybabel compile -d workspace/translations"
