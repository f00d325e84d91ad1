"""Turns a type's form fields into submitted data and back, with an error per field.

Field names in HTML are `<section>.<key>` (sections: config, secrets, params); a `kv` field posts
parallel lists `<section>.<key>.name` / `<section>.<key>.value`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.outbound.trace import MASK
from app.types.fields import FormField


@dataclass
class Section:
    """One fieldset's state: parsed data, what to show back in the inputs, and errors by key."""

    data: dict[str, Any] = field(default_factory=dict)
    display: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)  # secret fields the user asked to remove


def display_value(f: FormField, value: Any) -> Any:
    if value is None:
        return [] if f.widget == "kv" else ""
    if f.widget == "kv":
        return list(value.items()) if isinstance(value, dict) else []
    if f.widget == "json":
        return json.dumps(value, indent=2)
    if f.widget == "jsontext" and isinstance(value, str):
        try:
            return json.dumps(json.loads(value), indent=2)
        except ValueError:
            return value
    if f.widget == "checkbox":
        return bool(value)
    return str(value)


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
        if f.widget == "kv":
            _read_kv(f, form, name, s)
            continue
        if f.widget == "checkbox":
            values = form.getlist(name)
            checked = bool(values) and values[-1] in ("true", "on", "1")
            s.data[f.key] = checked
            s.display[f.key] = checked
            continue
        raw = form.get(name, "")
        s.display[f.key] = "" if f.secret else raw
        if raw == "" or (f.secret and raw.strip() == ""):
            continue  # absent: the schema's default applies, or a stored secret is kept
        if f.secret and MASK in raw:
            s.errors[f.key] = "Enter the secret itself, or leave the field blank to keep the stored one."
        elif f.widget == "number":
            try:
                s.data[f.key] = int(raw) if raw.strip().lstrip("-").isdigit() else float(raw)
            except ValueError:
                s.errors[f.key] = "Enter a number."
        elif f.widget in ("json", "jsontext"):
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                s.errors[f.key] = f"Invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            else:  # jsontext: checked here, but the type wants the text itself
                s.data[f.key] = raw if f.widget == "jsontext" else parsed
        else:
            s.data[f.key] = raw
    return s


def _read_kv(f: FormField, form: MultiDict, name: str, s: Section) -> None:
    names = form.getlist(f"{name}.name")
    values = form.getlist(f"{name}.value")
    pairs: dict[str, str] = {}
    shown = []
    for key, value in zip(names, values, strict=False):
        key = key.strip()
        if not key:
            continue
        if key.lower() in (k.lower() for k in pairs):
            s.errors[f.key] = f'"{key}" is listed twice.'
        if f.secret and MASK in value:
            s.errors[f.key] = "Enter the secret itself, or leave the value blank to keep the stored one."
        pairs[key] = value
        shown.append((key, "" if f.secret else value))
    s.display[f.key] = shown
    if pairs:
        s.data[f.key] = pairs


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


def errors_by_section(errors: dict[str, str]) -> dict[str, dict[str, str]]:
    """{"config.url": m} -> {"config": {"url": m}}; keys without a section go under ""."""
    out: dict[str, dict[str, str]] = {}
    for key, message in errors.items():
        section, _, rest = key.partition(".")
        if not rest:
            section, rest = "", section
        out.setdefault(section, {})[rest.split(".")[0]] = message
    return out
