"""Cases pages: the list, a case (comments, alerts, pushes), create and edit, and the push dialog.

Everyone signed in may read cases; changing or pushing one is for admins, as every change is.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for

from app.case_models import SEVERITIES, STATUSES, TITLE_MAX
from app.services import case_push
from app.services import cases as store
from app.services import connectors as connector_store
from app.types.fields import form_fields
from app.web import htmx
from app.web.auth import admin_required, principal
from app.web.forms import errors_by_section, read_section, section_from_data

bp = Blueprint("cases", __name__)
STATUS_WORDS = {"open": "Open", "in-progress": "In progress", "closed": "Closed"}


def _case_or_404(case_id: str):
    case = store.get(case_id)
    if case is None:
        abort(404, description=f"Case {case_id[:80]} not found.")
    return case


def _page_arg() -> int:
    try:
        return int(request.args.get("page", 1))
    except ValueError:
        return 1


@bp.get("/cases")
def index():
    q = request.args.get("q", "")[:200]
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    page = store.search(q=q, status=status, page=_page_arg())
    return htmx.page_or_block("cases/index.html", "results", page=page, q=q, status_filter=status, statuses=STATUS_WORDS)


# ---- create and edit ---------------------------------------------------------------------------------


def _form_input(default_status: str = "open") -> store.CaseInput:
    return store.CaseInput(
        title=request.form.get("title", ""),
        description=request.form.get("description", "").replace("\r\n", "\n"),
        severity=request.form.get("severity", "low"),
        tags=store.parse_tags(request.form.get("tags", "")),
        status=request.form.get("status", default_status),
    )


def _form(case, values: store.CaseInput, errors: dict | None = None, status: int = 200):
    return htmx.page_or_block("cases/form.html", "form", status=status, case=case, values=values,
                              errors=errors or {}, severities=SEVERITIES, statuses=STATUS_WORDS, title_max=TITLE_MAX)


@bp.get("/cases/new")
@admin_required
def create_form():
    return _form(None, store.CaseInput("", "", "low", []))


@bp.post("/cases/new")
@admin_required
def create():
    values = _form_input()
    try:
        case = store.create(values, principal().actor)
    except store.InvalidCase as exc:
        return _form(None, values, exc.errors, 422)
    flash(f'Created case "{case.title}".', "success")
    return htmx.redirect(url_for("cases.detail", case_id=case.id))


@bp.get("/cases/<case_id>/edit")
@admin_required
def edit_form(case_id: str):
    case = _case_or_404(case_id)
    return _form(case, store.CaseInput(case.title, case.description, case.severity, list(case.tags or []), case.status))


@bp.post("/cases/<case_id>/edit")
@admin_required
def update(case_id: str):
    case = _case_or_404(case_id)
    values = _form_input(case.status)
    try:
        store.update_case(case, values)
    except store.InvalidCase as exc:
        return _form(case, values, exc.errors, 422)
    flash(f'Saved case "{case.title}".', "success")
    return htmx.redirect(url_for("cases.detail", case_id=case.id))


@bp.post("/cases/<case_id>/status")
@admin_required
def set_status(case_id: str):
    case = _case_or_404(case_id)
    status = request.form.get("status", "")
    try:
        store.set_status(case, status)
    except store.InvalidCase as exc:
        abort(400, description=exc.errors["status"])
    flash(f'Case marked {STATUS_WORDS[status].lower()}.', "success")
    return htmx.redirect(url_for("cases.detail", case_id=case.id))


@bp.post("/cases/<case_id>/comments")
@admin_required
def comment(case_id: str):
    case = _case_or_404(case_id)
    text = request.form.get("comment", "").replace("\r\n", "\n")
    try:
        store.add_comment(case, text, principal().actor)
    except store.InvalidCase as exc:
        return _detail(case, comment_text=text, comment_error=exc.errors["comment"], status=422)
    return htmx.redirect(url_for("cases.detail", case_id=case.id) + "#comments")


# ---- a case and its push dialog -----------------------------------------------------------------------


def _push_dialog(case, connector_id: str = "", fields=None, errors=None) -> dict:
    """The dialog's state: the connectors offered, the chosen one, and its type's case fields."""
    if not principal().is_admin:
        return {}
    offered = case_push.pushable_connectors()
    chosen = next((c for c in offered if c.id == connector_id), None)
    if chosen is None and not connector_id:
        chosen = next((c for c in offered if c.id == case.connector_id), None) or (offered[0] if offered else None)
    ctype = case_push.case_type(chosen) if chosen else None
    field_list = form_fields(ctype.case_fields) if ctype else []
    if fields is None:
        fields = section_from_data(field_list, case_push.last_fields(case, chosen) if chosen else None)
    return {"offered": offered, "chosen": chosen, "case_fields": field_list, "fields": fields,
            "push_errors": errors_by_section(errors or {})}


def _unpushed(case, external) -> int:
    """How many of the case's comments this external incident has not had yet."""
    return sum(1 for c in case.comments if str(c.id) not in external.pushed_comments)


def _detail(case, *, push=None, pushed=None, comment_text="", comment_error=None, status=200, block="content"):
    return htmx.page_or_block(
        "cases/detail.html", block, status=status, case=case, statuses=STATUS_WORDS, unpushed=_unpushed,
        push=push if push is not None else _push_dialog(case), pushed=pushed,
        comment_text=comment_text, comment_error=comment_error,
    )


@bp.get("/cases/<case_id>")
def detail(case_id: str):
    case = _case_or_404(case_id)
    # The pushes section reloads itself after a push (hx-trigger="casePushed").
    block = "externals" if request.headers.get("HX-Target") == "externals" else "content"
    return _detail(case, block=block)


@bp.get("/cases/<case_id>/push")
@admin_required
def push_fields(case_id: str):
    """The dialog's case fields for the connector picked."""
    case = _case_or_404(case_id)
    push = _push_dialog(case, request.args.get("connector_id", ""))
    return _detail(case, push=push, block="push_fields")


@bp.post("/cases/<case_id>/push")
@admin_required
def push(case_id: str):
    case = _case_or_404(case_id)
    connector_id = request.form.get("connector_id", "")
    connector = connector_store.get(connector_id) if connector_id else None
    if connector is None or case_push.case_type(connector) is None:
        abort(400, description="Choose a connector that can receive cases.")
    refusal = connector_store.enabled_refusal(connector.connector_type_id)
    if refusal:
        abort(403, description=refusal[0].upper() + refusal[1:] + ".")
    dialog = _push_dialog(case, connector.id)
    section = read_section(dialog["case_fields"], request.form, "fields")
    dialog["fields"] = section
    errors = {f"fields.{k}": v for k, v in section.errors.items()}
    pushed = None
    if not errors:
        try:
            pushed = case_push.push(case, connector, section.data, principal().actor)
        except case_push.InvalidFields as exc:
            errors = exc.errors
    dialog["push_errors"] = errors_by_section(errors)
    status = 422 if errors else 200
    response = _detail(store.get(case_id), push=dialog, pushed=pushed, status=status, block="push_form")
    return htmx.trigger(response, "casePushed") if pushed and pushed.external else response
