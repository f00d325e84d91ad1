"""Per-type components: pydantic models turned into named, cleaned JSON Schema."""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.types.kit import ConnectorType

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/"
SPACE_PREFIX = "/s/{spaceId}"
ROLES = {
    "admin": "admin — Kibana's `all` privilege on Actions and Connectors",
    "viewer": "viewer or admin — Kibana's `read` privilege",
}
LICENSES = ["basic", "standard", "gold", "platinum", "enterprise", "trial"]
ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
# 1-255 characters, not only whitespace, no control characters (app/services/connectors.check_name).
NAME_REGEX = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"

# JSON Schema 2020-12 and OpenAPI keywords; anything else a model carries (the form's `widget`,
# `placeholder`, `help`) is renamed to an `x-` extension so no tool mistakes it for a keyword.
_KEYWORDS = {
    "$ref", "$defs", "$schema", "$id", "$anchor", "$comment", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "type", "enum", "const", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "format",
    "items", "prefixItems", "contains", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
    "properties", "patternProperties", "additionalProperties", "propertyNames", "required", "maxProperties",
    "minProperties", "dependentRequired", "dependentSchemas", "allOf", "anyOf", "oneOf", "not", "if", "then",
    "else", "unevaluatedItems", "unevaluatedProperties", "contentMediaType", "contentEncoding",
    "contentSchema", "discriminator", "xml", "externalDocs", "example",
}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
_SCHEMA_ONE = {"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
               "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
_DROPPED = {"help"}  # the form's copy of `description`


# --------------------------------------------------------------------------- naming


def type_prefix(ctype: ConnectorType) -> str:
    """`.server-log` -> `server_log`: the type's component-name prefix."""
    return re.sub(r"[^A-Za-z0-9]+", "_", ctype.id).strip("_").lower()


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


# --------------------------------------------------------------------------- schema clean-up


def _clean(schema: Any, refs: dict[str, str]) -> Any:
    """Rewrite `$ref`s through `refs`, rename non-keywords to `x-...`, drop the form's `help` copy."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            out[key] = REF + refs.get(value.removeprefix(REF), value.removeprefix(REF))
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _clean(sub, refs) for name, sub in value.items()}
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = _clean(value, refs)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub, refs) for sub in value]
        elif key in _DROPPED:
            continue
        elif key in _KEYWORDS or key.startswith("x-"):
            out[key] = value
        else:
            out[f"x-{key}"] = value
    return out


def _required(model: type[BaseModel]) -> bool:
    return any(info.is_required() for info in model.model_fields.values())


# --------------------------------------------------------------------------- per-type components


def type_components(ctype: ConnectorType) -> tuple[dict[str, Any], dict[str, Any]]:
    """(components, facts) for one type; facts name its role components for the rest of the document."""
    p = type_prefix(ctype)
    roles: list[tuple[str, type[BaseModel]]] = [(f"{p}_config", ctype.config), (f"{p}_secrets", ctype.secrets)]
    if ctype.sub_actions:
        for sub in ctype.sub_actions.values():  # sub-actions may share a model (bedrock's run and test)
            role = (f"{p}_{_snake(sub.params.__name__).removeprefix(p + '_')}", sub.params)
            if role not in roles:
                roles.append(role)
    else:
        roles.append((f"{p}_params", ctype.params))
    models: list[type[BaseModel]] = []
    for _, model in roles:
        if model not in models:
            models.append(model)
    keys, top = models_json_schema([(m, "validation") for m in models], ref_template=REF + "{model}")
    defs: dict[str, Any] = top.get("$defs", {})

    rename: dict[str, str] = {}  # pydantic's def name -> component name
    taken: set[str] = set()
    for name, model in roles:
        def_name = keys[(model, "validation")]["$ref"].removeprefix(REF)
        if name in taken:
            raise ValueError(f"component name clash in type {ctype.id}: {name}")
        taken.add(name)
        rename.setdefault(def_name, name)
    for def_name in defs:
        if def_name in rename:
            continue
        snake = _snake(def_name)
        name = f"{p}_{snake.removeprefix(p + '_')}"
        if name in taken:
            name = f"{p}_{snake}"
        n = 2
        while name in taken:
            name, n = f"{p}_{snake}_{n}", n + 1
        taken.add(name)
        rename[def_name] = name

    components: dict[str, Any] = {}
    for def_name, schema in defs.items():
        components[rename[def_name]] = _clean(schema, rename)
    for name, model in roles:  # a model in two roles (EmptySchema as config and secrets) gets both names
        if name not in components:
            components[name] = copy.deepcopy(components[rename[keys[(model, "validation")]["$ref"].removeprefix(REF)]])
    components[f"{p}_config"]["title"] = f"{ctype.name} config"
    components[f"{p}_config"]["description"] = f"The `config` of a `{ctype.id}` connector: plain JSON, returned by the API."
    components[f"{p}_secrets"]["title"] = f"{ctype.name} secrets"
    components[f"{p}_secrets"]["description"] = (
        f"The `secrets` of a `{ctype.id}` connector: stored encrypted, write-only, never returned."
    )

    if ctype.sub_actions:
        branches, mapping = [], {}
        for sub_name, sub in ctype.sub_actions.items():
            model_component = rename[keys[(sub.params, "validation")]["$ref"].removeprefix(REF)]
            branch = f"{p}_params_{safe_name(sub_name)}"
            components[branch] = {
                "title": f"{ctype.name}: {sub_name}",
                "description": sub.description or f"The `{sub_name}` sub-action.",
                "type": "object",
                "additionalProperties": False,
                "required": ["subAction", "subActionParams"] if _required(sub.params) else ["subAction"],
                "properties": {
                    "subAction": {"type": "string", "enum": [sub_name], "description": "The sub-action to run."},
                    "subActionParams": {"$ref": REF + model_component},
                },
                "x-streams": sub.streams,
            }
            branches.append({"$ref": REF + branch})
            mapping[sub_name] = REF + branch
        components[f"{p}_params"] = {
            "title": f"{ctype.name} params",
            "description": f"Run params of a `{ctype.id}` connector: one sub-action and its own params.",
            "oneOf": branches,
            "discriminator": {"propertyName": "subAction", "mapping": mapping},
        }
    else:
        components[f"{p}_params"]["title"] = f"{ctype.name} params"
        components[f"{p}_params"]["description"] = f"Run params of a `{ctype.id}` connector."

    config_required = _required(ctype.config)
    secrets_required = _required(ctype.secrets)
    type_id = {"type": "string", "enum": [ctype.id], "description": "The connector type."}
    components[f"{p}_create_connector_request"] = {
        "title": f"Create {ctype.name} connector request",
        "description": ctype.description,
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "connector_type_id"] + (["config"] if config_required else [])
        + (["secrets"] if secrets_required else []),
        "properties": {
            "name": {"$ref": REF + "connector_name"},
            "connector_type_id": type_id,
            "config": {"$ref": REF + f"{p}_config"},
            "secrets": {"$ref": REF + f"{p}_secrets", "writeOnly": True},
        },
    }
    components[f"{p}_update_connector_request"] = {
        "title": f"Update {ctype.name} connector request",
        "description": (
            f"For a `{ctype.id}` connector. Config and secrets are replaced whole: send the secrets again."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["name"] + (["config"] if config_required else []) + (["secrets"] if secrets_required else []),
        "properties": {
            "name": {"$ref": REF + "connector_name"},
            "config": {"$ref": REF + f"{p}_config"},
            "secrets": {"$ref": REF + f"{p}_secrets", "writeOnly": True},
        },
    }
    components[f"{p}_connector_response"] = _connector_response(ctype, p)
    facts = {"prefix": p, "id": ctype.id, "name": ctype.name}
    return components, facts


def _connector_response(ctype: ConnectorType, p: str) -> dict[str, Any]:
    flag = {"type": "boolean"}
    return {
        "title": f"{ctype.name} connector",
        "description": f"A `{ctype.id}` connector as the API returns it. Secrets are never returned.",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name", "connector_type_id", "is_preconfigured", "is_deprecated", "is_system_action",
                     "is_connector_type_deprecated"],
        "properties": {
            "id": {"type": "string", "description": "The connector id."},
            "name": {"type": "string", "description": "The display name."},
            "connector_type_id": {"type": "string", "enum": [ctype.id], "description": "The connector type."},
            "config": {
                "$ref": REF + f"{p}_config",
                "description": "The validated config, defaults filled in. Absent for preconfigured connectors.",
            },
            "is_preconfigured": {**flag, "description": "Declared in Switchboard's config file; read-only."},
            "is_deprecated": {**flag, "description": "True for a connector Kibana calls deprecated (ServiceNow on the legacy Table API)."},
            "is_missing_secrets": {
                **flag,
                "description": "True after an import without secrets; the connector cannot run until they are "
                "entered again. Absent for preconfigured connectors.",
            },
            "is_system_action": {**flag, "description": "Always false in Switchboard."},
            "is_connector_type_deprecated": {**flag, "description": "Always false in Switchboard."},
            "referenced_by_count": {
                "type": "integer",
                "minimum": 0,
                "description": "Only in `GET /api/actions/connectors`; always 0 (nothing references connectors).",
            },
        },
    }
