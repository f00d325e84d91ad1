"""Stored cases (Kibana's Cases, minimal): a case, its comments and alerts, where it was pushed, and the
`.cases` system action's oracle records. Kept beside app/models.py so the case store is one module."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import db
from app.models import utcnow

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "in-progress", "closed")
TITLE_MAX = 160  # Kibana's MAX_TITLE_LENGTH
DESCRIPTION_MAX = 30000  # MAX_DESCRIPTION_LENGTH
COMMENT_MAX = 30000  # MAX_COMMENT_LENGTH
TAG_MAX = 256  # MAX_LENGTH_PER_TAG
TAGS_MAX = 200  # MAX_TAGS_PER_CASE


class Case(db.Model):
    __tablename__ = "cases"
    # The list shows the newest first, optionally of one status.
    __table_args__ = (Index("ix_cases_status_updated_at", "status", "updated_at"),
                      Index("ix_cases_updated_at", "updated_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="low")
    status: Mapped[str] = mapped_column(String(16), default="open")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    owner: Mapped[str] = mapped_column(String(64), default="cases")  # Kibana's owner: cases, securitySolution, …
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the `.cases` system action opened the case from a rule's alerts.
    rule_id: Mapped[str | None] = mapped_column(String(255))
    rule_name: Mapped[str | None] = mapped_column(String(255))
    grouping: Mapped[dict | None] = mapped_column(JSON)
    # The connector the case was last pushed to (Kibana's case.connector); its pushes are in `externals`.
    connector_id: Mapped[str | None] = mapped_column(String(255))

    comments: Mapped[list[CaseComment]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseComment.id")
    alerts: Mapped[list[CaseAlert]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseAlert.id")
    externals: Mapped[list[CaseExternal]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseExternal.pushed_at")


class CaseComment(db.Model):
    __tablename__ = "case_comments"

    # Also the order comments were made in; a push sends it as the comment's `commentId` (as text).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="comments")


class CaseAlert(db.Model):
    """An alert attached to a case (Kibana's alert attachment: the alert's `_id` and `_index`)."""

    __tablename__ = "case_alerts"
    __table_args__ = (UniqueConstraint("case_id", "alert_id", "alert_index", name="uq_case_alerts_case_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    alert_id: Mapped[str] = mapped_column(String(255))
    alert_index: Mapped[str] = mapped_column(String(255))
    rule_id: Mapped[str | None] = mapped_column(String(255))
    rule_name: Mapped[str | None] = mapped_column(String(255))
    attached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="alerts")


class CaseExternal(db.Model):
    """A case as pushed to one connector: the incident it created there and what has been sent to it."""

    __tablename__ = "case_externals"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    # No foreign key: a deleted connector leaves the record of what was pushed to it.
    connector_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    connector_name: Mapped[str] = mapped_column(String(255))
    connector_type_id: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict] = mapped_column(JSON, default=dict)  # the type's case fields, validated
    external_id: Mapped[str] = mapped_column(String(255))
    external_title: Mapped[str] = mapped_column(String(255))
    external_url: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pushed_by: Mapped[str] = mapped_column(String(255))
    # {comment id: the service's pushedDate}: comments already sent, so a later push sends only new ones.
    pushed_comments: Mapped[dict] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="externals")


class CaseOracleRecord(db.Model):
    """Kibana's cases-rules record: which case a rule's grouping currently feeds (its counter)."""

    __tablename__ = "case_oracle_records"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of rule, owner and grouping
    rule_id: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(64))
    grouping: Mapped[dict] = mapped_column(JSON, default=dict)
    counter: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
