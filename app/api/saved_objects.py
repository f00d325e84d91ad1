"""/api/saved_objects/_export and _import for connectors, in Kibana's saved-object NDJSON."""

from __future__ import annotations

from flask import Response, jsonify, request

from app.api import ApiError, require_admin, route
from app.services import transfer


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"[request query.{name}]: expected value of type [boolean] but got [string]")
    return value == "true"


@route("/saved_objects/_export", methods=["POST"], endpoint="export_saved_objects")
def export_saved_objects():
    require_admin("export actions")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or ("type" not in body and "objects" not in body):
        raise ApiError(400, 'Either `type` or `objects` are required: {"type": ["action"]} or {"objects": [{"type": "action", "id": "…"}]}')
    types = body.get("type", [])
    types = [types] if isinstance(types, str) else types
    objects = body.get("objects", [])
    if not isinstance(types, list) or not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise ApiError(400, "[request body]: `type` is a string or a list of strings; `objects` a list of {type, id}")
    others = sorted({str(t) for t in types} - {"action"} | {str(o.get("type")) for o in objects} - {"action"})
    if others:
        raise ApiError(400, f"Trying to export non-exportable type(s): {', '.join(others)}")
    for flag in ("excludeExportDetails", "includeReferencesDeep"):  # Kibana's schema: booleans, or absent
        if flag in body and not isinstance(body[flag], bool):
            raise ApiError(400, f"[request body.{flag}]: expected value of type [boolean] but got [{type(body[flag]).__name__}]")
    if objects:
        connectors, missing = transfer.connectors_to_export([str(o.get("id")) for o in objects])
        if missing:
            raise ApiError(400, f"Error fetching objects to export: not found: {', '.join('action:' + i for i in missing)}")
        fixed = [c.id for c in transfer.unexportable(connectors)]
        if fixed:
            raise ApiError(400, f"Preconfigured connectors are declared in the config file and cannot be exported: {', '.join(fixed)}")
    else:
        connectors, _ = transfer.connectors_to_export()
    text = transfer.export_ndjson(connectors)
    if body.get("excludeExportDetails") is True:
        text = text.rsplit("\n", 1)[0] if "\n" in text else ""
    return Response(text, mimetype="application/ndjson",
                    headers={"Content-Disposition": 'attachment; filename="export.ndjson"'})


@route("/saved_objects/_import", methods=["POST"], endpoint="import_saved_objects")
def import_saved_objects():
    require_admin("import actions")
    request.max_content_length = transfer.MAX_BYTES  # an export file may be larger than a form post
    overwrite, copies = _flag("overwrite"), _flag("createNewCopies")
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, '[request body.file]: a multipart form field "file" with the NDJSON export is required')
    try:
        result = transfer.import_ndjson(upload.read(), overwrite=overwrite, create_new_copies=copies)
    except transfer.ImportFileError as exc:
        raise ApiError(400, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(result.to_dict())
