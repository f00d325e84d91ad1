"""Export and import connectors from the list page (Kibana's saved-object NDJSON; secrets never leave)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, make_response, render_template, request

from app.extensions import csrf
from app.services import transfer
from app.web.auth import admin_required

bp = Blueprint("transfer", __name__)


@bp.post("/connectors/export")
@admin_required
def export():
    # The rows ticked on the list page; none ticked means all.
    connectors, _ = transfer.connectors_to_export(request.form.getlist("ids"))
    text = transfer.export_ndjson(connectors)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(text, mimetype="application/ndjson",
                    headers={"Content-Disposition": f'attachment; filename="switchboard-connectors-{stamp}.ndjson"'})


@bp.get("/connectors/import")
@admin_required
def import_form():
    return render_template("connectors/import.html", result=None, error=None)


@bp.post("/connectors/import")
@csrf.exempt  # checked below: the app-wide check would read the form under the smaller limit first
@admin_required
def import_file():
    request.max_content_length = transfer.MAX_BYTES  # an export file may be larger than a form post
    csrf.protect()
    upload = request.files.get("file")
    mode = request.form.get("mode", "skip")
    error, result, status = None, None, 200
    if upload is None or not upload.filename:
        error, status = "Choose an .ndjson file exported from Switchboard or Kibana.", 422
    else:
        try:
            result = transfer.import_ndjson(
                upload.read(), overwrite=mode == "overwrite", create_new_copies=mode == "copies"
            )
        except (transfer.ImportFileError, ValueError) as exc:
            error, status = f"Nothing was imported. {exc}", 422
    return make_response(render_template("connectors/import.html", result=result, error=error, mode=mode), status)
