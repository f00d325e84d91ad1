"""The event log: one row per execution, newest first, narrowed by filters; one run's whole record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from app.db import db
from app.models import Connector, Event
from app.services import paging

PAGE_SIZE = 50
STATUSES = ("ok", "error", "running")
# Where runs come from (the `source` column), with the words a person reads.
SOURCES = {"test_pane": "Test pane", "http_request": "API", "form": "Form lookup", "cases": "Case push"}
# Time ranges back from now, by their query value.
RANGES = {"1h": ("Last hour", timedelta(hours=1)), "24h": ("Last 24 hours", timedelta(hours=24)),
          "7d": ("Last 7 days", timedelta(days=7))}
_TYPE_ID = re.compile(r"^[\w.\-]{1,64}$")
_MAX_ID = 2**63 - 1  # larger ids cannot be stored; asking for one is a miss, not a database error


@dataclass(frozen=True)
class Filters:
    """What narrows the log. Every filter set must hold; an empty one does not narrow."""

    connector_type_id: str = ""
    status: str = ""
    source: str = ""
    range: str = ""  # a key of RANGES
    date_from: date | None = None  # UTC days, both inclusive
    date_to: date | None = None
    ignored: tuple[str, ...] = field(default=(), compare=False)  # "name=value" of values not understood

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read the query string; a value that is not understood is ignored (and named in `ignored`)."""
        ignored: list[str] = []

        def pick(name: str, ok) -> str:
            value = (args.get(name) or "").strip()
            if value and not ok(value):
                ignored.append(f"{name}={value[:64]}")
                return ""
            return value

        def day(name: str) -> date | None:
            value = pick(name, _is_date)
            return date.fromisoformat(value) if value else None

        return cls(
            connector_type_id=pick("type", _TYPE_ID.match),
            status=pick("status", STATUSES.__contains__),
            source=pick("source", SOURCES.__contains__),
            range=pick("range", RANGES.__contains__),
            date_from=day("from"),
            date_to=day("to"),
            ignored=tuple(ignored),
        )

    def args(self) -> dict[str, str]:
        """The query string that gives these filters back (pager links, links to a run and back)."""
        values = {"type": self.connector_type_id, "status": self.status, "source": self.source, "range": self.range,
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in values.items() if v}

    def window(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The started_at bounds, [since, until), both UTC; None where open."""
        bounds_since = [now - RANGES[self.range][1]] if self.range else []
        if self.date_from:
            bounds_since.append(datetime.combine(self.date_from, time.min, UTC))
        until = None
        if self.date_to and self.date_to < date.max:
            until = datetime.combine(self.date_to + timedelta(days=1), time.min, UTC)
        return (max(bounds_since) if bounds_since else None), until


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def search(connector_id: str | None = None, status: str = "", page: int = 1, per_page: int = PAGE_SIZE,
           filters: Filters | None = None, now: datetime | None = None, want: paging.Request | None = None) -> paging.Page:
    """One page of the log, newest first. `extra["live_connector_ids"]`: which of the rows' connectors still
    exist, so a row links only to a connector that is there."""
    filters = filters or Filters(status=status if status in STATUSES else "")
    conditions = []
    if connector_id is not None:
        conditions.append(Event.connector_id == connector_id)
    if filters.status:
        conditions.append(Event.status == filters.status)
    if filters.connector_type_id:
        conditions.append(Event.connector_type_id == filters.connector_type_id)
    if filters.source:
        conditions.append(Event.source == filters.source)
    since, until = filters.window(now or datetime.now(UTC))
    if since is not None:
        conditions.append(Event.started_at >= since)
    if until is not None:
        conditions.append(Event.started_at < until)
    found = paging.fetch(select(Event).where(*conditions), (Event.id,), descending=True,
                         want=want or paging.Request(page=page), size=per_page,
                         count=lambda: db.session.scalar(select(func.count(Event.id)).where(*conditions)))
    found.extra["live_connector_ids"] = _live_connectors({e.connector_id for e in found.rows})
    return found


def _live_connectors(ids: set[str]) -> set[str]:
    ids.discard("")
    if not ids:
        return set()
    return set(db.session.scalars(select(Connector.id).where(Connector.id.in_(ids))))


def logged_types(connector_id: str | None = None) -> list[str]:
    """The connector type ids that have runs in the log (for the type filter)."""
    query = select(Event.connector_type_id).distinct()
    if connector_id is not None:
        query = query.where(Event.connector_id == connector_id)
    return sorted(db.session.scalars(query))


@dataclass
class Record:
    """One run, as a person reads it."""

    event: Event
    message: str | None
    service_message: str | None
    connector: Connector | None  # None when the run's connector is gone, or never was saved

    @property
    def connector_state(self) -> str:
        """live, deleted, or unsaved (a test of form values before saving)."""
        if self.connector is not None:
            return "live"
        return "deleted" if self.event.connector_id else "unsaved"


def get(event_id: int) -> Record | None:
    event = db.session.get(Event, event_id) if 0 < event_id <= _MAX_ID else None
    if event is None:
        return None
    message, service_message = split_message(event)
    connector = db.session.get(Connector, event.connector_id) if event.connector_id else None
    return Record(event, message, service_message, connector)


def split_message(event: Event) -> tuple[str | None, str | None]:
    """The stored `message` back into the run's message and the service's message.

    A failed run stores "message: service message; retry: …" (see executions._record); the retry part is
    its own column, and the service message follows the first ": " outside quotes (names are quoted).
    """
    text = event.message
    if not text:
        return None, None
    suffix = f"; retry: {event.retry or 'false'}"
    if text.endswith(suffix):
        text = text[: -len(suffix)]
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and text.startswith(": ", i):
            return text[:i] or None, text[i + 2:] or None
    return text or None, None
