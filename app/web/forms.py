"""Turns a type's form fields into submitted data and back, with an error per field (each field's
widget, app/web/widgets.py, reads and shows its own values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.types.fields import FormField
from app.web.widgets import widget_for


@dataclass
class Section:
    """One fieldset's state: parsed data, what to show back in the inputs, and errors by key."""

    data: dict[str, Any] = field(default_factory=dict)
    display: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)  # secret fields the user asked to remove


def display_value(f: FormField, value: Any) -> Any:
    if value is None and f.widget == "kv":
        return []
    return widget_for(f).display(f, value)


def section_from_data(fields: list[FormField], data: dict[str, Any] | None, *, with_defaults: bool = True) -> Section:
    data = data or {}
    display = {}
    for f in fields:
        value = data.get(f.key, f.default if with_defaults else None)
        display[f.key] = "" if f.secret and f.widget != "kv" else display_value(f, value)
    return Section(data=dict(data), display=display)


def stored_secrets_section(fields: list[FormField], shape: dict[str, Any]) -> Section:
    """Blank secret inputs; kv secrets list their stored entry names with blank values."""
    display = {f.key: [(name, "") for name in shape.get(f.key) or []] if f.widget == "kv" else "" for f in fields}
    return Section(display=display)


def read_section(fields: list[FormField], form: MultiDict, prefix: str) -> Section:
    s = Section()
    for f in fields:
        name = f"{prefix}.{f.key}"
        if f.secret and form.get(f"{name}.__clear"):
            s.cleared.add(f.key)
        widget_for(f).read(f, form, name, s)
    return s


def merge_secrets(fields: list[FormField], entered: Section, stored: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Blank keeps the stored value; a kv row with a blank value keeps that entry's stored value.

    Returns the merged secrets and errors for blanks that have nothing stored to keep.
    """
    merged: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.key in entered.cleared:
            continue
        if f.widget == "kv":
            rows = entered.data.get(f.key, {})
            old = stored.get(f.key) or {}
            out = {}
            for key, value in rows.items():
                if value:
                    out[key] = value
                elif key in old:
                    out[key] = old[key]
                else:
                    errors[f.key] = f'Enter a value for "{key}".'
            if out:
                merged[f.key] = out
        elif f.key in entered.data:
            merged[f.key] = entered.data[f.key]
        elif stored.get(f.key) is not None:
            merged[f.key] = stored[f.key]
    return merged, errors


def shown(f: FormField, section: str, posted: dict[str, dict[str, Any]]) -> bool:
    """Whether the form shows `f` for these posted values (its `show_when`, as the page's script reads it:
    a checkbox is "true"/"false", an empty select "")."""
    for key, values in (f.show_when or {}).items():
        other, _, name = key.rpartition(".")
        value = posted.get(other or section, {}).get(name)
        text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
        if text not in values:
            return False
    return True


def drop_hidden_stored(fields: list[FormField], merged: dict[str, Any], entered: Section, config: Section) -> None:
    """A stored secret whose field the form hides (another authentication was chosen) is not kept: what is
    saved is what the form shows, so credentials of two kinds never stay mixed (Kibana's UI does the same)."""
    posted = {"config": config.data, "secrets": entered.data}
    for f in fields:
        if f.key not in entered.data and f.show_when and not shown(f, "secrets", posted):
            merged.pop(f.key, None)


def errors_by_section(errors: dict[str, str]) -> dict[str, dict[str, str]]:
    """{"config.url": m} -> {"config": {"url": m}}; keys without a section go under ""."""
    out: dict[str, dict[str, str]] = {}
    for key, message in errors.items():
        section, _, rest = key.partition(".")
        if not rest:
            section, rest = "", section
        out.setdefault(section, {})[rest.split(".")[0]] = message
    return out
