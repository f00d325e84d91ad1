"""The event log: every execution, newest first, for all connectors or one."""

from __future__ import annotations

from flask import Blueprint, request

from app.services import connectors as store
from app.services import events as event_log
from app.web import htmx

bp = Blueprint("events", __name__)


def _page_arg() -> int:
    try:
        return int(request.args.get("page", 1))
    except ValueError:
        return 1


@bp.get("/events")
def index():
    status = request.args.get("status", "")
    page = event_log.search(status=status, page=_page_arg())
    return htmx.page_or_block(
        "events/index.html", "events", page=page, status_filter=status, connector=None, connector_id=None,
        endpoint="events.index", base_args={},
    )


@bp.get("/connectors/<connector_id>/events")
def for_connector(connector_id: str):
    status = request.args.get("status", "")
    page = event_log.search(connector_id=connector_id, status=status, page=_page_arg())
    connector = store.get(connector_id)
    return htmx.page_or_block(
        "events/index.html", "events", page=page, status_filter=status, connector=connector, connector_id=connector_id,
        endpoint="events.for_connector", base_args={"connector_id": connector_id},
    )
