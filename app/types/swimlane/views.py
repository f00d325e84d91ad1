"""Swimlane's own form part: the field mappings edited as rows (a role, then the Swimlane field's id, key,
name and type), and the button that fills a row in from the application's own field list.

Served under /types/.swimlane/ (app/web/type_views.py finds `bp`; app/web/widgets.py lets a type's views
register its own widgets). The fields come from the type's `application` lookup, run through the one execution
path with the form's connection (URL, application, token) only: half-typed rows, or the mappings a connector
type requires, are what the person is filling in and must not stop the lookup.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from app.crypto import SecretsUnreadable
from app.services import connectors as store
from app.services import executions
from app.types import get_type
from app.types.fields import FormField, form_fields
from app.types.swimlane import ROLES, USED, Swimlane
from app.web.auth import admin_required, principal
from app.web.forms import Section
from app.web.widgets import Widget, register

bp = Blueprint("swimlane", __name__, template_folder="templates")

PARTS = ("id", "key", "name", "fieldType")
PART_LABELS = {"id": "field ID", "key": "key", "name": "name", "fieldType": "type"}
# A posted field name becomes an element id in the answer: only plain dotted names are taken.
FIELD_NAME = re.compile(r"[A-Za-z][\w.-]{0,199}")


def rows(mappings: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per role, in Kibana's form's order, with what is mapped (or blanks) and the connector types
    that use it (static/app.js shows a row only while the form's connector type is one of them)."""
    mappings = mappings or {}
    out = []
    for role, (_, label) in ROLES.items():
        mapped = mappings.get(role) or {}
        used_by = ["all", *(kind for kind, roles in USED.items() if role in roles)]
        out.append({"role": role, "label": label, "used_by": used_by, **{p: str(mapped.get(p) or "") for p in PARTS}})
    return out


class MappingRows(Widget):
    """`mappings` as rows; a row is all four parts or none (an unmapped role)."""

    template = "swimlane/mappings.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        return {"rows": rows(value if isinstance(value, dict) else None), "fields": [], "message": "", "error": False}

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        typed = [{**row, **{p: form.get(f"{name}.{row['role']}.{p}", "").strip() for p in PARTS}}
                 for row in rows(None)]
        s.display[f.key] = {"rows": typed, "fields": [], "message": "", "error": False}
        mappings, partial = {}, []
        for row in typed:
            given = {p: row[p] for p in PARTS}
            if all(given.values()):
                mappings[row["role"]] = given
            elif any(given.values()):
                partial.append(row["label"])
        if partial:
            s.errors[f.key] = (f"Fill in the field ID, key, name and type of {', '.join(partial)}, "
                               "or clear the row to leave it unmapped.")
            return
        s.data[f.key] = mappings


MAPPINGS = register(MappingRows("swimlane_mappings"))


def filled(typed: list[dict[str, str]], fields: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each row with a known field id (or key) completed from the application's own description of it."""
    by_id = {f["id"]: f for f in fields}
    by_key = {f["key"]: f for f in fields}
    out = []
    for row in typed:
        known = by_id.get(row["id"]) or (by_key.get(row["key"]) if row["key"] else None)
        out.append({**row, **known} if known else row)
    return out


def connection_target() -> executions.Target:
    """The form's URL, application and token (a blank token keeps the stored or pending one), no mappings."""
    form = request.form
    connector = store.get(form.get("connector_id", "")) if form.get("connector_id") else None
    if connector is not None and (connector.connector_type_id != Swimlane.id or connector.is_preconfigured):
        abort(400, description="That connector's settings cannot be edited here.")
    token = form.get("secrets.apiToken", "")
    if not token.strip():
        try:
            stored = store.stored_secrets(connector) if connector is not None else {}
        except SecretsUnreadable:
            stored = {}
        token = {**stored, **store.open_pending(form.get("secrets.__pending", ""))}.get("apiToken", "")
    config = {"apiUrl": form.get("config.apiUrl", ""), "appId": form.get("config.appId", ""),
              "connectorType": "all", "mappings": {}}
    return executions.Target(id=connector.id if connector else "", name=form.get("name", "").strip() or
                             "(unsaved connector)", connector_type_id=Swimlane.id, config=config,
                             secrets={"apiToken": token})


@bp.post("/mappings")
@admin_required
def fill_mappings():
    """The mappings rows again, completed from the application's fields, which are offered for the ids too."""
    name = request.form.get("mappings_for", "")
    if not FIELD_NAME.fullmatch(name):
        abort(400, description="mappings_for must name the mappings field.")
    ctype = get_type(Swimlane.id)
    field = next(f for f in form_fields(ctype.config) if f.key == "mappings")
    section = Section()
    MAPPINGS.read(field, request.form, name, section)
    typed = section.display[field.key]["rows"]
    run = executions.execute(connection_target(), {}, source="form", actor=principal().actor, lookup="application")
    result = run.result
    fields = result.data if result.is_ok else []
    if result.is_ok:
        message = f"{len(fields)} application fields listed; rows with a known field ID or key were filled in."
    else:
        message = " ".join(filter(None, [result.message, result.service_message]))
    value = {"rows": filled(typed, fields), "fields": fields, "message": message, "error": not result.is_ok}
    return render_template("swimlane/mappings.html", f=field, name=name, fid=name.replace(".", "-"), value=value)
