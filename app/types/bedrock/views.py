"""Amazon Bedrock's own page: the Default model field's choices, as the service lists them.

Served under /types/.bedrock/ (app/web/type_views.py finds `bp`). The work is the type's `models`
lookup, run with the connector form's values; this only reads the form and draws the answer.
"""

from __future__ import annotations

import re

from flask import Blueprint, request

from app.types import get_type
from app.types.bedrock import Bedrock
from app.web.auth import admin_required
from app.web.type_views import choices, lookup_from_form

bp = Blueprint("bedrock", __name__, template_folder="templates")

DEFAULT_FIELD_ID = "config-defaultModel"
# The answer's ids are built from `choices_for`; anything but a plain id would not match the swap target.
FIELD_ID = re.compile(r"[A-Za-z][\w-]{0,99}")


@bp.post("/models")
@admin_required
def models():
    """The `suggest` widget's answer: a datalist of `<name> — <provider>`, or why there is none."""
    field_id = request.form.get("choices_for", "")
    field_id = field_id if FIELD_ID.fullmatch(field_id) else DEFAULT_FIELD_ID
    run = lookup_from_form(get_type(Bedrock.id), "models")
    found = run.result.data if run.result.is_ok else []
    pairs = [(m["id"], f"{m['name']} — {m['provider']}" if m["provider"] else m["name"]) for m in found]
    return choices(field_id, run, pairs, "model")
