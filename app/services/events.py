"""The event log: one row per execution, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.db import db
from app.models import Event

PAGE_SIZE = 50
STATUSES = ("ok", "error")


@dataclass
class EventPage:
    rows: list[Event]
    total: int
    page: int
    pages: int


def search(connector_id: str | None = None, status: str = "", page: int = 1, per_page: int = PAGE_SIZE) -> EventPage:
    query = select(Event)
    if connector_id is not None:
        query = query.where(Event.connector_id == connector_id)
    if status in STATUSES:
        query = query.where(Event.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.scalars(query.order_by(Event.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return EventPage(list(rows), total, page, pages)
