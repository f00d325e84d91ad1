"""Components every type shares: errors, connector and type objects, parameters."""

from __future__ import annotations

from typing import Any

from app.api.openapi.components import ID_REGEX, LICENSES, NAME_REGEX, REF, type_prefix
from app.services.connectors import NAME_MAX
from app.types.kit import ConnectorType

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


def _by_type(types: list[ConnectorType], suffix: str, title: str, description: str) -> dict[str, Any]:
    """A oneOf over the types' `<prefix>_<suffix>` components, told apart by `connector_type_id`."""
    refs = {t.id: REF + f"{type_prefix(t)}_{suffix}" for t in types}
    return {
        "title": title,
        "description": description,
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "connector_type_id", "mapping": refs},
    }


def shared_schemas(types: list[ConnectorType]) -> dict[str, Any]:
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
        "create_connector_request": _by_type(
            types, "create_connector_request", "Create connector request",
            "One shape per connector type, chosen by `connector_type_id`.",
        ),
        "update_connector_request": {
            "title": "Update connector request",
            "description": "`{name, config, secrets}` in the shape of the connector's own type; the type cannot change.",
            "anyOf": [{"$ref": REF + f"{type_prefix(t)}_update_connector_request"} for t in types],
        },
        "connector_response": _by_type(
            types, "connector_response", "Connector", "A connector, in the shape of its type. Secrets are never returned."
        ),
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
