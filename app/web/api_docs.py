"""/api-docs: the REST API's reference page, rendered on the server from the OpenAPI document.

Everything on the page comes from `app.api.openapi.document()` (DESIGN rule 1): the operations, their
roles and bodies, and each connector type's fields. No JavaScript, nothing from a CDN.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape

from app.api import openapi

bp = Blueprint("api_docs", __name__)

METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "delete": 3}
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def inline_markdown(text: str) -> Markup:
    """The document's descriptions use `code` and **bold** only; render those, escape the rest."""
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return Markup(_STRONG.sub(r"<strong>\1</strong>", html))


def _example_path(path: str, parameters: list[dict[str, Any]]) -> str:
    for param in parameters:
        if param.get("in") == "path":
            path = path.replace("{" + param["name"] + "}", str(param.get("example", param["name"])))
    return path


def breakable(path: str) -> Markup:
    """A path that may wrap after each `/` on a narrow screen (`<wbr>` is not copied with the text)."""
    return Markup("/<wbr>").join(escape(part) for part in path.split("/"))


def curl(base_url: str, method: str, path: str, op: dict[str, Any], parameters: list[dict[str, Any]]) -> str:
    """A copy-paste curl line for the operation, with its first request example."""
    command = "curl" if method == "get" else f"curl -X {method.upper()}"
    lines = [f"{command} {shlex.quote(base_url + _example_path(path, parameters))}"]
    lines.append('-H "Authorization: ApiKey $SWITCHBOARD_API_KEY"')
    if method != "get":
        lines.append('-H "kbn-xsrf: true"')
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        examples = content["application/json"].get("examples") or {}
        body = next(iter(examples.values()))["value"] if examples else {}
        lines.append('-H "Content-Type: application/json"')
        lines.append("-d " + shlex.quote(json.dumps(body, ensure_ascii=False)))
    elif "multipart/form-data" in content:
        lines.append("-F file=@export.ndjson")
    if path.endswith("/_export"):
        lines.append("-o export.ndjson")
    return " \\\n  ".join(lines)


def operations(doc: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    """Each operation once (the /api form), noting its /s/{spaceId} twin."""
    params = doc["components"]["parameters"]
    out = []
    for path, methods in doc["paths"].items():
        if path.startswith(openapi.SPACE_PREFIX):
            continue
        for method, op in sorted(methods.items(), key=lambda item: METHOD_ORDER.get(item[0], 9)):
            resolved = [params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {})
            media, body_schema = next(iter(body.items()), (None, {}))
            responses = []
            for code, response in op["responses"].items():
                if "$ref" in response:
                    response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                schema = next(iter(response.get("content", {}).values()), {}).get("schema", {})
                responses.append({"code": code, "description": response["description"],
                                  "schema": openapi.type_label(schema) if schema else None})
            out.append({
                "id": op["operationId"],
                "method": method.upper(),
                "path": path,
                "space_path": openapi.SPACE_PREFIX + path if openapi.SPACE_PREFIX + path in doc["paths"] else None,
                "summary": op["summary"],
                "description": op["description"].split("\n\nRole:")[0],
                "role": op.get("x-required-role"),
                "xsrf": method != "get",
                "parameters": [p for p in resolved if p["name"] != "kbn-xsrf"],
                "body_media": media,
                "body_schema": openapi.type_label(body_schema.get("schema", {})) if media else None,
                "responses": responses,
                "curl": curl(base_url, method, path, op, resolved),
            })
    return out


@bp.get("/api-docs")
def page():
    doc = openapi.document()
    return render_template(
        "api_docs/page.html",
        doc=doc,
        operations=operations(doc, request.host_url.rstrip("/")),
        types=openapi.type_reference(doc),
        roles=openapi.ROLES,
        md=inline_markdown,
        breakable=breakable,
    )
