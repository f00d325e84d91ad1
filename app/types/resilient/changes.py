"""The bodies IBM Resilient takes: a new incident, and the change-set of an update (Kibana's utils).

Resilient describes every incident field (`types/incident/fields`): its `input_type`, and a `prefix`
(`properties`) for custom fields. A create puts additional fields at the top level or under their prefix;
an update sends `{changes: [{field: {name}, old_value, new_value}]}` with each value wrapped as the field's
input type wants it (`{text}`, `{textarea: {format, content}}`, `{ids}`, `{id}`, `{date}`, `{boolean}`…).
"""

from __future__ import annotations

import json
import time
from typing import Any

# The keys of pushToService's incident and the Resilient field each one updates.
RENAMED = {"incidentTypes": "incident_type_ids", "severityCode": "severity_code"}
KNOWN_OLD_TYPES = {"textarea", "multiselect", "select", "datetimepicker", "datepicker", "boolean", "number", "text"}


class InvalidIncident(ValueError):
    """The incident cannot be sent as it is (Kibana throws these before calling Resilient)."""


def by_name(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in fields}


def _js(value: Any) -> str:
    """A value as JavaScript's template strings print it (Kibana's messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_values(meta: dict[str, Any], given: list[Any]) -> None:
    """A select's value must be one of its options (Kibana's validateValues)."""
    options = meta.get("values")
    if not isinstance(options, list) or not options:
        return
    accepted = [o.get("value") for o in options]
    if all(any(_same(v, a) for a in accepted) for v in given):
        return
    listed = ",".join(f'{_js(o.get("value"))} (for "{o.get("label")}")' for o in options)
    raise InvalidIncident(
        f"Invalid values provided to {meta['name']}: {json.dumps(given, indent=2)}. Accepted values: {listed}"
    )


def _same(a: Any, b: Any) -> bool:
    """JavaScript's === between JSON values: 17 and 17.0 are one number, "17" is not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b and isinstance(a, str) == isinstance(b, str)


def new_incident(incident: dict[str, Any], fields: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The POST body of a new incident; `fields` is read from Resilient when there are additional fields."""
    data: dict[str, Any] = {"name": incident["name"], "discovered_date": int(time.time() * 1000)}
    if incident.get("description"):
        data["description"] = {"format": "html", "content": incident["description"]}
    if incident.get("incidentTypes"):
        data["incident_type_ids"] = [{"id": n} for n in incident["incidentTypes"]]
    if incident.get("severityCode"):
        data["severity_code"] = {"id": incident["severityCode"]}
    if incident.get("additionalFields"):
        extra = additional_for_creation(fields or [], incident["additionalFields"])
        properties = extra.pop("properties", None)
        data.update(extra)
        if properties:
            data["properties"] = properties
    return data


def additional_for_creation(fields: list[dict[str, Any]], additional: dict[str, Any]) -> dict[str, Any]:
    """Additional fields placed where Resilient reads them: custom ones under their prefix."""
    rest = dict(additional)
    flattened = {**(rest.pop("properties", None) or {}), **rest}
    metas = by_name(fields)
    data: dict[str, Any] = {}
    for key, value in flattened.items():
        meta = metas.get(key)
        if meta and meta.get("input_type") in ("select", "multiselect"):
            check_values(meta, value if isinstance(value, list) else [value])
        if meta and meta.get("prefix"):
            data.setdefault(meta["prefix"], {})[key] = value
        else:
            data[key] = value
    return data


def _shape(meta: dict[str, Any], value: Any, old: Any = None) -> dict[str, Any]:
    """A value wrapped as the field's input type wants it (Kibana's getValueFieldShape)."""
    kind = meta.get("input_type")
    if kind == "textarea":
        if value is None:
            return {"textarea": None}
        if isinstance(value, dict) and "format" in value and "content" in value:
            return {"textarea": dict(value)}
        fmt = old.get("format", "text") if isinstance(old, dict) and "format" in old else "text"
        return {"textarea": {"format": fmt, "content": value}}
    if kind == "multiselect":
        if value is None:
            return {}
        ids = list(value) if isinstance(value, list) else [value]
        check_values(meta, ids)
        return {"ids": ids}
    if kind == "select":
        if value is None:
            return {}
        check_values(meta, [value])
        return {"id": value}
    if kind in ("datetimepicker", "datepicker"):
        return {"date": value} if _is_number(value) else {}
    if kind == "boolean":
        return {"boolean": value} if isinstance(value, bool) else {}
    if kind == "number":
        return {"object": value} if _is_number(value) else {}
    if kind == "text":
        return {"text": value} if isinstance(value, str) else {}
    return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def update_changes(old: dict[str, Any], new: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The PATCH body: one change per field given, its old value read from the incident as it is now."""
    root = {k: v for k, v in new.items() if k != "additionalFields"}
    updates = {**(new.get("additionalFields") or {}), **root}
    metas = by_name(fields)
    changes = []
    for key in updates:
        name = RENAMED.get(key, key)
        meta = metas.get(name)
        if meta is None:  # without its input type, the value's shape is unknown
            raise InvalidIncident(f"No metadata found for field {name}")
        old_value = old.get(name) or old.get(key)
        if meta.get("prefix"):
            holder = old.get(meta["prefix"])
            old_value = holder.get(key) if isinstance(holder, dict) and holder else None
        new_value = updates.get(name) or updates.get(key)
        old_kept = old_value if meta.get("input_type") in KNOWN_OLD_TYPES else None
        changes.append({
            "field": {"name": name},
            "old_value": _shape(meta, old_kept),
            "new_value": _shape(meta, new_value, old_value),
        })
    return {"changes": changes}
