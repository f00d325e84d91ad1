"""Examples in the document, built from each type's own schema and test params."""

from __future__ import annotations

import copy
from typing import Any

from app.api.openapi.components import REF, safe_name, type_prefix
from app.types.base import ConnectorType

# --------------------------------------------------------------------------- examples


def _example_value(key: str, schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in schema:
        schema = components[schema["$ref"].removeprefix(REF)]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _example_value(key, option, components)
    if "x-placeholder" in schema:
        return schema["x-placeholder"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return f"<{key}>"


def connector_example(ctype: ConnectorType, components: dict[str, Any]) -> dict[str, Any] | None:
    """A config and secrets that the type accepts: required fields, then whatever its checks ask for."""
    p = type_prefix(ctype)
    sections = {"config": components[f"{p}_config"], "secrets": components[f"{p}_secrets"]}
    values: dict[str, dict[str, Any]] = {"config": {}, "secrets": {}}
    for section, schema in sections.items():
        for key in schema.get("required", []):
            values[section][key] = _example_value(key, schema["properties"][key], components)
        for key, prop in schema.get("properties", {}).items():
            if key not in values[section] and "x-placeholder" in prop:
                values[section][key] = prop["x-placeholder"]
    for _ in range(5):  # fill what check_connector names, e.g. a webhook's user and password for basic auth
        try:
            config = ctype.config.model_validate(values["config"])
            secrets = ctype.secrets.model_validate(values["secrets"])
        except ValueError:
            return None
        problems = ctype.check_connector(config, secrets, ("*",))
        if not problems:
            return {k: v for k, v in values.items() if v or k == "config"}
        for field in problems:
            section, _, key = field.partition(".")
            prop = sections.get(section, {}).get("properties", {}).get(key)
            if prop is None or key in values[section]:
                return None
            values[section][key] = _example_value(key, prop, components)
    return None


def params_examples(ctype: ConnectorType) -> dict[str, dict[str, Any]]:
    """Named run params: the type's test params, and each sub-action's own example."""
    p = type_prefix(ctype)
    examples = {p: {"summary": f"{ctype.name}: test params", "value": copy.deepcopy(ctype.test_params)}}
    for sub_name, sub in ctype.sub_actions.items():
        if sub.example is not None:
            examples[f"{p}_{safe_name(sub_name)}"] = {
                "summary": f"{ctype.name}: {sub_name}",
                "value": {"subAction": sub_name, "subActionParams": copy.deepcopy(sub.example)},
            }
    return examples
