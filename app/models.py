"""Stored things: connectors and their execution events."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class Connector(db.Model):
    __tablename__ = "connectors"
    __table_args__ = (
        # The list's two orders (app/services/connectors.py ORDERS), for keyset paging: by name, which
        # sorts case-insensitively, and by type.
        Index("ix_connectors_lower_name", func.lower(text("name")), "name", "connector_type_id", "id"),
        Index("ix_connectors_type_lower_name", "connector_type_id", func.lower(text("name")), "name", "id"),
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
    # Declared in the config file; mirrored here so lists and searches see them. Read-only.
    is_preconfigured: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Event(db.Model):
    """One execution of a connector (Kibana's event log `execute` document, flattened)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_connector_id_id", "connector_id", "id"),
        # The event log's filters (newest first within each): by connector type, by source.
        Index("ix_events_connector_type_id_id", "connector_type_id", "id"),
        Index("ix_events_source_id", "source", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector_id: Mapped[str] = mapped_column(String(255))
    connector_name: Mapped[str] = mapped_column(String(255))
    connector_type_id: Mapped[str] = mapped_column(String(64))
    sub_action: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # test_pane, http_request, ...
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    duration_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)  # ok | error, as the run's Result
    message: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    retry: Mapped[str | None] = mapped_column(String(64))  # "true", "false" or an ISO date
    request_body_bytes: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)


ROLES = ("admin", "viewer")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | viewer
    # Bumped on password change so existing sessions stop working. Starts random: SQLite may give a
    # deleted user's id to the next account, whose sessions must not match the deleted user's cookie.
    session_version: Mapped[int] = mapped_column(Integer, default=lambda: secrets.randbelow(2**30) + 1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def get_id(self) -> str:
        # The session names the version too, so a password change signs out old sessions.
        return f"{self.id}:{self.session_version}"


class UserSession(db.Model):
    """One signed-in browser session, so signing out (or a password change) ends it on the server.

    The session cookie carries a random id; only its SHA-256 is kept here. A cookie whose row is gone is
    refused even though its signature is still good.
    """

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ApiKey(db.Model):
    """A named key for scripts. Only a hash of the key is kept; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public part, sent with the key
    name: Mapped[str] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the random key
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignInThrottle(db.Model):
    """Failed sign-ins per user name and per address, shared by every worker and host."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # "user:<name>" or "addr:<ip>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConnectorToken(db.Model):
    """An access token fetched for a connector (Kibana's connector_token), shared by every worker."""

    __tablename__ = "connector_tokens"
    # One token per connector and kind; the index also serves lookups by connector alone.
    __table_args__ = (Index("ix_connector_tokens_connector_id_kind", "connector_id", "kind", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))  # "oauth2", "jwt", …
    # Fernet token of {"owner": "token:<connector id>:<kind>", "secrets": {"access_token": …}}.
    token_encrypted: Mapped[str] = mapped_column(Text)
    token_type: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the credentials the token was fetched with; a changed credential means a new token.
    fingerprint: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
