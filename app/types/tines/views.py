"""Tines' own part of the test pane: pick a story, then one of its webhook actions, from the service.

Served under /types/.tines/ (app/web/type_views.py finds `bp`). The `webhook` param is drawn by the
`tines_webhook` widget registered here; its buttons post the whole form back, and the lists come from the
type's real `stories` and `webhooks` sub-actions, run through the one execution path. On the connector
form they run with the form's values (a blank secret keeps the stored one); on a saved connector's page
with the stored connector, which the picker names in a hidden field.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.datastructures import MultiDict

from app.services import executions
from app.types import get_type
from app.types.fields import FormField
from app.types.tines import API_MAX_RESULTS, Tines
from app.web.auth import principal
from app.web.forms import Section
from app.web.type_views import picker_target
from app.web.widgets import Json, register

bp = Blueprint("tines", __name__, template_folder="templates")

CONNECTOR_FIELD = "tines.connector"
STORY_FIELD = "tines.storyId"
# The test pane's field for the `webhook` param (params.html: prefix `params.sub`, id with dots as dashes).
WEBHOOK_NAME = "params.sub.webhook"
WEBHOOK_ID = "params-sub-webhook"
WEBHOOK_HELP_ID = f"{WEBHOOK_ID}-help"  # the field's help, drawn by the field macro outside the swapped select


def webhook_choice(value: Any) -> tuple[str, str] | None:
    """A picked webhook as the select's (value, label): the param's JSON and the action's name."""
    if not isinstance(value, dict) or not {"id", "storyId"} <= value.keys():
        return None
    picked = {"id": value["id"], "name": value.get("name", ""), "storyId": value["storyId"]}
    return json.dumps(picked), str(picked["name"] or picked["id"])


class WebhookPicker(Json):
    """The `webhook` param as a select of the story's webhook actions; an option's value is the param's JSON."""

    template = "tines/webhook_picker.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        return webhook_choice(value)

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        super().read(f, form, name, s)
        s.display[f.key] = webhook_choice(s.data.get(f.key))


register(WebhookPicker("tines_webhook"))


def _target() -> executions.Target | None:
    """The connector the picker asks about: the form's unsaved values, else the saved connector it names."""
    return picker_target(get_type(Tines.id), "config.url", CONNECTOR_FIELD)


def _run(sub_action: str, params: dict) -> executions.Run | None:
    target = _target()
    if target is None:
        return None
    return executions.execute(target, {"subAction": sub_action, "subActionParams": params},
                              source="form", actor=principal().actor)


def _failure(run: executions.Run | None) -> str | None:
    if run is None:
        return "This form does not name a Tines connector; open the connector's page again."
    result = run.result
    return None if result.is_ok else " ".join(filter(None, [result.message, result.service_message]))


@bp.post("/stories")
def stories():
    """The story select, filled from the tenant's first page of stories."""
    run = _run("stories", {})
    failure = _failure(run)
    data = run.result.data if failure is None else {}
    return render_template(
        "tines/_stories.html", stories=data.get("stories", []), incomplete=data.get("incompleteResponse", False),
        failure=failure, limit=API_MAX_RESULTS, story_field=STORY_FIELD,
    )


@bp.post("/webhooks")
def webhooks():
    """The webhook select for the picked story: its webhook actions, the param's JSON as each value."""
    story = request.form.get(STORY_FIELD, "").strip()
    context = {"fid": WEBHOOK_ID, "name": WEBHOOK_NAME, "described": WEBHOOK_HELP_ID, "choices": [],
               "selected": None, "failure": None, "incomplete": False, "limit": API_MAX_RESULTS,
               "story_picked": bool(story)}
    if story.isdigit():
        run = _run("webhooks", {"storyId": int(story)})
        context["failure"] = _failure(run)
        if context["failure"] is None:
            found = run.result.data
            context["choices"] = [webhook_choice(w) for w in found["webhooks"]]
            context["incomplete"] = found["incompleteResponse"]
    return render_template("tines/_webhooks.html", **context)
