"""The workspace's pages. Each route's first line is an access check (workspace.access); reads
go through connector.queries, writes through the same core functions the CLI calls, and every
write is audited in the same transaction. Post/redirect/get, or a row partial for htmx."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from babel.numbers import format_currency
from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user
from werkzeug.wrappers import Response

from connector.dunning import store as dstore
from connector.dunning.tables import OverrideKind
from connector.firms import audit
from connector.firms import notes
from connector.firms import users as firm_users
from connector.queries import attention
from connector.queries import debtor as debtor_queries
from connector.queries import overview as overview_queries
from connector.reports import local_today
from connector.store import records
from workspace import access
from workspace.forms import ActionForm
from workspace.forms import LoginForm
from workspace.forms import NoteForm
from workspace.forms import PauseForm
from workspace.session import WorkspaceUser
from workspace.state import state

bp = Blueprint(
    "workspace",
    __name__,
    url_prefix="/w",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _today() -> date:
    return local_today("Europe/Amsterdam")


@bp.app_template_filter("money")
def money(value: Decimal | None, currency: str = "EUR") -> str:
    if value is None:
        return "–"
    return format_currency(value, currency or "EUR", locale="nl_NL")


@bp.app_template_filter("share")
def share(value: Decimal | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return {"opaque": lambda kind, key: state().ids.encode(kind, key)}


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/w/") and not urlsplit(target).netloc:
        return target
    return url_for("workspace.overview")


# --- signing in ---------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template(
                "login.html", form=form, error=_("Fill in e-mail and password.")
            ), 400
        with state().store.begin() as conn:
            found = firm_users.authenticate(conn, form.email.data, form.password.data, _now())
            if found is not None:
                audit.record(
                    conn, firm_id=found.firm_id, user_id=found.id, action="user.login", now=_now()
                )
        if found is None:
            return (
                render_template("login.html", form=form, error=_("E-mail or password is wrong.")),
                401,
            )
        with state().store.begin() as conn:
            visible = firm_users.visible_administrations(conn, found)
        login_user(WorkspaceUser(found, visible))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
@login_required
def logout() -> Response:
    access.user()
    logout_user()
    return redirect(url_for("workspace.login"))


# --- overview -------------------------------------------------------------------------------


@bp.get("/")
@login_required
def overview() -> str:
    me = access.user()
    search = request.args.get("q", "")[:200]
    sort = request.args.get("sort", "name")
    if sort not in overview_queries.SORT_KEYS:
        sort = "name"
    descending = request.args.get("dir") == "desc"
    only_attention = request.args.get("attention") == "1"
    with state().store.begin() as conn:
        rows = overview_queries.overview(
            conn,
            sorted(me.administration_ids),
            _today(),
            search=search,
            sort=sort,
            descending=descending,
            only_attention=only_attention,
        )
    return render_template(
        "overview.html",
        rows=rows,
        q=search,
        sort=sort,
        descending=descending,
        only_attention=only_attention,
        me=me,
    )


# --- the attention queue --------------------------------------------------------------------


#: Rows of the queue per page: a page stays small (< 200 KB) and fast with thousands waiting.
QUEUE_PAGE = 100


@bp.get("/vandaag")
@login_required
def queue() -> str:
    me = access.user()
    with state().store.begin() as conn:
        rows = attention.attention_queue(conn, sorted(me.administration_ids), _today())
    pages = max(1, -(-len(rows) // QUEUE_PAGE))
    page = request.args.get("page", "1")
    number = min(max(int(page), 1), pages) if page.isdigit() else 1
    shown = rows[(number - 1) * QUEUE_PAGE : number * QUEUE_PAGE]
    return render_template(
        "queue.html",
        rows=shown,
        total=len(rows),
        page=number,
        pages=pages,
        me=me,
        form=ActionForm(),
    )


@bp.post("/letters/<token>/approve")
@login_required
def approve(token: str) -> ResponseReturnValue:
    admin_id, action_id = access.rw_letter_for_user(token)
    me = access.user()
    if not ActionForm().validate_on_submit():
        abort(400)
    with state().store.begin() as conn:
        approved = dstore.approve(
            conn, _now(), administration_ids=[admin_id], action_ids=[action_id]
        )
        if approved:
            audit.record(
                conn,
                firm_id=me.record.firm_id,
                user_id=me.record.id,
                action="letter.approve",
                now=_now(),
                administration_id=admin_id,
                subject=f"letter {action_id}",
                before={"status": "pending_approval"},
                after={"status": "pending"},
            )
    message = (
        _("Approved: queued, the next dunning run sends it.")
        if approved
        else _("Not awaiting approval any more (approved or cancelled elsewhere).")
    )
    if _htmx():
        return render_template("_approved_row.html", token=token, message=message)
    flash(message)
    return redirect(url_for("workspace.queue"))


# --- administrations and debtors ------------------------------------------------------------


@bp.get("/a/<token>")
@login_required
def administration(token: str) -> str:
    admin = access.administration_for_user(token)
    search = request.args.get("q", "")[:200]
    with state().store.begin() as conn:
        found = debtor_queries.debtors_of(conn, admin.id, search)
    return render_template(
        "administration.html", admin=admin, debtors=found, q=search, me=access.user()
    )


@bp.get("/d/<token>")
@login_required
def debtor(token: str) -> str:
    info = access.debtor_for_user(token)
    with state().store.begin() as conn:
        page = debtor_queries.debtor_page(conn, info)
        admin = records.find_administration(conn, str(info.administration_id))
    return render_template(
        "debtor.html",
        page=page,
        admin=admin,
        me=access.user(),
        pause_form=PauseForm(),
        action_form=ActionForm(),
        note_form=NoteForm(),
    )


@bp.post("/d/<token>/pause")
@login_required
def pause(token: str) -> Response:
    info = access.rw_debtor_for_user(token)
    me = access.user()
    form = PauseForm()
    if not form.validate_on_submit():
        flash(_("A pause needs an end date and a reason."))
        return redirect(url_for("workspace.debtor", token=token))
    if form.until.data <= _today():
        flash(_("The end date of a pause lies in the future."))
        return redirect(url_for("workspace.debtor", token=token))
    reason = form.reason.data.strip()
    with state().store.begin() as conn:
        override_id = dstore.add_override(
            conn,
            administration_id=info.administration_id,
            debtor_code=info.code,
            item_id=None,
            kind=OverrideKind.PAUSE,
            until=form.until.data,
            policy="",
            reason=reason,
            now=_now(),
        )
        audit.record(
            conn,
            firm_id=me.record.firm_id,
            user_id=me.record.id,
            action="debtor.pause",
            now=_now(),
            administration_id=info.administration_id,
            subject=f"debtor {info.code}",
            after={"override": override_id, "until": form.until.data.isoformat(), "reason": reason},
        )
    flash(_("Dunning paused until %(day)s.", day=form.until.data.isoformat()))
    return redirect(url_for("workspace.debtor", token=token))


@bp.post("/d/<token>/note")
@login_required
def note(token: str) -> Response:
    info = access.rw_debtor_for_user(token)
    me = access.user()
    form = NoteForm()
    if not form.validate_on_submit():
        flash(_("A note needs some text (at most 4000 characters)."))
        return redirect(url_for("workspace.debtor", token=token))
    with state().store.begin() as conn:
        note_id = notes.add_note(
            conn,
            administration_id=info.administration_id,
            debtor_code=info.code,
            user_id=me.record.id,
            body=form.body.data,
            now=_now(),
        )
        audit.record(
            conn,
            firm_id=me.record.firm_id,
            user_id=me.record.id,
            action="debtor.note",
            now=_now(),
            administration_id=info.administration_id,
            subject=f"debtor {info.code}",
            after={"note": note_id, "body": form.body.data.strip()},
        )
    flash(_("Note added."))
    return redirect(url_for("workspace.debtor", token=token))


@bp.post("/p/<token>/lift")
@login_required
def lift(token: str) -> Response:
    admin_id, override_id, code = access.rw_pause_for_user(token)
    me = access.user()
    if not ActionForm().validate_on_submit():
        abort(400)
    with state().store.begin() as conn:
        lifted = dstore.lift_override(conn, override_id, _now())
        debtor_id = debtor_queries.debtor_id_for(conn, admin_id, code)
        if lifted:
            audit.record(
                conn,
                firm_id=me.record.firm_id,
                user_id=me.record.id,
                action="debtor.resume",
                now=_now(),
                administration_id=admin_id,
                subject=f"debtor {code}",
                before={"override": override_id},
                after={"lifted": True},
            )
    flash(_("Dunning resumed.") if lifted else _("That pause was lifted already."))
    if debtor_id is None:
        return redirect(url_for("workspace.overview"))
    return redirect(url_for("workspace.debtor", token=state().ids.encode("debtor", debtor_id)))


# --- the audit log --------------------------------------------------------------------------


@bp.get("/audit")
@login_required
def audit_page() -> str:
    me = access.user()
    scope = None if me.record.role.value == "owner" else sorted(me.administration_ids)
    with state().store.begin() as conn:
        found = audit.entries(conn, me.record.firm_id, scope)
    return render_template("audit.html", entries=found, me=me)
