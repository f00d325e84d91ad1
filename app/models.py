"""Stored things: connectors and their execution events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class Connector(db.Model):
    __tablename__ = "connectors"
    __table_args__ = (
        Index("ix_connectors_name_type", "name", "connector_type_id", "id"),
        Index("ix_connectors_type_name", "connector_type_id", "name", "id"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(255))
    connector_type_id: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    # Fernet token of {"owner": id, "secrets": {...}}; never leaves the server decrypted.
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    # Which secret fields hold a value (names only, never values), so forms need not decrypt.
    secret_fields: Mapped[dict] = mapped_column(JSON, default=dict)
    is_missing_secrets: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Event(db.Model):
    """One execution of a connector (Kibana's event log `execute` document, flattened)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_connector_id_id", "connector_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector_id: Mapped[str] = mapped_column(String(255))
    connector_name: Mapped[str] = mapped_column(String(255))
    connector_type_id: Mapped[str] = mapped_column(String(64))
    sub_action: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # test_pane, http_request, ...
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16), index=True)  # success | failure
    message: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    retry: Mapped[str | None] = mapped_column(String(64))  # "true", "false" or an ISO date
    request_body_bytes: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
