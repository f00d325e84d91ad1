"""IBM Resilient's own form parts: the incident type and severity pickers, filled from Resilient, and the
widgets that draw them (a select of listed choices; pushToService's incident as its own fields).

Served under /types/.resilient/ (app/web/type_views.py finds `bp`; app/web/widgets.py lets a type's views
register its own widgets). A picker on a saved connector's page (its test pane) asks with the stored
connector; one in the create or edit form asks with the form's values. Either way the type's own
`incidentTypes` / `severity` sub-action runs, through the one execution path, and this only draws its answer.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from app.services import connectors as store
from app.services import executions
from app.types import get_type
from app.types.fields import FormField
from app.types.resilient import Resilient
from app.web.auth import principal
from app.web.connectors import form_target
from app.web.security import json_too_deep
from app.web.widgets import Widget, register

if TYPE_CHECKING:
    from app.web.forms import Section

bp = Blueprint("resilient", __name__, template_folder="templates")

# The incident's text fields as the test pane shows them, in Kibana's test form's order.
TEXT_PARTS = ("name", "description", "externalId")


def _ids(values: Any) -> list[str]:
    if values is None:
        return []
    return [str(v) for v in (values if isinstance(values, list) else [values])]


class ServiceChoices(Widget):
    """A select whose options come from the service when "List …" is pressed; the chosen values stay."""

    template = "resilient/choices_field.html"
    draws_label = True

    def __init__(self, name: str, *, multiple: bool, noun: str):
        super().__init__(name)
        self.multiple = multiple
        self.noun = noun

    def display(self, f: FormField, value: Any) -> Any:
        return _ids(value)

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        chosen = [v for v in form.getlist(name) if v.strip()]
        s.display[f.key] = chosen
        if chosen:
            s.data[f.key] = chosen if self.multiple else chosen[-1]


class IncidentFields(Widget):
    """pushToService's `incident` as a person fills it in: name, description, the pickers, more fields."""

    template = "resilient/incident_field.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        value = value if isinstance(value, dict) else {}
        shown = {part: "" if value.get(part) is None else str(value[part]) for part in TEXT_PARTS}
        shown["incidentTypes"] = _ids(value.get("incidentTypes"))
        shown["severityCode"] = _ids(value.get("severityCode"))
        extra = value.get("additionalFields")
        shown["additionalFields"] = json.dumps(extra, indent=2) if isinstance(extra, dict) else (extra or "")
        return shown

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        incident: dict[str, Any] = {}
        for part in TEXT_PARTS:
            text = form.get(f"{name}.{part}", "")
            if text.strip() or (part == "name" and text):
                incident[part] = text
        types = [v for v in form.getlist(f"{name}.incidentTypes") if v.strip()]
        if types:
            incident["incidentTypes"] = types
        severity = [v for v in form.getlist(f"{name}.severityCode") if v.strip()]
        if severity:
            incident["severityCode"] = severity[-1]
        extra = form.get(f"{name}.additionalFields", "")
        shown = {**self.display(f, incident), "additionalFields": extra}
        s.display[f.key] = shown
        if extra.strip():
            problem = json_too_deep(extra)
            try:
                parsed = None if problem else json.loads(extra)
            except ValueError as exc:
                problem = f"Additional fields: invalid JSON ({exc})."
            if problem or not isinstance(parsed, dict):
                s.errors[f.key] = problem or "Additional fields must be a JSON object."
                return
            incident["additionalFields"] = parsed
        s.data[f.key] = incident


class AdditionalComment(Widget):
    """Kibana's "Additional comments": one text, pushed as the comment with id 1."""

    template = "widgets/textarea.html"

    def display(self, f: FormField, value: Any) -> Any:
        first = value[0] if isinstance(value, list) and value else None
        return str(first.get("comment") or "") if isinstance(first, dict) else ""

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        text = form.get(name, "")
        s.display[f.key] = text
        if text.strip():
            s.data[f.key] = [{"commentId": "1", "comment": text}]


register(IncidentFields("resilient_incident"))
register(AdditionalComment("resilient_comment"))
register(ServiceChoices("resilient_incident_types", multiple=True, noun="incident types"))
register(ServiceChoices("resilient_severity", multiple=False, noun="severities"))


# ---- the pickers' answers

# A posted field name becomes an element id in the answer: only plain dotted names are taken.
FIELD_NAME = re.compile(r"[A-Za-z][\w.-]{0,199}")
CONNECTOR_PAGE = re.compile(r"/connectors/([0-9a-f-]{36})(?:[/?#]|$)")


def _stored_connector_id() -> str:
    """The saved connector asked about when no connector form is posted: the one the picker names (its page),
    a `connector_id` (a case's push dialog), or the page htmx says it was asked from (after a sub-action swap)."""
    form = request.form
    if "config.apiUrl" in form:
        return ""
    page = CONNECTOR_PAGE.search(request.headers.get("HX-Current-URL", ""))
    return form.get("stored_connector_id") or form.get("connector_id") or (page.group(1) if page else "")


def _run(sub_action: str) -> tuple[executions.Run, str]:
    who = principal()
    if "config.apiUrl" in request.form:  # a connector form: its unsaved values, an admin's to run
        if not who.is_admin:
            abort(403, description="Only admins can do that; your account can view and test connectors.")
        target, stored_id = form_target(get_type(Resilient.id)), ""
    else:
        stored_id = _stored_connector_id()
        connector = store.get(stored_id) if stored_id else None
        if connector is None or connector.connector_type_id != Resilient.id:
            abort(404, description=f"No IBM Resilient connector {stored_id}.")
        target = executions.target_for(connector)
    run = executions.execute(target, {"subAction": sub_action, "subActionParams": {}}, source="form", actor=who.actor)
    return run, stored_id


def _answer(sub_action: str, *, multiple: bool, label: str, noun: str, endpoint: str) -> str:
    name = request.form.get("choices_for", "")
    if not FIELD_NAME.fullmatch(name):
        abort(400, description="choices_for must name the picker's field.")
    run, stored_id = _run(sub_action)
    result = run.result
    choices = [(c["id"], c["name"]) for c in result.data] if result.is_ok else []
    if result.is_ok:
        message = f"{len(choices)} {noun} listed."
    else:
        message = " ".join(filter(None, [result.message, result.service_message]))
    selected = [v for v in request.form.getlist(name) if v.strip()]
    return render_template(
        "resilient/_select.html", fid=name.replace(".", "-"), name=name, label=label, multiple=multiple,
        selected=selected, choices=choices, endpoint=endpoint, noun=noun, stored_id=stored_id,
        message=message, error=not result.is_ok,
    )


@bp.post("/incident-types")
def incident_types():
    return _answer("incidentTypes", multiple=True, label="Incident types", noun="incident types",
                   endpoint="resilient.incident_types")


@bp.post("/severity")
def severity():
    return _answer("severity", multiple=False, label="Severity", noun="severities", endpoint="resilient.severity")

