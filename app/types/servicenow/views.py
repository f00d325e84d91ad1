"""The ServiceNow types' pickers (the views side; the type modules know nothing of Flask).

Two widgets: `servicenow_choice`, a select whose options its "List choices" button asks of ServiceNow
(the type's `getChoices`, through the one execution path), a subcategory listing only its category's
choices and listing them again when the category changes; and one per incident model, which draws
pushToService's nested `incident` as its own fields (the generic form knows flat fields only).

Each type package's views.py makes its blueprint here, so the three types serve the same route under
their own /types/<type id>/ prefix. The choices are asked with the connector form's unsaved values on
the create and edit pages, else with the saved connector the page shows (the test pane, a case's push).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from app.services import connectors as store
from app.services import executions
from app.types import get_type
from app.types.fields import FormField, form_fields
from app.types.kit import ConnectorType, Schema
from app.types.servicenow.incidents import CHOICE_WIDGET
from app.types.servicenow.itsm import INCIDENT_WIDGET as ITSM_INCIDENT_WIDGET
from app.types.servicenow.itsm import ItsmIncident
from app.types.servicenow.sir import INCIDENT_WIDGET as SIR_INCIDENT_WIDGET
from app.types.servicenow.sir import SirIncident
from app.web.auth import principal
from app.web.connectors import form_target
from app.web.forms import display_value, read_section
from app.web.widgets import Widget, register

if TYPE_CHECKING:
    from app.web.forms import Section

FIELD_ID = re.compile(r"[A-Za-z][\w-]{0,199}")
FIELD_NAME = re.compile(r"[A-Za-z][\w.]{0,199}")
# The page a picker sits on, as htmx names it: a saved connector's own page (its test pane).
CONNECTOR_PAGE = re.compile(r"/connectors/([0-9a-f-]{36})(?:/|$)")
DEPENDENT = {"subcategory": "category"}  # a field listed for the value of another


class RecordFields(Widget):
    """A nested object drawn as its fields, each by its own widget; posted as `<name>.<key>`."""

    template = "servicenow/record.html"
    draws_label = True

    def __init__(self, name: str, model: type[Schema]):
        super().__init__(name)
        self.model = model

    def fields(self) -> list[FormField]:
        return form_fields(self.model)

    def display(self, f: FormField, value: Any) -> Any:
        value = value if isinstance(value, dict) else {}
        return {sf.key: display_value(sf, value.get(sf.key, sf.default)) for sf in self.fields()}

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        fields = self.fields()
        inner = read_section(fields, form, name)
        s.display[f.key] = inner.display
        labels = {sf.key: sf.label for sf in fields}
        if inner.errors:
            s.errors[f.key] = "; ".join(f"{labels.get(k, k)}: {message}" for k, message in inner.errors.items())
        s.data[f.key] = inner.data


register(Widget(CHOICE_WIDGET, "servicenow/choice.html"))
register(RecordFields(ITSM_INCIDENT_WIDGET, ItsmIncident))
register(RecordFields(SIR_INCIDENT_WIDGET, SirIncident))


def blueprint(name: str, type_id: str) -> Blueprint:
    """The type's routes: its pickers' choices."""
    bp = Blueprint(name, __name__, template_folder="templates")

    @bp.post("/choices")
    def choices():
        return _choices(get_type(type_id))

    return bp


def _choices(ctype: ConnectorType) -> str:
    """The picker's select again, with ServiceNow's choices for its field, or why there are none."""
    field_id, name = request.form.get("choices_for", ""), request.form.get("choices_name", "")
    if not FIELD_ID.fullmatch(field_id) or not FIELD_NAME.fullmatch(name):
        abort(400, description="Which field's choices? The picker sent no field.")
    element = name.rsplit(".", 1)[-1]
    value = request.form.get(name, "")
    shown = {"fid": field_id, "name": name, "value": value}
    parent = DEPENDENT.get(element)
    parent_value = request.form.get(name[: -len(element)] + parent, "") if parent else ""
    if parent and not parent_value:
        return render_template("servicenow/_choices.html", **shown, choices=[], error=False,
                               message=f"Choose a {parent} first.")
    target = _target(ctype)
    if target is None:
        return render_template("servicenow/_choices.html", **shown, choices=[], error=True,
                               message="Save the connector first: its choices come from its ServiceNow instance.")
    params = {"subAction": "getChoices", "subActionParams": {"fields": [element]}}
    result = executions.execute(target, params, source="form", actor=principal().actor).result
    if not result.is_ok:
        message = " ".join(filter(None, [result.message, result.service_message]))
        return render_template("servicenow/_choices.html", **shown, choices=[], error=True, message=message)
    rows = [r for r in result.data if isinstance(r, dict)] if isinstance(result.data, list) else []
    pairs = list(dict.fromkeys(
        (str(r.get("value", "")), str(r.get("label") or r.get("value", ""))) for r in rows
        if r.get("element") == element and (not parent or r.get("dependent_value") == parent_value)
    ))
    noun = "choice" if len(pairs) == 1 else "choices"
    return render_template("servicenow/_choices.html", **shown, choices=pairs, error=False,
                           message=f"{len(pairs)} {noun} listed.")


def _target(ctype: ConnectorType) -> executions.Target | None:
    """The connector form's values (admins), else the saved connector of the page; None when unsaved."""
    if "config.apiUrl" in request.form:
        if not principal().is_admin:
            abort(403, description="Only admins can do that; your account can view and test connectors.")
        return form_target(ctype)
    connector_id = request.form.get("connector_id", "")
    if not connector_id:
        found = CONNECTOR_PAGE.search(request.headers.get("HX-Current-URL", ""))
        connector_id = found.group(1) if found else ""
    connector = store.get(connector_id) if connector_id else None
    if connector is None:
        return None
    if connector.connector_type_id != ctype.id:
        abort(400, description=f"Connector {connector_id} is not a {ctype.name} connector.")
    return executions.target_for(connector)
