"""TheHive's widgets for the test pane and the case push dialog: the case (`incident`) drawn as its own
fields — severity and TLP as selects with TheHive's names — instead of one JSON box, and tags typed on one
line. No pages of its own: `bp` only carries the templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from werkzeug.datastructures import MultiDict

from app.types.fields import FormField, form_fields
from app.types.thehive.schemas import Incident
from app.web.forms import Section, read_section, section_from_data
from app.web.widgets import Widget, register

bp = Blueprint("thehive", __name__, template_folder="templates")

INCIDENT_FIELDS = form_fields(Incident)


class Tags(Widget):
    """A list of tags on one line, separated by commas (Kibana's combo box, without JS)."""

    def parse(self, raw: str) -> Any:
        return [tag.strip() for tag in raw.split(",") if tag.strip()]

    def display(self, f: FormField, value: Any) -> Any:
        return ", ".join(str(tag) for tag in value) if isinstance(value, list) else "" if value is None else str(value)


class IncidentFields(Widget):
    """The case as a fieldset of its own fields, posted as `<name>.<key>` and read back into one object."""

    template = "thehive/incident.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        shown = section_from_data(INCIDENT_FIELDS, value if isinstance(value, dict) else None).display
        return [(sub, shown[sub.key]) for sub in INCIDENT_FIELDS]

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        sub = read_section(INCIDENT_FIELDS, form, name)
        s.data[f.key] = sub.data
        s.display[f.key] = [(field, sub.display.get(field.key, "")) for field in INCIDENT_FIELDS]
        if sub.errors:
            labels = {field.key: field.label for field in INCIDENT_FIELDS}
            s.errors[f.key] = " ".join(f"{labels[key]}: {message}" for key, message in sub.errors.items())


register(Tags("thehive_tags"))
register(IncidentFields("thehive_incident"))
