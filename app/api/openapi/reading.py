"""Reading the document back, for the docs page."""

from __future__ import annotations

import json
from typing import Any

from app.api.openapi.components import REF

# --------------------------------------------------------------------------- reading it back (the docs page)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema and schema["$ref"].startswith(REF):
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.removeprefix(REF) if ref.startswith(REF) else None


def type_label(schema: dict[str, Any]) -> str:
    """A short, readable type: `string`, `string or null`, `one of: post, put`, `array of bedrock_message`."""
    name = ref_name(schema)
    if name:
        return name
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [type_label(s) for s in schema[key]]
            nullable = "null" in parts
            parts = [p for p in parts if p != "null"]
            return " or ".join(parts) + (" or null" if nullable else "")
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        items = schema.get("items")
        return f"array of {type_label(items)}" if items else "array"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"object of {type_label(extra)}"
        return "object"
    return kind or "any"


def _constraints(schema: dict[str, Any]) -> list[str]:
    notes = []
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("minLength") == 1:
            notes.append("not empty")
        elif "minLength" in option:
            notes.append(f"at least {option['minLength']} characters")
        if "maxLength" in option:
            notes.append(f"at most {option['maxLength']} characters")
        if "minimum" in option:
            notes.append(f"≥ {option['minimum']}")
        if "exclusiveMinimum" in option:
            notes.append(f"> {option['exclusiveMinimum']}")
        if "maximum" in option:
            notes.append(f"≤ {option['maximum']}")
    if "default" in schema and schema["default"] is not None:
        notes.append(f"default {json.dumps(schema['default'])}")
    return notes


def field_rows(doc: dict[str, Any], component: str) -> list[dict[str, Any]]:
    """The fields of one object component: name, type, required, description, notes."""
    schema = resolve(doc, {"$ref": REF + component})
    required = set(schema.get("required", []))
    rows = []
    for key, prop in schema.get("properties", {}).items():
        rows.append({
            "name": key,
            "label": prop.get("title"),
            "type": type_label(prop),
            "ref": ref_name(prop) or next((ref_name(s) for s in [prop.get("items") or {}, *prop.get("anyOf", [])]
                                          if ref_name(s)), None),
            "required": key in required,
            "description": prop.get("description") or "",
            "notes": _constraints(prop),
        })
    return rows


def nested_components(doc: dict[str, Any], roots: list[str]) -> list[str]:
    """Object components reachable from `roots` (not the roots), in the order first met."""
    seen: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = ref_name(node)
            if name and name not in seen and name not in roots:
                seen.append(name)
                walk(doc["components"]["schemas"][name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for root in roots:
        walk(doc["components"]["schemas"][root])
    return seen


def type_reference(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per connector type, its config, secrets and params fields, read from the document."""
    schemas = doc["components"]["schemas"]
    out = []
    for facts in doc["x-connector-types"]:
        p = facts["prefix"]
        sections = [
            {"title": "Config", "component": f"{p}_config", "anchor": f"schema-{p}_config",
             "rows": field_rows(doc, f"{p}_config"), "note": "Plain JSON; returned by the API."},
            {"title": "Secrets", "component": f"{p}_secrets", "anchor": f"schema-{p}_secrets",
             "rows": field_rows(doc, f"{p}_secrets"),
             "note": "Write-only: stored encrypted, never returned. Send them again on every update."},
        ]
        params = schemas[f"{p}_params"]
        if "oneOf" in params:
            for branch in params["oneOf"]:
                name = ref_name(branch)
                sub = schemas[name]
                sub_action = sub["properties"]["subAction"]["enum"][0]
                target = ref_name(sub["properties"]["subActionParams"])
                sections.append({
                    "title": "Params",
                    "component": target,
                    "anchor": f"schema-{name}",
                    "rows": field_rows(doc, target),
                    "note": sub.get("description", "") + (" Streams its answer." if sub.get("x-streams") else ""),
                    "sub_action": sub_action,
                })
        else:
            sections.append({"title": "Params", "component": f"{p}_params", "anchor": f"schema-{p}_params",
                             "rows": field_rows(doc, f"{p}_params"), "note": "The `params` of a run."})
        roots = [s["component"] for s in sections]
        nested = [{"title": schemas[n].get("title") or n, "component": n, "anchor": f"schema-{n}",
                   "rows": field_rows(doc, n), "note": ""}
                  for n in nested_components(doc, roots) if schemas[n].get("type") == "object"]
        examples = {}
        create = doc["paths"]["/api/actions/connector"]["post"]["requestBody"]["content"]["application/json"]
        if p in create.get("examples", {}):
            examples["create"] = create["examples"][p]["value"]
        out.append({**facts, "sections": sections, "nested": nested, "examples": examples})
    return out
