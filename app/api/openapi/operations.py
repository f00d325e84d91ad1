"""The operations: every API route, at /api and at /s/{spaceId}/api."""

from __future__ import annotations

import json
from typing import Any

from app.api.openapi.components import REF, ROLES, type_prefix
from app.api.openapi.examples import params_examples
from app.types.kit import ConnectorType

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


def operations_for(types: list[ConnectorType], components: dict[str, Any]) -> list[dict[str, Any]]:
    create_examples, update_examples, run_examples = {}, {}, {}
    for t in types:
        p = type_prefix(t)
        example = {k: v for k, v in t.example.items() if v or k == "config"}
        create_examples[p] = {"summary": t.name, "value": {"name": f"my-{p.replace('_', '-')}-connector",
                                                           "connector_type_id": t.id, **example}}
        update_examples[p] = {"summary": t.name, "value": {"name": f"my-{p.replace('_', '-')}-connector", **example}}
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


def operation_object(op: dict[str, Any], *, space: bool) -> dict[str, Any]:
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
