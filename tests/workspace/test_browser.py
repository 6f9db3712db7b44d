"""The workspace in a real browser: Playwright for Python driving Debian's Chromium.

Skipped (with the reason) where /usr/bin/chromium or Playwright is missing; CI installs both
(`apt-get install -y chromium`, the dev extra). No sleeps: every step waits for a selector or
a URL. Screenshots at 1280 and 390 px go to build/workspace-screenshots/ in the repository.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from connector.dunning.tables import dunning_actions
from connector.store import Store
from tests.workspace.conftest import OWNER
from tests.workspace.conftest import PASSWORD
from tests.workspace.conftest import VIEWER

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent (apt-get install -y chromium); browser tests skipped",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "workspace-screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
TIMEOUT_MS = 15_000

# One backend is enough for the browser; the HTTP tests cover both.
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
def live_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page_for(browser, live_url):
    contexts = []

    def make(email: str, *, bypass_csp: bool = False, width: int = 1280, locale: str = "en-GB"):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=bypass_csp, locale=locale
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.problems = problems
        page.goto(f"{live_url}/w/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(f"{live_url}/w/")
        return page

    yield make
    for context in contexts:
        context.close()


def _shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000


def _statuses(url: str, admin_id: int) -> list[str]:
    store = Store(url)
    with store.begin() as conn:
        found = conn.execute(
            select(dunning_actions.c.status)
            .where(dunning_actions.c.administration_id == admin_id)
            .order_by(dunning_actions.c.id)
        ).scalars()
        result = list(found)
    store.dispose()
    return result


def test_owner_sees_the_queue_and_approves_a_letter_in_place(page_for, live_url, seeded):
    page = page_for(OWNER)
    sync_api.expect(page.locator("#overview")).to_contain_text("export")
    _shoot(page, "overview")
    page.get_by_role("link", name="Today").click()
    page.wait_for_url(f"{live_url}/w/vandaag")
    row = page.locator("#queue tbody tr", has_text="Bakkerij Korf")
    sync_api.expect(row).to_have_count(1)
    _shoot(page, "queue")
    page.set_viewport_size({"width": 1280, "height": 900})
    row.get_by_role("button", name="Approve").click()
    # htmx swapped the row in place: still on the queue, the row now says approved.
    done = page.locator("#queue tr.done")
    sync_api.expect(done).to_contain_text("Approved: queued")
    assert page.url == f"{live_url}/w/vandaag"
    assert _statuses(seeded.url, seeded.acme_admin) == ["pending", "pending_approval"]
    page.reload()
    sync_api.expect(page.locator("#queue tbody tr", has_text="Bakkerij Korf")).to_have_count(0)
    sync_api.expect(page.locator("#queue tbody tr", has_text="J. Jansen")).to_have_count(1)
    page.get_by_role("link", name="Audit log").click()
    sync_api.expect(page.locator("#audit")).to_contain_text("letter.approve")
    _shoot(page, "audit")
    assert page.problems == []  # no CSP violation, no script error


def test_debtor_page_pause_note_and_resume(page_for, live_url):
    page = page_for(OWNER)
    page.locator("#overview").get_by_role("link", name="export").click()
    page.locator("#debtors").get_by_role("link", name="Bakkerij Korf").click()
    sync_api.expect(page.locator("#timeline")).to_contain_text("letter bellen")
    page.get_by_label("Pause until").fill("2099-03-31")
    page.get_by_label("Reason").fill("Klant belt terug")
    page.get_by_role("button", name="Pause dunning").click()
    sync_api.expect(page.locator(".flash")).to_contain_text("paused until 2099-03-31")
    sync_api.expect(page.locator(".pauses")).to_contain_text("Klant belt terug")
    page.get_by_label("Add a note").fill("Belofte: betaalt F-1 vrijdag")
    page.get_by_role("button", name="Add note").click()
    sync_api.expect(page.locator("#timeline")).to_contain_text("Belofte: betaalt F-1 vrijdag")
    _shoot(page, "debtor")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Resume dunning").click()
    sync_api.expect(page.locator(".flash")).to_contain_text("Dunning resumed")
    assert page.problems == []


@pytest.fixture
def letter_token(app, seeded) -> str:
    """The opaque token of Acme's first letter, made with the running app's key."""
    store = Store(seeded.url)
    with store.begin() as conn:
        first = conn.execute(
            select(dunning_actions.c.id)
            .where(dunning_actions.c.administration_id == seeded.acme_admin)
            .order_by(dunning_actions.c.id)
        ).scalar()
    store.dispose()
    return app.extensions["workspace"].ids.encode("letter", int(first))


def test_viewer_cannot_approve(page_for, live_url, seeded, letter_token):
    page = page_for(VIEWER)
    page.get_by_role("link", name="Today").click()
    row = page.locator("#queue tbody tr", has_text="Bakkerij Korf")
    sync_api.expect(row).to_contain_text("read-only")
    sync_api.expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    # Even a hand-made POST with a valid CSRF token (the sign-out form's) is refused.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"{live_url}/w/letters/{letter_token}/approve", form={"csrf_token": token}
    )
    assert response.status == 403
    assert _statuses(seeded.url, seeded.acme_admin) == ["pending_approval", "pending_approval"]


def test_dutch_pages(page_for, live_url):
    page = page_for(OWNER, locale="nl-NL")
    sync_api.expect(page.locator("h1")).to_have_text("Administraties")
    page.get_by_role("link", name="Vandaag").click()
    row = page.locator("#queue tbody tr", has_text="Bakkerij Korf")
    sync_api.expect(row).to_contain_text("Brief wacht op goedkeuring")
    sync_api.expect(row.get_by_role("button", name="Goedkeuren")).to_be_visible()
    _shoot(page, "queue-nl")
    assert page.problems == []


def _axe_serious(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", ["/w/login", "/w/", "/w/vandaag", "/w/audit"])
def test_no_serious_accessibility_violations(page_for, live_url, path):
    page = page_for(
        OWNER, bypass_csp=True
    )  # only to inject axe-core; the app's CSP is tested apart
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_url}{path}")
        assert _axe_serious(page) == [], (path, width)


def test_no_serious_accessibility_violations_on_administration_and_debtor(page_for, live_url):
    page = page_for(OWNER, bypass_csp=True)
    page.locator("#overview").get_by_role("link", name="export").click()
    sync_api.expect(page.locator("#debtors")).to_be_visible()
    administration = page.url
    page.locator("#debtors").get_by_role("link", name="Bakkerij Korf").click()
    sync_api.expect(page.locator("#timeline")).to_be_visible()
    debtor = page.url
    for url in (administration, debtor):
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(url)
            assert _axe_serious(page) == [], (url, width)
