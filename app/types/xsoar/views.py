"""XSOAR's part of the test pane: the `playbookId` param picked from the playbooks XSOAR lists.

Served under /types/.xsoar/ (app/web/type_views.py finds `bp`). "List playbooks" posts the whole form
here; the list comes from the type's own `getPlaybooks` sub-action, run through the one execution path —
with the form's values on the connector form (a blank secret keeps the stored one), else with the saved
connector the picker names in a hidden field (its page's test pane, where viewers test too).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from app.services import executions
from app.types import get_type
from app.types.fields import FormField
from app.types.xsoar import Xsoar
from app.web.auth import principal
from app.web.type_views import picker_target
from app.web.widgets import Widget, register

bp = Blueprint("xsoar", __name__, template_folder="templates")

CONNECTOR_FIELD = "xsoar.connector"
# The test pane's field for the `playbookId` param (params.html: prefix `params.sub`, id with dots as dashes).
PLAYBOOK_NAME = "params.sub.playbookId"
PLAYBOOK_ID = "params-sub-playbookId"


class PlaybookPicker(Widget):
    """The `playbookId` param as a select of XSOAR's playbooks, filled by "List playbooks"."""

    template = "xsoar/playbook_picker.html"

    def display(self, f: FormField, value: Any) -> Any:
        return "" if value is None else str(value)


register(PlaybookPicker("xsoar_playbook"))


def _target() -> executions.Target | None:
    """The connector the picker asks about: the form's unsaved values, else the saved connector it names."""
    return picker_target(get_type(Xsoar.id), "config.url", CONNECTOR_FIELD)


@bp.post("/playbooks")
def playbooks():
    """The playbook select, filled from XSOAR's playbook search; the picked one stays picked."""
    selected = request.form.get(PLAYBOOK_NAME, "")
    context = {"fid": PLAYBOOK_ID, "name": PLAYBOOK_NAME, "selected": selected, "choices": [], "failure": None,
               "listed": True}
    target = _target()
    if target is None:
        context["failure"] = "This form does not name an XSOAR connector; open the connector's page again."
        return render_template("xsoar/_playbooks.html", **context)
    run = executions.execute(target, {"subAction": "getPlaybooks", "subActionParams": {}}, source="form",
                             actor=principal().actor)
    result = run.result
    if result.is_ok:
        context["choices"] = [(p["id"], p["name"]) for p in result.data["playbooks"]]
        context["missing"] = bool(selected) and selected not in {value for value, _ in context["choices"]}
    else:
        context["failure"] = " ".join(filter(None, [result.message, result.service_message]))
    return render_template("xsoar/_playbooks.html", **context)
