"""Slack API's own pages: the allowed-channels rows and the channel checker on the connector form.

Served under /types/.slack_api/ (app/web/type_views.py finds `bp`). The checker runs the type's
`validChannelId` sub-action with the form's values through the one execution path (an event row records
it); this only reads the form and draws the answer. The rows are a widget of their own: Kibana's
`allowedChannels` is a list of `{id?, name}`, which the generic `kv` widget (a name → value mapping) cannot
hold, since an entry may have no id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, render_template, request
from werkzeug.datastructures import MultiDict

from app.services import executions
from app.types import get_type
from app.types.fields import FormField
from app.types.slack_api import SlackApi
from app.types.slack_api.schemas import CHANNELS_WIDGET
from app.web.auth import admin_required, principal
from app.web.connectors import form_target
from app.web.widgets import Widget, register

if TYPE_CHECKING:
    from app.web.forms import Section

bp = Blueprint("slack_api", __name__, template_folder="templates")

# The channel ID typed into the checker; not a config field, so the connector form never stores it.
CHECK_FIELD = "slack_api.checkChannelId"
ROWS_NAME = "config.allowedChannels"
MAX_ID_LENGTH = 255


class ChannelRows(Widget):
    """Allowed channels as rows of channel ID (optional) and name; posted as parallel lists."""

    template = "slack_api/channels.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        rows = value if isinstance(value, list) else []
        return [(r.get("id") or "", r.get("name") or "") for r in rows if isinstance(r, dict)]

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        channels, shown = [], []
        for channel_id, channel_name in zip(form.getlist(f"{name}.id"), form.getlist(f"{name}.name"), strict=False):
            channel_id, channel_name = channel_id.strip(), channel_name.strip()
            if not channel_id and not channel_name:
                continue
            shown.append((channel_id, channel_name))
            if not channel_name:
                s.errors[f.key] = f"Enter a name for the channel {channel_id}."
            channels.append({"id": channel_id, "name": channel_name} if channel_id else {"name": channel_name})
        s.display[f.key] = shown
        if channels:
            s.data[f.key] = channels


register(ChannelRows(CHANNELS_WIDGET))


@bp.post("/channel")
@admin_required
def check_channel():
    """The checker's answer: the channel's name from Slack, or why Slack would not name it."""
    channel_id = request.form.get(CHECK_FIELD, "").strip()[:MAX_ID_LENGTH]
    if not channel_id:
        return render_template("slack_api/_checked.html", channel_id="", result=None)
    params = {"subAction": "validChannelId", "subActionParams": {"channelId": channel_id}}
    run = executions.execute(form_target(get_type(SlackApi.id)), params, source="form", actor=principal().actor)
    result = run.result
    channel = result.data.get("channel") if result.is_ok and isinstance(result.data, dict) else None
    name = channel.get("name") if isinstance(channel, dict) else None
    return render_template("slack_api/_checked.html", channel_id=channel_id, result=result, name=name)


@bp.get("/channel-row")
@admin_required
def channel_row():
    """One more allowed-channel row, filled with a checked channel."""
    channel_id = request.args.get("id", "")[:MAX_ID_LENGTH]
    name = request.args.get("name", "")[:MAX_ID_LENGTH]
    return render_template("slack_api/_row.html", name=ROWS_NAME, channel_id=channel_id, channel_name=name,
                           label="Allowed channels")
