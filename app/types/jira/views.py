"""Jira's own part of the test pane, and the pickers a case's Jira fields use.

Served under /types/.jira/ (app/web/type_views.py finds `bp`). `pushToService`'s `incident` is drawn by the
`jira_incident` widget registered here: pick an issue type from the project, see that issue type's fields
(required ones marked) with its priorities, and search a parent issue by its summary; the picks are the
incident's `issueType`, `priority` and `parent`. Every list comes from the type's own sub-actions (issueTypes,
fieldsByIssueType, issues) run through the one execution path, so each leaves an event row. On a connector
form they run with the form's values (a blank secret keeps the stored one); on a saved connector's page
with the stored connector, which the widget names in a hidden field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from app.services import connectors as store
from app.services import executions
from app.types import get_type
from app.types.fields import FormField
from app.types.jira import Jira
from app.web.auth import principal
from app.web.connectors import form_target
from app.web.forms import Section
from app.web.type_views import choices
from app.web.widgets import Invalid, Json, Widget, register

bp = Blueprint("jira", __name__, template_folder="templates")

CONNECTOR_FIELD = "jira.connector"
QUERY_FIELD = "jira.parentQuery"
# The test pane's names for the incident's parts (params.html's prefix `params.sub`).
INCIDENT = "params.sub.incident"
TEXT_PARTS = ("summary", "description", "externalId", "issueType", "priority", "parent")
# A `suggest` answer is swapped in by the field's id: only a plain id may come back.
FIELD_ID = re.compile(r"[A-Za-z][\w-]{0,99}")
# A saved connector's page, as HTMX names the page a request comes from (HX-Current-URL).
CONNECTOR_PAGE = re.compile(r"/connectors/([0-9a-f-]{36})(?:[/?#]|$)")
SUMMARY_REQUIRED = "Summary is required."


class IncidentForm(Widget):
    """The issue as separate inputs (issue type, priority, parent, summary…), read back into one object."""

    template = "jira/incident.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        value = value if isinstance(value, dict) else {}
        shown = {key: "" if value.get(key) is None else str(value[key]) for key in TEXT_PARTS}
        labels = value.get("labels")
        shown["labels"] = ", ".join(labels) if isinstance(labels, list) else ""
        other = value.get("otherFields")
        shown["otherFields"] = json.dumps(other, indent=2) if isinstance(other, dict) else (other or "")
        return shown

    def posted(self, f: FormField, name: str, value: Any) -> dict[str, str]:
        """What the browser posts for `value`: one input per part (scripted posts and tests use it)."""
        return {f"{name}.{key}": text for key, text in self.display(f, value).items()}

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        parts = {key: form.get(f"{name}.{key}", "") for key in (*TEXT_PARTS, "labels", "otherFields")}
        s.display[f.key] = parts
        incident: dict[str, Any] = {"summary": parts["summary"]}
        if not parts["summary"].strip():
            s.errors[f.key] = SUMMARY_REQUIRED
        if parts["description"].strip():
            incident["description"] = parts["description"]
        for key in ("externalId", "issueType", "priority", "parent"):
            if parts[key].strip():
                incident[key] = parts[key].strip()
        # One label per comma, as Kibana's combo box keeps one per entry; a space inside one is refused later.
        labels = [label.strip() for label in parts["labels"].split(",") if label.strip()]
        if labels:
            incident["labels"] = labels
        if parts["otherFields"].strip():
            try:
                incident["otherFields"] = Json("json").parse(parts["otherFields"])
            except Invalid as exc:
                s.errors[f.key] = f"Additional fields: {exc}"
        s.data[f.key] = incident


class CommentForm(Widget):
    """Kibana's "Additional comments": one text, pushed as the comment with id 1."""

    template = "jira/comments.html"

    def display(self, f: FormField, value: Any) -> Any:
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0].get("comment") or "")
        return ""

    def posted(self, f: FormField, name: str, value: Any) -> dict[str, str]:
        return {name: self.display(f, value)}

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        text = form.get(name, "")
        s.display[f.key] = text
        if text.strip():
            s.data[f.key] = [{"commentId": "1", "comment": text}]


register(IncidentForm("jira_incident"))
register(CommentForm("jira_comments"))


# ---------------------------------------------------------------- running the type's sub-actions


def _target() -> executions.Target | None:
    """The connector asked about: a connector form's unsaved values, else the saved connector named."""
    if "config.apiUrl" in request.form:
        if not principal().is_admin:
            abort(403, description="Only admins can do that; your account can view and test connectors.")
        return form_target(get_type(Jira.id))
    named = request.form.get(CONNECTOR_FIELD) or request.form.get("connector_id") or _page_connector()
    connector = store.get(named) if named else None
    if connector is None or connector.connector_type_id != Jira.id:
        return None
    return executions.target_for(connector)


def _page_connector() -> str:
    """The connector whose page asks: the pane's fields redrawn for another sub-action lose the hidden field."""
    found = CONNECTOR_PAGE.search(request.headers.get("HX-Current-URL", ""))
    return found.group(1) if found else ""


def _run(sub_action: str, params: dict) -> executions.Run | None:
    target = _target()
    if target is None:
        return None
    return executions.execute(target, {"subAction": sub_action, "subActionParams": params}, source="form",
                              actor=principal().actor)


def _failure(run: executions.Run | None) -> str | None:
    if run is None:
        return "This form names no Jira connector; open the connector's page again."
    result = run.result
    return None if result.is_ok else " ".join(filter(None, [result.message, result.service_message]))


def _picked(key: str) -> str:
    """The value of a form's field named `key` (`params.sub.incident.priority`, `fields.priority`…)."""
    for name, value in request.form.items(multi=True):
        if (name == key or name.endswith(f".{key}")) and value.strip():
            return value.strip()
    return ""


def _fields_of(issue_type: str) -> tuple[dict[str, Any] | None, str | None]:
    if not issue_type:
        return None, None
    run = _run("fieldsByIssueType", {"id": issue_type})
    failure = _failure(run)
    return (None, failure) if failure else (run.result.data, None)


def _priorities(fields: dict[str, Any] | None) -> list[str]:
    priority = (fields or {}).get("priority")
    allowed = priority.get("allowedValues") if isinstance(priority, dict) else None
    # Jira's answer is read as it came: a hostile one may hold anything where the list should be.
    return [str(p["name"]) for p in allowed if isinstance(p, dict) and p.get("name")] if isinstance(allowed, list) else []


# ---------------------------------------------------------------- the test pane's pickers


@bp.post("/issue-types")
def issue_types():
    """The issue type select, filled from the project; picking one (or its arrival) loads its fields."""
    run = _run("issueTypes", {})
    failure = _failure(run)
    types = [] if failure else [t for t in run.result.data if t.get("id")]
    current = request.form.get(f"{INCIDENT}.issueType", "")
    ids = [str(t["id"]) for t in types]
    # As Kibana's form: a type the project does not have gives way to its first one.
    selected = current if current in ids or not ids else ids[0]
    return render_template("jira/_issue_types.html", types=types, selected=selected, failure=failure, name=INCIDENT)


@bp.post("/fields")
def fields():
    """The picked issue type's fields, its priorities and, when it has a parent, the parent search."""
    issue_type = request.form.get(f"{INCIDENT}.issueType", "").strip()
    found, failure = _fields_of(issue_type)
    priorities = _priorities(found)
    current = request.form.get(f"{INCIDENT}.priority", "").strip()
    # As Kibana's form: a priority the issue type does not offer gives way to its first one.
    priority = current if current in priorities or not priorities else priorities[0]
    return render_template(
        "jira/_fields.html", name=INCIDENT, fields=found, failure=failure, priorities=priorities, priority=priority,
        parent=request.form.get(f"{INCIDENT}.parent", "").strip(), picked=bool(issue_type),
    )


@bp.post("/issues")
def issues():
    """The parent select: the project's issues whose summary matches the search text."""
    title = request.form.get(QUERY_FIELD, "").strip()
    current = request.form.get(f"{INCIDENT}.parent", "").strip()
    found, failure = [], None
    if title:
        run = _run("issues", {"title": title})
        failure = _failure(run)
        found = [] if failure else [i for i in run.result.data if i.get("key")]
    return render_template("jira/_parents.html", name=INCIDENT, issues=found, failure=failure, parent=current,
                           searched=bool(title))


# ---------------------------------------------------------------- a case's Jira fields (`suggest` widgets)


def _field_id(default: str) -> str:
    field_id = request.form.get("choices_for", "")
    return field_id if FIELD_ID.fullmatch(field_id) else default


def _no_connector(field_id: str) -> str:
    return render_template("widgets/_choices.html", field_id=field_id, choices=[], error=True,
                           message=_failure(None))


@bp.post("/choices/issue-types")
def issue_type_choices():
    field_id = _field_id("fields-issueType")
    run = _run("issueTypes", {})
    if run is None:
        return _no_connector(field_id)
    found = run.result.data if run.result.is_ok else []
    return choices(field_id, run, [(str(t["id"]), str(t.get("name") or t["id"])) for t in found], "issue type")


@bp.post("/choices/priorities")
def priority_choices():
    field_id = _field_id("fields-priority")
    issue_type = _picked("issueType")
    if not issue_type:
        return render_template("widgets/_choices.html", field_id=field_id, choices=[], error=False,
                               message="Pick the issue type first: priorities belong to an issue type.")
    run = _run("fieldsByIssueType", {"id": issue_type})
    if run is None:
        return _no_connector(field_id)
    names = _priorities(run.result.data) if run.result.is_ok else []
    return choices(field_id, run, [(n, n) for n in names], "priority level")


@bp.post("/choices/parents")
def parent_choices():
    field_id = _field_id("fields-parent")
    title = _picked("parent")
    if not title:
        return render_template("widgets/_choices.html", field_id=field_id, choices=[], error=False,
                               message="Type part of the parent issue's summary first.")
    run = _run("issues", {"title": title})
    if run is None:
        return _no_connector(field_id)
    found = run.result.data if run.result.is_ok else []
    return choices(field_id, run, [(str(i["key"]), f"{i['key']} — {i.get('title') or ''}") for i in found], "issue")
