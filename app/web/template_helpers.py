"""What every template may use: the type registry, schema fields, type icons, and a JSON pretty-printer."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from flask import Flask, current_app, g, url_for

from app.types import REGISTRY, SYSTEM_ACTIONS
from app.types.fields import FormField, form_fields
from app.web.security import json_too_deep
from app.web.widgets import widget_for


def pretty(value) -> str:
    """JSON (a structure, or text that parses as JSON) indented; anything else as text.

    Text nested too deeply to parse safely is shown as it is (a hostile service may answer that way).
    """
    if isinstance(value, str):
        if json_too_deep(value):
            return value
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return value
        if not isinstance(value, (dict, list)):
            return json.dumps(value)
    if isinstance(value, (dict, list, int, float, bool)) or value is None:
        try:
            return json.dumps(value, indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            return "(nested too deeply to show)"
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


def icon_slug(type_id: str) -> str:
    """A type id's icon file name without ".svg": `.server-log` -> `server_log`."""
    return type_id.lstrip(".").replace("-", "_")


ICONS_DIR = "icons/types"  # under the static folder


class TypeIcons:
    """Which icon file each type id gets, from the files present when the app starts (no disk look-up per request)."""

    def __init__(self, static_folder: str | Path):
        folder = Path(static_folder) / ICONS_DIR
        self.present = {path.stem for path in folder.glob("*.svg")} if folder.is_dir() else set()

    def file_for(self, type_id: str | None) -> str:
        """The icon's path under static/: the type's own `icon`, else its slug's file, else the generic glyph."""
        ctype = REGISTRY.get(type_id) if type_id else None
        for name in (getattr(ctype, "icon", None), icon_slug(type_id or "")):
            if name and name in self.present:
                return f"{ICONS_DIR}/{name}.svg"
        return f"{ICONS_DIR}/generic.svg"


def type_icon(type_id: str | None) -> str:
    """The URL of a type's icon (templates: `<img src="{{ type_icon(c.connector_type_id) }}" alt="">`), built
    once per type per request: a list of 50 rows has a handful of types (url_for per row was a tenth of it)."""
    icons = g.setdefault("type_icon_urls", {})
    if type_id not in icons:
        icons[type_id] = url_for("static", filename=current_app.extensions["switchboard_type_icons"].file_for(type_id))
    return icons[type_id]


def enabled_types() -> set[str]:
    config = current_app.config["SWITCHBOARD"]
    return {type_id for type_id in REGISTRY if config.type_enabled(type_id)}


_HOLE = "\x00"


def connector_url(endpoint: str, connector_id: str, **values) -> str:
    """url_for(endpoint, connector_id=…, **values) for one of a list's many rows: the URL is built once per
    request with a hole for the id, then filled in (url_for per row was a third of the list page's time)."""
    patterns = g.setdefault("connector_url_patterns", {})
    key = (endpoint, *sorted(values.items()))
    if key not in patterns:
        patterns[key] = url_for(endpoint, connector_id=_HOLE, **values).split(quote(_HOLE), 1)
    before, after = patterns[key]
    return before + quote(connector_id, safe="") + after


def register(app: Flask) -> None:
    app.add_template_filter(pretty, "pretty")
    app.add_template_global(connector_url, "connector_url")
    app.add_template_global(REGISTRY, "registry")
    app.add_template_global(SYSTEM_ACTIONS, "system_actions")
    app.add_template_global(ctype_fields, "ctype_fields")
    app.add_template_global(field_labels, "field_labels")
    app.add_template_global(widget_for, "widget_for")
    app.add_template_global(show_when, "show_when")
    app.extensions["switchboard_type_icons"] = TypeIcons(app.static_folder)
    app.add_template_global(type_icon, "type_icon")

    @app.context_processor
    def _enabled_types():
        return {"enabled_types": enabled_types()}
