"""The event log: every execution, newest first, for all connectors or one, and one run's whole record."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus

from flask import Blueprint, abort, render_template, request, url_for
from markupsafe import Markup

from app.services import connectors as store
from app.services import events as event_log
from app.services import paging
from app.web import htmx

bp = Blueprint("events", __name__)


def _list(connector_id: str | None, endpoint: str, base_args: dict):
    filters = event_log.Filters.from_args(request.args)
    page = event_log.search(connector_id=connector_id, filters=filters, want=paging.Request.from_args(request.args))
    return htmx.page_or_block(
        "events/index.html", "events", page=page, filters=filters, status_filter=filters.status,
        connector=store.get(connector_id) if connector_id else None, connector_id=connector_id,
        types=event_log.logged_types(connector_id), sources=event_log.SOURCES, ranges=event_log.RANGES,
        endpoint=endpoint, base_args=base_args,
        # A run's page links back to this list, filters kept.
        filter_args=dict(filters.args(), **({"scope": "connector"} if connector_id else {})),
    )


@bp.get("/events")
def index():
    return _list(None, "events.index", {})


@bp.get("/connectors/<connector_id>/events")
def for_connector(connector_id: str):
    return _list(connector_id, "events.for_connector", {"connector_id": connector_id})


@bp.get("/events/<int:event_id>")
def detail(event_id: int):
    record = event_log.get(event_id)
    if record is None:
        abort(404, description=f"No run {event_id} in the event log.")
    filters = event_log.Filters.from_args(request.args)
    if request.args.get("scope") == "connector":
        back = url_for("events.for_connector", connector_id=record.event.connector_id, **filters.args())
    else:
        back = url_for("events.index", **filters.args())
    return render_template("events/detail.html", record=record, event=record.event, back=back)


# --- How times, durations and sizes read ------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def utc_text(dt: datetime) -> str:
    """2026-12-07 07:31:05 UTC"""
    return _utc(dt).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(dt: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "just now", "42 s ago", "3 min ago", "2 h ago", "5 days ago"."""
    seconds = int(((now and _utc(now)) or datetime.now(UTC)).timestamp() - _utc(dt).timestamp())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    for size, unit, plural in ((86400 * 365, "year", "years"), (86400 * 30, "month", "months"),
                               (86400, "day", "days"), (3600, "h", "h"), (60, "min", "min"), (1, "s", "s")):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit if count == 1 else plural}"
            return f"in {text}" if future else f"{text} ago"
    raise AssertionError("unreachable: seconds >= 5")


def duration(ms: float | None) -> str:
    """340 ms, 1.2 s, 2 min 5 s"""
    if ms is None:
        return "—"
    if ms < 1:
        return "< 1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def byte_size(size: int | None) -> str:
    """0 B, 512 B, 1.2 kB, 3.4 MB"""
    size = size or 0
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def http_status(code: int | None) -> str:
    """200 OK, 404 Not Found; a code without a known phrase alone."""
    if code is None:
        return "—"
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def source_label(source: str) -> str:
    return event_log.SOURCES.get(source, source)


@bp.app_template_filter("moment")
def moment(dt: datetime | None) -> Markup:
    """A time with seconds and zone, and how long ago, read on the server (no script needed)."""
    if dt is None:
        return Markup("—")
    iso = _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")
    ago = relative(dt)
    return Markup('<time datetime="{}" title="{}">{}</time> <small class="muted ago">{}</small>').format(
        iso, ago, utc_text(dt), ago)


bp.add_app_template_filter(relative, "ago")
bp.add_app_template_filter(duration, "duration")
bp.add_app_template_filter(byte_size, "byte_size")
bp.add_app_template_filter(http_status, "http_status")
bp.add_app_template_filter(source_label, "source_label")
bp.add_app_template_filter(event_log.split_message, "message_parts")
