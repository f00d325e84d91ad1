"""What every template may use: the type registry, schema fields, and a JSON pretty-printer."""

from __future__ import annotations

import json

from flask import Flask, current_app

from app.types import REGISTRY
from app.types.fields import FormField, form_fields
from app.web.widgets import widget_for


def pretty(value) -> str:
    """JSON (a structure, or text that parses as JSON) indented; anything else as text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
        if not isinstance(value, (dict, list)):
            return json.dumps(value)
    if isinstance(value, (dict, list, int, float, bool)) or value is None:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


def ctype_fields(ctype, section: str):
    model = {"config": ctype.config, "secrets": ctype.secrets}[section]
    return form_fields(model, secret=section == "secrets")


def field_labels(ctype, section: str) -> dict[str, str]:
    return {f.key: f.label for f in ctype_fields(ctype, section)}


def show_when(f: FormField, prefix: str) -> str:
    """A field's `show_when` with full form names, for static/app.js (`data-show-when`)."""
    rules = {(key if "." in key else f"{prefix}.{key}"): [str(v) for v in values] for key, values in f.show_when.items()}
    return json.dumps(rules)


def enabled_types() -> set[str]:
    config = current_app.config["SWITCHBOARD"]
    return {type_id for type_id in REGISTRY if config.type_enabled(type_id)}


def register(app: Flask) -> None:
    app.add_template_filter(pretty, "pretty")
    app.add_template_global(REGISTRY, "registry")
    app.add_template_global(ctype_fields, "ctype_fields")
    app.add_template_global(field_labels, "field_labels")
    app.add_template_global(widget_for, "widget_for")
    app.add_template_global(show_when, "show_when")

    @app.context_processor
    def _enabled_types():
        return {"enabled_types": enabled_types()}
