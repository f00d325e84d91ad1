"""Connector pages: list, type picker, create/edit form, detail page with the test pane."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, url_for
from werkzeug.datastructures import CombinedMultiDict

from app.crypto import SecretsUnreadable
from app.services import connectors as store
from app.services import events as event_log
from app.services import executions, paging
from app.types import all_types, get_type
from app.types.kit import ConnectorType
from app.types.kit import auth as kit_auth
from app.web import htmx
from app.web.auth import admin_required, principal
from app.web.forms import (
    Section,
    drop_hidden_stored,
    errors_by_section,
    merge_secrets,
    read_section,
    section_from_data,
    stored_secrets_section,
)
from app.web.params import ParamsForm, read_params
from app.web.streaming import stream_response, wants_stream
from app.web.template_helpers import ctype_fields

bp = Blueprint("connectors", __name__)


@bp.before_app_request
def _bind_webhook_settings() -> None:
    # Types know nothing of Flask: `[webhook]` reaches their checks through the kit, per request.
    kit_auth.bind_pfx_enabled(current_app.config["SWITCHBOARD"].webhook.ssl_pfx_enabled)


@bp.teardown_app_request
def _unbind_webhook_settings(exc: BaseException | None) -> None:
    kit_auth.bind_pfx_enabled(True)


def _actor() -> str:
    return principal().actor


def _connector_or_404(connector_id: str):
    connector = store.get(connector_id)
    if connector is None:
        abort(404, description=f"Connector {connector_id} not found.")
    return connector


def _list_context():
    q = request.values.get("q", "")[:200]
    type_id = request.values.get("type", "")
    sort = request.values.get("sort", "name")
    order = request.values.get("order", "asc")
    missing = request.values.get("missing") == "1"
    page = store.search(q=q, type_id=type_id, sort=sort, order=order, missing_secrets=missing,
                        want=paging.Request.from_args(request.values))
    return {"page": page, "q": q, "type_id": type_id, "sort": sort, "order": order, "types": all_types(),
            "missing": missing}


@bp.get("/")
def home():
    return redirect(url_for("connectors.index"))


@bp.get("/connectors")
def index():
    return htmx.page_or_block("connectors/index.html", "results", **_list_context())


@bp.post("/connectors/bulk-delete")
@admin_required
def bulk_delete():
    ids = request.form.getlist("ids")
    count = store.delete_many(ids) if ids else 0  # preconfigured rows are never deleted
    text = f"Deleted {count} connector{'s' if count != 1 else ''}." if count else "Select connectors to delete first."
    if not htmx.is_htmx():
        flash(text, "success" if count else "warning")
        return redirect(url_for("connectors.index"), 303)
    return htmx.toast(htmx.page_or_block("connectors/index.html", "results", **_list_context()), text)


@bp.get("/connectors/<connector_id>/delete")
@admin_required
def confirm_delete(connector_id: str):
    """Without JavaScript the Delete button is a link to this question; with it, htmx asks and posts."""
    connector = _editable(connector_id)
    return htmx.page_or_block("connectors/delete.html", "content", connector=connector,
                              back=request.args.get("from") == "detail")


@bp.route("/connectors/<connector_id>", methods=["DELETE"])
@bp.post("/connectors/<connector_id>/delete")
@admin_required
def delete(connector_id: str):
    connector = _editable(connector_id)
    name = connector.name
    store.delete_many([connector.id])
    text = f'Deleted connector "{name}".'
    if htmx.is_htmx() and request.args.get("from") != "detail":
        return htmx.toast(make_response("", 200), text)  # the row swaps itself out
    flash(text, "success")
    return htmx.redirect(url_for("connectors.index"))


# ---- create and edit -------------------------------------------------------------------------


@bp.get("/connectors/new")
@admin_required
def pick_type():
    q = request.args.get("q", "").strip().lower()
    types = [
        t for t in all_types()
        if store.enabled_refusal(t.id) is None
        and (not q or q in t.name.lower() or q in t.id or q in t.description.lower())
    ]
    return htmx.page_or_block("connectors/pick_type.html", "cards", types=types, q=q)


def _type_or_404(type_id: str) -> ConnectorType:
    ctype = get_type(type_id)
    if ctype is None:
        abort(404, description=f'Unknown connector type "{type_id}".')
    return ctype


def _creatable_type(type_id: str) -> ConnectorType:
    ctype = _type_or_404(type_id)
    refusal = store.enabled_refusal(ctype.id)
    if refusal:
        abort(403, description=refusal[0].upper() + refusal[1:] + ".")
    return ctype


def _editable(connector_id: str):
    connector = _connector_or_404(connector_id)
    if connector.is_preconfigured:
        abort(400, description=f"Preconfigured connector {connector_id} is declared in the config file and cannot be changed here.")
    return connector


def _form_context(ctype: ConnectorType, *, connector=None, name="", config=None, secrets=None, errors=None,
                  pending="", params=None, result=None):
    return {
        "ctype": ctype,
        "connector": connector,
        "name": name,
        "name_max": store.NAME_MAX,
        "config": config or section_from_data(ctype_fields(ctype, "config"), None),
        "secrets": secrets or section_from_data(ctype_fields(ctype, "secrets"), None),
        "stored_secrets": (connector.secret_fields if connector else {}) or {},
        "errors": errors_by_section(errors or {}),
        "pending": pending,
        "params": params or ParamsForm.defaults(ctype),
        "result": result,
    }


@bp.get("/connectors/new/<path:type_id>")
@admin_required
def create_form(type_id: str):
    ctype = _creatable_type(type_id)
    return htmx.page_or_block("connectors/form.html", "form", **_form_context(ctype))


def _read_connector_form(ctype: ConnectorType, stored: dict) -> tuple[str, Section, Section, dict, dict]:
    """Name, config and secrets sections, the merged secrets, and any form-level errors."""
    name = request.form.get("name", "")
    posted = CombinedMultiDict([request.form, request.files])  # file widgets read uploads (certificates)
    config = read_section(ctype_fields(ctype, "config"), posted, "config")
    secret_fields = ctype_fields(ctype, "secrets")
    secrets = read_section(secret_fields, posted, "secrets")
    # Values typed before a failed submit come back encrypted, never as plain text in the page.
    merged, errors = merge_secrets(secret_fields, secrets, {**stored, **store.open_pending(request.form.get("secrets.__pending", ""))})
    drop_hidden_stored(secret_fields, merged, secrets, config)
    errors = {f"secrets.{k}": v for k, v in errors.items()}
    errors.update({f"config.{k}": v for k, v in config.errors.items()})
    errors.update({f"secrets.{k}": v for k, v in secrets.errors.items()})
    return name, config, secrets, merged, errors


def _rerender_form(ctype, connector, name, config, secrets, merged, errors):
    labels = {f.key: f.label.lower() for f in ctype_fields(ctype, "secrets")}
    for key in secrets.cleared & {k.removeprefix("secrets.") for k in errors}:
        # One clear message instead of the rule's error beside a "Stored." that was about to go.
        errors[f"secrets.{key}"] = (f"The stored {labels.get(key, key)} was not removed: the settings above need it. "
                                    "Keep it, or change them first.")
    entered = {k: v for k, v in merged.items() if k in secrets.data}
    pending = store.seal_pending(entered)
    ctx = _form_context(ctype, connector=connector, name=name, config=config, secrets=secrets, errors=errors,
                        pending=pending, params=ParamsForm.from_request(ctype, request.form))
    return htmx.page_or_block("connectors/form.html", "form", status=422, **ctx)


def _after_save(connector, text: str):
    flash(text, "success")
    return htmx.redirect(url_for("connectors.detail", connector_id=connector.id))


@bp.post("/connectors/new/<path:type_id>")
@admin_required
def create(type_id: str):
    ctype = _creatable_type(type_id)
    name, config, secrets, merged, errors = _read_connector_form(ctype, {})
    if not errors:
        try:
            connector = store.create(ctype.id, name, config.data, merged)
        except store.InvalidConnector as exc:
            errors = exc.errors
        else:
            return _after_save(connector, f'Created connector "{connector.name}".')
    return _rerender_form(ctype, None, name, config, secrets, merged, errors)


def _stored_or_empty(connector) -> dict:
    """Stored secrets to merge blanks with; unreadable ones are empty, so the form asks for them again."""
    try:
        return store.stored_secrets(connector)
    except SecretsUnreadable:
        return {}


@bp.get("/connectors/<connector_id>/edit")
@admin_required
def edit_form(connector_id: str):
    connector = _editable(connector_id)
    ctype = _type_or_404(connector.connector_type_id)
    ctx = _form_context(
        ctype,
        connector=connector,
        name=connector.name,
        config=section_from_data(ctype_fields(ctype, "config"), connector.config, with_defaults=False),
        secrets=stored_secrets_section(ctype_fields(ctype, "secrets"), connector.secret_fields or {}),
    )
    return htmx.page_or_block("connectors/form.html", "form", **ctx)


@bp.post("/connectors/<connector_id>/edit")
@admin_required
def update(connector_id: str):
    connector = _editable(connector_id)
    ctype = _type_or_404(connector.connector_type_id)
    stored = _stored_or_empty(connector)
    name, config, secrets, merged, errors = _read_connector_form(ctype, stored)
    if not errors:
        try:
            store.update(connector, name, config.data, merged)
        except store.InvalidConnector as exc:
            errors = exc.errors
        else:
            return _after_save(connector, f'Saved connector "{connector.name}".')
    return _rerender_form(ctype, connector, name, config, secrets, merged, errors)


# ---- detail and test pane --------------------------------------------------------------------


@bp.get("/connectors/<connector_id>")
def detail(connector_id: str):
    connector = _connector_or_404(connector_id)
    ctype = get_type(connector.connector_type_id)
    recent = event_log.search(connector_id=connector.id, per_page=10)
    # The recent-runs section reloads itself after each test run (hx-trigger="runFinished").
    block = "recent" if request.headers.get("HX-Target") == "recent-runs" else "content"
    return htmx.page_or_block(
        "connectors/detail.html",
        block,
        connector=connector,
        ctype=ctype,
        params=ParamsForm.defaults(ctype) if ctype else None,
        recent=recent,
        result=None,
    )


def _run(target, ctype: ConnectorType, template: str, context: dict, page_extra=lambda: {}):
    """Run the test pane's params against `target`; answer with the result (the page without HTMX)."""
    params, errors = read_params(ctype, request.form)
    context = {**context, "params": ParamsForm.from_request(ctype, request.form, errors), "result": None,
               "params_errors": errors}
    status = 422 if errors else 200
    if errors and target.refusal is None:
        # One rule for every type, as Kibana's: params that do not validate are a failed run, logged.
        detail = "; ".join(f"[{key}]: {message}" for key, message in errors.items())
        target.refusal = executions.Result.error(f"error validating action params: {detail}")
    if wants_stream() and not errors:
        return stream_response(executions.stream(target, params, source="test_pane", actor=_actor()))
    context["result"] = executions.execute(target, params, source="test_pane", actor=_actor())
    if htmx.is_htmx():
        response = htmx.fragment("connectors/_test_result.html", status=status, **context)
        return htmx.trigger(response, "runFinished") if context["result"] is not None else response
    return htmx.page_or_block(template, "content", status=status, **context, **page_extra())


@bp.post("/connectors/<connector_id>/test")
def test(connector_id: str):
    connector = _connector_or_404(connector_id)
    ctype = _type_or_404(connector.connector_type_id)
    return _run(
        executions.target_for(connector),
        ctype,
        "connectors/detail.html",
        {"connector": connector, "ctype": ctype},
        # Only the full page lists recent runs, read after this run so it is among them.
        page_extra=lambda: {"recent": event_log.search(connector_id=connector.id, per_page=10)},
    )


def _unsaved_target(ctype: ConnectorType, connector=None):
    stored = _stored_or_empty(connector) if connector else {}
    name, config, secrets, merged, errors = _read_connector_form(ctype, stored)
    target = executions.Target(
        id=connector.id if connector else "",
        name=name.strip() or "(unsaved connector)",
        connector_type_id=ctype.id,
        config=config.data,
        secrets=merged,
    )
    if errors:
        target.refusal = executions.Result.error(
            "Fix the form first: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        )
    return target, _form_context(ctype, connector=connector, name=name, config=config, secrets=secrets)


def form_target(ctype: ConnectorType) -> executions.Target:
    """The connector form's unsaved values as a run target, merged with the stored secrets when the form
    edits a connector (its hidden `connector_id`); a form marked `connector_saved` (the Cases push dialog)
    runs that saved connector as it is. For a type's own views, e.g. a picker's choices.

    Admins only, whatever the calling view checked: typed values with a saved connector's stored secrets
    are what editing is, and a viewer must not send those secrets to a URL of their choosing."""
    if not principal().is_admin:
        abort(403, description="Only admins can do that; your account can view and test saved connectors.")
    connector_id = request.form.get("connector_id", "")
    if request.form.get("connector_saved") == "1":  # a form about a saved connector (the Cases push dialog)
        connector = _connector_or_404(connector_id)
        if connector.connector_type_id != ctype.id:
            abort(400, description=f"Connector {connector_id} is not a {ctype.name} connector.")
        return executions.target_for(connector)
    connector = _editable(connector_id) if connector_id else None
    if connector is not None and connector.connector_type_id != ctype.id:
        abort(400, description=f"Connector {connector_id} is not a {ctype.name} connector.")
    target, _ = _unsaved_target(ctype, connector)
    return target


@bp.post("/connectors/new/<path:type_id>/test")
@admin_required
def test_unsaved(type_id: str):
    ctype = _creatable_type(type_id)
    target, ctx = _unsaved_target(ctype)
    return _run(target, ctype, "connectors/form.html", ctx)


@bp.post("/connectors/<connector_id>/edit/test")
@admin_required
def test_edited(connector_id: str):
    connector = _editable(connector_id)
    ctype = _type_or_404(connector.connector_type_id)
    target, ctx = _unsaved_target(ctype, connector)
    return _run(target, ctype, "connectors/form.html", ctx)


@bp.get("/types/<path:type_id>/params")
def params_fields(type_id: str):
    """The params fields for the sub-action picked in the test pane."""
    ctype = _type_or_404(type_id)
    form = ParamsForm.defaults(ctype, request.args.get("params.subAction"))
    return htmx.fragment("connectors/params.html", params=form)
