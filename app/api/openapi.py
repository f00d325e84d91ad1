"""GET /api/openapi.json: an OpenAPI 3.1 document of the whole REST API, built from the type registry.

DESIGN rule 1: each type's pydantic `config`, `secrets` and `params` models are the only description of
its fields; this module turns them into components and the docs page (app/web/api_docs.py) reads the
same document. Nothing here is written per type.

Shape of the document:

- **OpenAPI 3.1**, so pydantic's JSON Schema (2020-12: `anyOf [..., {type: null}]`, numeric
  `exclusiveMinimum`, `const`) goes in unchanged.
- **Component names** are snake_case and prefixed with the type id made name-safe (`.server-log` ->
  `server_log`): `<p>_config`, `<p>_secrets`, `<p>_params`, `<p>_create_connector_request`,
  `<p>_update_connector_request`, `<p>_connector_response`; a sub-action type also gets
  `<p>_params_<subAction>` (one branch of `<p>_params`) and its models' own names (`bedrock_run_params`),
  and nested models keep theirs (`bedrock_telemetry_metadata`). Two types can therefore never clash.
- **Spaces**: every operation is listed twice, at `/api/...` and at `/s/{spaceId}/api/...` (operationId
  suffix `WithSpaceId`), as Kibana's own connectors bundle does; a server variable could not say that
  both forms exist at once, and generated clients then get both. `spaceId` is `default` only.
- Kibana's bundle quirks are not copied: discriminators carry a `mapping`, the apiKey scheme names the
  real `Authorization` header, every 4xx points at the right response, `_execute` documents the whole
  result, and secrets appear only in request bodies (`writeOnly`).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import metadata
from typing import Any

from flask import Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api import route
from app.services.connectors import NAME_MAX
from app.types import all_types
from app.types.base import ConnectorType

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


def _safe(name: str) -> str:
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


def _type_components(ctype: ConnectorType) -> tuple[dict[str, Any], dict[str, Any]]:
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
            branch = f"{p}_params_{_safe(sub_name)}"
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
            "is_deprecated": {**flag, "description": "Always false in Switchboard."},
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
            examples[f"{p}_{_safe(sub_name)}"] = {
                "summary": f"{ctype.name}: {sub_name}",
                "value": {"subAction": sub_name, "subActionParams": copy.deepcopy(sub.example)},
            }
    return examples


# --------------------------------------------------------------------------- shared components


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF + "error_response"}}}}


RESPONSES = {
    "400": _error("Bad request: invalid body or parameters, a type's validation message, a missing `kbn-xsrf` "
                  "header, or a change to a preconfigured connector."),
    "401": _error("No credentials, or unknown, revoked or wrong ones."),
    "403": _error("The caller's role may not do this (`Unauthorized to ...`), or the connector type is not "
                  "enabled in Switchboard's config."),
    "404": _error("No such connector (`Saved object [action/<id>] not found`), or no such space."),
    "409": _error("A connector with this id exists (`Saved object [action/<id>] conflict`)."),
    "413": _error("The request body is larger than Switchboard accepts."),
    "429": _error("Too many failed sign-ins with these Basic credentials; the message says when to retry."),
}


def _shared_schemas(types: list[ConnectorType]) -> dict[str, Any]:
    ids = [t.id for t in types]
    return {
        "error_response": {
            "title": "Error",
            "description": "Kibana's Boom error body.",
            "type": "object",
            "additionalProperties": False,
            "required": ["statusCode", "error", "message"],
            "properties": {
                "statusCode": {"type": "integer", "description": "The HTTP status code.", "examples": [404]},
                "error": {"type": "string", "description": "The HTTP reason phrase.", "examples": ["Not Found"]},
                "message": {"type": "string", "examples": ["Saved object [action/my-connector] not found"]},
            },
        },
        "connector_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": NAME_MAX,
            "pattern": NAME_REGEX,
            "description": f"The display name: 1-{NAME_MAX} characters, not only spaces, no control characters.",
            "examples": ["my-connector"],
        },
        "connector_type_id": {
            "type": "string",
            "enum": ids,
            "description": "A registered connector type id.",
        },
        "connector_type": {
            "title": "Connector type",
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "name", "enabled", "enabled_in_config", "enabled_in_license",
                         "minimum_license_required", "supported_feature_ids", "is_system_action_type", "is_deprecated"],
            "properties": {
                "id": {"$ref": REF + "connector_type_id"},
                "name": {"type": "string", "description": "The type's display name.", "examples": ["Webhook"]},
                "enabled": {"type": "boolean", "description": "Enabled in config and licence."},
                "enabled_in_config": {"type": "boolean", "description": "Listed in Switchboard's `enabled_types`."},
                "enabled_in_license": {"type": "boolean", "description": "Always true: Switchboard has no licence tiers."},
                "minimum_license_required": {"type": "string", "enum": LICENSES,
                                             "description": "Kibana's licence for this type (informational)."},
                "supported_feature_ids": {"type": "array", "items": {"type": "string"},
                                          "description": "Kibana features that use this type."},
                "is_system_action_type": {"type": "boolean", "description": "Always false."},
                "is_deprecated": {"type": "boolean", "description": "Always false."},
            },
        },
        "create_connector_request": {
            "title": "Create connector request",
            "description": "One shape per connector type, chosen by `connector_type_id`.",
            "oneOf": [{"$ref": REF + f"{type_prefix(t)}_create_connector_request"} for t in types],
            "discriminator": {
                "propertyName": "connector_type_id",
                "mapping": {t.id: REF + f"{type_prefix(t)}_create_connector_request" for t in types},
            },
        },
        "update_connector_request": {
            "title": "Update connector request",
            "description": "`{name, config, secrets}` in the shape of the connector's own type; the type cannot change.",
            "anyOf": [{"$ref": REF + f"{type_prefix(t)}_update_connector_request"} for t in types],
        },
        "connector_response": {
            "title": "Connector",
            "description": "A connector, in the shape of its type. Secrets are never returned.",
            "oneOf": [{"$ref": REF + f"{type_prefix(t)}_connector_response"} for t in types],
            "discriminator": {
                "propertyName": "connector_type_id",
                "mapping": {t.id: REF + f"{type_prefix(t)}_connector_response" for t in types},
            },
        },
        "execute_connector_request": {
            "title": "Run connector request",
            "type": "object",
            "additionalProperties": False,
            "required": ["params"],
            "properties": {
                "params": {
                    "description": "The params of the connector's type. They are checked when the connector runs: "
                    "params its type rejects give HTTP 200 with `status: error` and the reason, as in Kibana.",
                    "anyOf": [{"$ref": REF + f"{type_prefix(t)}_params"} for t in types],
                },
            },
        },
        "execute_connector_response": {
            "title": "Run connector response",
            "description": "A run that failed is still HTTP 200, with `status: error`, `message` and `retry`.",
            "type": "object",
            "additionalProperties": False,
            "required": ["connector_id", "status"],
            "properties": {
                "connector_id": {"type": "string", "description": "The connector that ran."},
                "status": {"type": "string", "enum": ["ok", "error"]},
                "data": {"description": "What the connector returned: any JSON value (object, array, text)."},
                "message": {"type": "string", "description": "Why the run failed, for a person."},
                "service_message": {"type": "string", "description": "The service's own error text."},
                "retry": {
                    "type": ["boolean", "string", "null"],
                    "description": "Whether a retry may succeed: true/false, or an ISO-8601 time to retry at.",
                },
            },
        },
        "export_request": {
            "title": "Export request",
            "description": "`type: action` (or `[\"action\"]`) exports every stored connector; `objects` picks some.",
            "type": "object",
            "anyOf": [{"required": ["type"]}, {"required": ["objects"]}],
            "properties": {
                "type": {
                    "anyOf": [{"type": "string", "enum": ["action"]},
                              {"type": "array", "items": {"type": "string", "enum": ["action"]}}],
                },
                "objects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "id"],
                        "properties": {"type": {"type": "string", "enum": ["action"]}, "id": {"type": "string"}},
                    },
                },
                "excludeExportDetails": {"type": "boolean", "default": False,
                                         "description": "Leave out the last, export-details line."},
                "includeReferencesDeep": {"type": "boolean", "description": "Accepted and ignored: connectors "
                                          "reference nothing."},
            },
        },
        "import_request": {
            "title": "Import request",
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "string",
                    "contentMediaType": "application/octet-stream",  # a file part (with a filename), not a field
                    "description": "A Kibana saved-objects export (NDJSON), sent as a file (`curl -F file=@export.ndjson`). "
                    "Secrets are never in it.",
                },
            },
        },
        "import_response": {
            "title": "Import response",
            "type": "object",
            "additionalProperties": False,
            "required": ["success", "successCount", "successResults", "errors", "warnings"],
            "properties": {
                "success": {"type": "boolean"},
                "successCount": {"type": "integer", "minimum": 0},
                "successResults": {"type": "array", "items": {
                    "type": "object",
                    "required": ["type", "id", "meta"],
                    "properties": {
                        "type": {"type": "string"},
                        "id": {"type": "string"},
                        "meta": {"type": "object"},
                        "destinationId": {"type": "string"},
                        "overwrite": {"type": "boolean"},
                    },
                }},
                "errors": {"type": "array", "items": {
                    "type": "object",
                    "required": ["type", "id", "error"],
                    "properties": {
                        "type": {"type": "string"},
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "meta": {"type": "object"},
                        "error": {"type": "object", "required": ["type"], "properties": {
                            "type": {"type": "string"},
                            "message": {"type": "string"},
                            "statusCode": {"type": "integer"},
                        }},
                    },
                }},
                "warnings": {"type": "array", "items": {
                    "type": "object",
                    "required": ["type", "message"],
                    "properties": {
                        "type": {"type": "string"},
                        "message": {"type": "string"},
                        "actionPath": {"type": "string"},
                        "buttonLabel": {"type": "string"},
                    },
                }},
            },
        },
    }


PARAMETERS = {
    "kbn_xsrf": {
        "in": "header",
        "name": "kbn-xsrf",
        "required": True,
        "description": "Cross-site request forgery protection, as Kibana: any value (e.g. `true`). Required on "
        "every POST, PUT and DELETE sent with an `Authorization` header.",
        "schema": {"type": "string"},
        "example": "true",
    },
    "connector_id": {
        "in": "path",
        "name": "connectorId",
        "required": True,
        "description": "The connector id.",
        "schema": {"type": "string"},
        "example": "df770e30-8b8b-11ed-a780-3b746c987a81",
    },
    "new_connector_id": {
        "in": "path",
        "name": "connectorId",
        "required": True,
        "description": "The id for the new connector: 1-255 letters, digits, `.`, `_` or `-`, starting with a "
        "letter or digit. Without it (`POST /api/actions/connector`) a UUID is generated.",
        "schema": {"type": "string", "pattern": ID_REGEX},
        "example": "my-connector",
    },
    "space_id": {
        "in": "path",
        "name": "spaceId",
        "required": True,
        "description": "The space. Switchboard has one space, `default`; any other gives 404.",
        "schema": {"type": "string", "enum": ["default"]},
        "example": "default",
    },
}


# --------------------------------------------------------------------------- operations


def _json_body(schema: str, description: str, examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF + schema}}
    if examples:
        media["examples"] = examples
    return {"required": True, "description": description, "content": {"application/json": media}}


def _ok(description: str, schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


# One saved object and the export-details line, as `POST /api/saved_objects/_export` writes them.
IMPORT_EXAMPLE = "\n".join(json.dumps(line, separators=(",", ":"), sort_keys=True) for line in (
    {"attributes": {"actionTypeId": ".server-log", "config": {}, "isMissingSecrets": False, "name": "my-server-log",
                    "secrets": {}},
     "coreMigrationVersion": "8.8.0", "id": "my-server-log", "managed": False, "references": [], "type": "action",
     "typeMigrationVersion": "8.3.0"},
    {"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": 1, "missingRefCount": 0,
     "missingReferences": []},
))


def _operations(types: list[ConnectorType], components: dict[str, Any]) -> list[dict[str, Any]]:
    create_examples, update_examples, run_examples = {}, {}, {}
    for t in types:
        p = type_prefix(t)
        example = connector_example(t, components)
        if example is not None:
            create_examples[p] = {"summary": t.name, "value": {"name": f"my-{p.replace('_', '-')}-connector",
                                                               "connector_type_id": t.id, **example}}
            update_examples[p] = {"summary": t.name, "value": {"name": f"my-{p.replace('_', '-')}-connector",
                                                               **example}}
        for name, ex in params_examples(t).items():
            run_examples[name] = {"summary": ex["summary"], "value": {"params": ex["value"]}}
    connector = {"$ref": REF + "connector_response"}
    return [
        {
            "method": "post", "path": "/api/actions/connector", "operationId": "createConnector",
            "tag": "connectors", "role": "admin", "summary": "Create a connector",
            "description": "Creates a connector with a generated UUID. Config and secrets are validated by the "
            "type; secrets are stored encrypted and never returned.",
            "requestBody": _json_body("create_connector_request", "The connector, in the shape of its type.",
                                      create_examples),
            "responses": {"200": _ok("The new connector.", connector), "400": "400", "401": "401", "403": "403"},
        },
        {
            "method": "post", "path": "/api/actions/connector/{connectorId}", "operationId": "createConnectorId",
            "tag": "connectors", "role": "admin", "summary": "Create a connector with a chosen id",
            "description": "As `POST /api/actions/connector`, with the id in the path.",
            "parameters": ["new_connector_id"],
            "requestBody": _json_body("create_connector_request", "The connector, in the shape of its type.",
                                      create_examples),
            "responses": {"200": _ok("The new connector.", connector), "400": "400", "401": "401", "403": "403",
                          "409": "409"},
        },
        {
            "method": "get", "path": "/api/actions/connector/{connectorId}", "operationId": "getConnector",
            "tag": "connectors", "role": "viewer", "summary": "Get a connector",
            "description": "The connector, without secrets. Preconfigured connectors come without `config` and "
            "`is_missing_secrets`, as in Kibana.",
            "parameters": ["connector_id"],
            "responses": {"200": _ok("The connector.", connector), "401": "401", "404": "404"},
        },
        {
            "method": "put", "path": "/api/actions/connector/{connectorId}", "operationId": "updateConnector",
            "tag": "connectors", "role": "admin", "summary": "Update a connector",
            "description": "Replaces name, config and secrets whole, as Kibana does: send the secrets again on "
            "every update. The type cannot change. Preconfigured connectors cannot be updated (400).",
            "parameters": ["connector_id"],
            "requestBody": _json_body("update_connector_request", "`{name, config, secrets}` of the connector's type.",
                                      update_examples),
            "responses": {"200": _ok("The updated connector.", connector), "400": "400", "401": "401", "403": "403",
                          "404": "404"},
        },
        {
            "method": "delete", "path": "/api/actions/connector/{connectorId}", "operationId": "deleteConnector",
            "tag": "connectors", "role": "admin", "summary": "Delete a connector",
            "description": "Deletes the connector and its secrets. Preconfigured connectors cannot be deleted (400).",
            "parameters": ["connector_id"],
            "responses": {"204": {"description": "Deleted; no body."}, "400": "400", "401": "401", "403": "403",
                          "404": "404"},
        },
        {
            "method": "post", "path": "/api/actions/connector/{connectorId}/_execute", "operationId": "runConnector",
            "tag": "connectors", "role": "viewer", "summary": "Run a connector",
            "description": "Runs the connector with the given params, through the same path as the test pane, "
            "and records an event. A failed run is HTTP 200 with `status: error`.",
            "parameters": ["connector_id"],
            "requestBody": _json_body("execute_connector_request", "`{params}` of the connector's type.",
                                      run_examples),
            "responses": {"200": _ok("The run's result.", {"$ref": REF + "execute_connector_response"}),
                          "400": "400", "401": "401", "403": "403", "404": "404"},
        },
        {
            "method": "get", "path": "/api/actions/connectors", "operationId": "getConnectors",
            "tag": "connectors", "role": "viewer", "summary": "List connectors",
            "description": "Every connector, stored and preconfigured, sorted by name, each with "
            "`referenced_by_count`. A plain array, no paging.",
            "responses": {"200": _ok("The connectors.", {"type": "array", "items": connector}), "401": "401"},
        },
        {
            "method": "get", "path": "/api/actions/connector_types", "operationId": "getConnectorTypes",
            "tag": "connectors", "role": "viewer", "summary": "List connector types",
            "description": "Every registered connector type, optionally only those supporting a feature.",
            "parameters": [{
                "in": "query", "name": "feature_id", "required": False,
                "description": "Keep only types whose `supported_feature_ids` contain this (e.g. `alerting`).",
                "schema": {"type": "string", "maxLength": 1000},
            }],
            "responses": {"200": _ok("The connector types.", {"type": "array", "items": {"$ref": REF + "connector_type"}}),
                          "400": "400", "401": "401"},
        },
        {
            "method": "post", "path": "/api/saved_objects/_export", "operationId": "exportSavedObjects",
            "tag": "saved objects", "role": "admin", "summary": "Export connectors",
            "description": "Kibana's saved-objects export, for connectors (`action`): NDJSON, one connector per "
            "line then an export-details line. Secrets are never exported (`secrets: {}`); preconfigured "
            "connectors are left out.",
            "requestBody": _json_body("export_request", "What to export.",
                                      {"all": {"summary": "Every connector", "value": {"type": ["action"]}}}),
            "responses": {"200": _ok("The export file.", {"type": "string"}, "application/ndjson"),
                          "400": "400", "401": "401", "403": "403"},
        },
        {
            "method": "post", "path": "/api/saved_objects/_import", "operationId": "importSavedObjects",
            "tag": "saved objects", "role": "admin", "summary": "Import connectors",
            "description": "Kibana's saved-objects import (multipart field `file`). Imported connectors whose type "
            "needs secrets are marked `is_missing_secrets` and a warning says so.",
            "parameters": [
                {"in": "query", "name": "overwrite", "required": False, "schema": {"type": "boolean", "default": False},
                 "description": "Replace connectors with the same id."},
                {"in": "query", "name": "createNewCopies", "required": False,
                 "schema": {"type": "boolean", "default": False},
                 "description": "Give every imported connector a new id. Not with `overwrite`."},
            ],
            "requestBody": {"required": True, "description": "The export file.", "content": {
                "multipart/form-data": {"schema": {"$ref": REF + "import_request"},
                                        "examples": {"server_log": {"summary": "One server-log connector",
                                                                    "value": {"file": IMPORT_EXAMPLE}}}}}},
            "responses": {"200": _ok("What was imported, and what was not.", {"$ref": REF + "import_response"}),
                          "400": "400", "401": "401", "403": "403", "413": "413"},
        },
        {
            "method": "get", "path": "/api/openapi.json", "operationId": "getOpenApiDocument",
            "tag": "openapi", "role": "viewer", "summary": "This OpenAPI document",
            "description": "The OpenAPI 3.1 document of this API, generated from the connector type registry.",
            "responses": {"200": _ok("The document.", {"type": "object"}), "401": "401"},
        },
    ]


def _operation_object(op: dict[str, Any], *, space: bool) -> dict[str, Any]:
    params: list[Any] = []
    if space:
        params.append({"$ref": "#/components/parameters/space_id"})
    if op["method"] != "get":
        params.append({"$ref": "#/components/parameters/kbn_xsrf"})
    for param in op.get("parameters", []):
        params.append({"$ref": f"#/components/parameters/{param}"} if isinstance(param, str) else param)
    responses = {code: ({"$ref": f"#/components/responses/{r}"} if isinstance(r, str) else r)
                 for code, r in op["responses"].items()}
    if op["method"] != "get" and "400" not in responses:
        responses["400"] = {"$ref": "#/components/responses/400"}
    if "requestBody" in op and "413" not in responses:
        responses["413"] = {"$ref": "#/components/responses/413"}
    responses.setdefault("429", {"$ref": "#/components/responses/429"})
    if space and "404" not in responses:
        responses["404"] = {"$ref": "#/components/responses/404"}
    role = ROLES[op["role"]]
    description = op["description"] + f"\n\nRole: {role}."
    if op["method"] != "get":
        description += " Send `kbn-xsrf` (any value) with header credentials."
    out: dict[str, Any] = {
        "summary": op["summary"],
        "description": description,
        "operationId": op["operationId"] + ("WithSpaceId" if space else ""),
        "tags": [op["tag"]],
        "x-required-role": op["role"],
    }
    if params:
        out["parameters"] = params
    if "requestBody" in op:
        out["requestBody"] = op["requestBody"]
    out["responses"] = dict(sorted(responses.items()))
    return out


DESCRIPTION = """\
Switchboard's REST API, wire-compatible with Kibana's Connectors API (`/api/actions/...`) and its
saved-objects export/import for connectors.

**Authentication.** Send `Authorization: ApiKey <key>` (the value shown once when an admin creates a key
under *API keys*: base64 of `id:key`, as Kibana's API keys) or `Authorization: Basic <base64 user:password>`.
A browser already signed in to Switchboard may also use its session cookie, with the page's CSRF token in
`X-CSRFToken` on changes. Roles: **admin** may change connectors; **viewer** may list, read and run them.

**kbn-xsrf.** Every POST, PUT and DELETE with an `Authorization` header must carry `kbn-xsrf` (any value),
as Kibana requires; without it the answer is 400.

**Spaces.** Every path also exists under `/s/{spaceId}`, as in Kibana; Switchboard has one space, `default`.

**Errors** are Kibana's Boom bodies: `{"statusCode": 404, "error": "Not Found", "message": "..."}`.
"""


def _version() -> str:
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:
        return "0"


def build_document() -> dict[str, Any]:
    """The whole document, from the registry as it is now."""
    types = all_types()
    schemas: dict[str, Any] = {}
    prefixes: dict[str, str] = {}
    type_facts = []
    for t in types:
        p = type_prefix(t)
        if p in prefixes:
            raise ValueError(f"types {prefixes[p]} and {t.id} share the component prefix {p}")
        prefixes[p] = t.id
        components, facts = _type_components(t)
        clash = set(components) & set(schemas)
        if clash:
            raise ValueError(f"component name clash: {sorted(clash)}")
        schemas.update(components)
        type_facts.append({**facts, "sub_actions": list(t.sub_actions), "description": t.description})
    schemas.update(_shared_schemas(types))

    paths: dict[str, dict[str, Any]] = {}
    operations = _operations(types, schemas)
    for space in (False, True):
        for op in operations:
            path = (SPACE_PREFIX if space else "") + op["path"]
            paths.setdefault(path, {})[op["method"]] = _operation_object(op, space=space)

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Switchboard connectors API",
            "version": _version(),
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "This Switchboard."}],
        "security": [{"apiKeyAuth": []}, {"basicAuth": []}],
        "tags": [
            {"name": "connectors", "description": "Connectors, connector types and runs (Kibana's `/api/actions`)."},
            {"name": "saved objects", "description": "Export and import connectors as Kibana saved objects."},
            {"name": "openapi", "description": "This document."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The header value is `ApiKey ` followed by the key shown once at creation "
                    "(base64 of `id:key`): `Authorization: ApiKey <key>`.",
                },
                "basicAuth": {"type": "http", "scheme": "basic",
                              "description": "A Switchboard user name and password."},
            },
            "parameters": PARAMETERS,
            "responses": RESPONSES,
            "schemas": dict(sorted(schemas.items())),
        },
        "x-connector-types": type_facts,
    }


@cache
def document_json() -> str:
    """The document as JSON text; built once per process (the registry is code)."""
    return json.dumps(build_document(), ensure_ascii=False)


def document() -> dict[str, Any]:
    """A fresh copy of the document, for readers that may change it."""
    return json.loads(document_json())


@route("/openapi.json", methods=["GET"], endpoint="openapi_document")
def openapi_document():
    return Response(document_json(), mimetype="application/json")


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
