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

import json
from functools import cache
from importlib import metadata
from typing import Any

from flask import Response

from app.api import route
from app.api.openapi.components import (
    OPENAPI_VERSION,
    REF,
    ROLES,
    SPACE_PREFIX,
    type_components,
    type_prefix,
)
from app.api.openapi.operations import operation_object, operations_for
from app.api.openapi.reading import type_label, type_reference
from app.api.openapi.shared import PARAMETERS, RESPONSES, shared_schemas
from app.types import all_types

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
        components, facts = type_components(t)
        clash = set(components) & set(schemas)
        if clash:
            raise ValueError(f"component name clash: {sorted(clash)}")
        schemas.update(components)
        type_facts.append({**facts, "sub_actions": list(t.sub_actions), "description": t.description})
    schemas.update(shared_schemas(types))

    paths: dict[str, dict[str, Any]] = {}
    operations = operations_for(types, schemas)
    for space in (False, True):
        for op in operations:
            path = (SPACE_PREFIX if space else "") + op["path"]
            paths.setdefault(path, {})[op["method"]] = operation_object(op, space=space)

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


__all__ = ["REF", "ROLES", "SPACE_PREFIX", "build_document", "document", "type_label", "type_prefix", "type_reference"]
