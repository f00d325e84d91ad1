"""The case store: cases, their comments and alerts; and the store the `.cases` system action runs on.

Pushing a case to a connector is app/services/case_push.py (it runs through the execution path, which
itself lends `SystemCaseStore` to the system action, so this module must not import it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.case_models import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    SEVERITIES,
    STATUSES,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Case,
    CaseAlert,
    CaseComment,
    CaseExternal,
    CaseOracleRecord,
)
from app.db import db
from app.models import utcnow
from app.types.cases import CaseState, Conflict, OracleRecord, Rule
from app.types.kit import CaseView

PAGE_SIZE = 50
ID_MAX = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and newlines are text; the rest is not
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidCase(ValueError):
    """Input that cannot be stored; `errors` maps "title" / "tags" / "comment" … to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def parse_tags(text: str) -> list[str]:
    """Tags typed as "a, b, c": trimmed, empty ones dropped, each once, in the order typed."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


@dataclass
class CaseInput:
    title: str
    description: str
    severity: str
    tags: list[str]
    status: str = "open"


def check(values: CaseInput) -> dict[str, str]:
    """Every problem at once, by field."""
    errors: dict[str, str] = {}
    title = values.title.strip()
    if not title:
        errors["title"] = "Title is required."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Title must be at most {TITLE_MAX} characters (got {len(title)})."
    elif _LINE_CONTROL.search(title):
        errors["title"] = "Title must not contain control characters."
    if len(values.description) > DESCRIPTION_MAX:
        errors["description"] = f"Description must be at most {DESCRIPTION_MAX} characters (got {len(values.description)})."
    elif _CONTROL.search(values.description):
        errors["description"] = "Description must not contain control characters."
    if values.severity not in SEVERITIES:
        errors["severity"] = f"Choose one of: {', '.join(SEVERITIES)}."
    if values.status not in STATUSES:
        errors["status"] = f"Choose one of: {', '.join(STATUSES)}."
    if len(values.tags) > TAGS_MAX:
        errors["tags"] = f"A case has at most {TAGS_MAX} tags (got {len(values.tags)})."
    elif any(len(t) > TAG_MAX for t in values.tags):
        errors["tags"] = f"Each tag must be at most {TAG_MAX} characters."
    elif any(_LINE_CONTROL.search(t) for t in values.tags):
        errors["tags"] = "Tags must not contain control characters."
    return errors


def _touch(case: Case) -> None:
    case.updated_at = utcnow()


def create(values: CaseInput, actor: str) -> Case:
    """Raises InvalidCase."""
    errors = check(values)
    if errors:
        raise InvalidCase(errors)
    case = Case(title=values.title.strip(), description=values.description, severity=values.severity,
                status="open", tags=values.tags, owner="cases", created_by=actor)
    db.session.add(case)
    db.session.commit()
    return case


def update_case(case: Case, values: CaseInput) -> Case:
    """Raises InvalidCase; nothing is changed then."""
    errors = check(values)
    if errors:
        raise InvalidCase(errors)
    case.title, case.description, case.severity, case.tags = values.title.strip(), values.description, values.severity, values.tags
    _set_status(case, values.status)
    _touch(case)
    db.session.commit()
    return case


def _set_status(case: Case, status: str) -> None:
    if status == case.status:
        return
    case.status = status
    case.closed_at = utcnow() if status == "closed" else None


def set_status(case: Case, status: str) -> Case:
    if status not in STATUSES:
        raise InvalidCase({"status": f"Choose one of: {', '.join(STATUSES)}."})
    _set_status(case, status)
    _touch(case)
    db.session.commit()
    return case


def add_comment(case: Case, text: str, actor: str) -> CaseComment:
    if not text.strip():
        raise InvalidCase({"comment": "Write a comment first."})
    if len(text) > COMMENT_MAX:
        raise InvalidCase({"comment": f"A comment must be at most {COMMENT_MAX} characters (got {len(text)})."})
    if _CONTROL.search(text):
        raise InvalidCase({"comment": "A comment must not contain control characters."})
    comment = CaseComment(case=case, comment=text, created_by=actor)
    db.session.add(comment)
    _touch(case)
    db.session.commit()
    return comment


def get(case_id: str) -> Case | None:
    if not case_id or len(case_id) > ID_MAX:
        return None
    return db.session.get(Case, case_id)


@dataclass
class Page:
    rows: list[Case]
    total: int
    page: int
    pages: int
    counts: dict[str, tuple[int, int]]  # case id -> (comments, alerts)


def search(q: str = "", status: str = "", page: int = 1) -> Page:
    """Newest activity first; `q` matches the title or the rule name; `status` one of STATUSES or ""."""
    query = select(Case)
    if status in STATUSES:
        query = query.where(Case.status == status)
    q = q.strip().lower()
    if q:
        query = query.where(or_(func.lower(Case.title).contains(q, autoescape=True),
                                func.lower(Case.rule_name).contains(q, autoescape=True)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(db.session.scalars(query.order_by(Case.updated_at.desc(), Case.id).offset((page - 1) * PAGE_SIZE)
                                   .limit(PAGE_SIZE)))
    return Page(rows, total, page, pages, counts([c.id for c in rows]))


def counts(ids: list[str]) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    comments = dict(db.session.execute(select(CaseComment.case_id, func.count()).where(CaseComment.case_id.in_(ids))
                                       .group_by(CaseComment.case_id)).all())
    alerts = dict(db.session.execute(select(CaseAlert.case_id, func.count()).where(CaseAlert.case_id.in_(ids))
                                     .group_by(CaseAlert.case_id)).all())
    return {i: (comments.get(i, 0), alerts.get(i, 0)) for i in ids}


def external(case: Case, connector_id: str) -> CaseExternal | None:
    return db.session.get(CaseExternal, (case.id, connector_id))


def view(case: Case, external_id: str | None) -> CaseView:
    """The case as the ticketing types read it (app/types/kit/cases.py)."""
    return CaseView(
        id=case.id, title=case.title, description=case.description, tags=tuple(case.tags or ()),
        severity=case.severity, status=case.status, external_id=external_id,
        alert_ids=tuple(a.alert_id for a in case.alerts), rule_name=case.rule_name,
    )


# ---- the `.cases` system action's store -------------------------------------------------------------


def _oracle(row: CaseOracleRecord) -> OracleRecord:
    return OracleRecord(row.id, row.counter, aware(row.created_at), aware(row.updated_at))


class SystemCaseStore:
    """What the `.cases` system action reads and changes (app/types/cases.py `CaseStore`).

    Each change is flushed at once, so a lost race shows as a Conflict while the run can still start
    over; the run commits when every group is done.
    """

    def __init__(self, actor: str):
        self.actor = actor

    def now(self) -> datetime:
        return utcnow()

    def _flush(self) -> None:
        try:
            db.session.flush()
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from None

    def oracle_record(self, record_id: str) -> OracleRecord | None:
        row = db.session.get(CaseOracleRecord, record_id)
        return _oracle(row) if row is not None else None

    def create_oracle_record(self, record_id: str, rule_id: str, owner: str, grouping: dict) -> OracleRecord:
        row = CaseOracleRecord(id=record_id, rule_id=rule_id[:ID_MAX], owner=owner[:64], grouping=grouping,
                               counter=1, created_at=utcnow())
        db.session.add(row)
        self._flush()
        return _oracle(row)

    def bump_counter(self, record: OracleRecord) -> OracleRecord:
        now = utcnow()
        # Compare-and-set: two runs that saw the same counter must not both open the next case.
        changed = db.session.execute(
            update(CaseOracleRecord).where(CaseOracleRecord.id == record.id, CaseOracleRecord.counter == record.counter)
            .values(counter=record.counter + 1, updated_at=now).execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            raise Conflict(f"oracle record {record.id} changed during the run")
        db.session.expire_all()
        return OracleRecord(record.id, record.counter + 1, record.created_at, now)

    def _state(self, case: Case) -> CaseState:
        total = db.session.scalar(select(func.count()).select_from(CaseAlert).where(CaseAlert.case_id == case.id))
        return CaseState(case.id, case.title, case.status, total or 0)

    def case(self, case_id: str) -> CaseState | None:
        case = db.session.get(Case, case_id)
        return self._state(case) if case is not None else None

    def create_case(self, case_id: str, *, title: str, description: str, tags: list[str], owner: str,
                    rule: Rule, grouping: dict) -> CaseState:
        case = Case(id=case_id, title=title[:TITLE_MAX], description=description[:DESCRIPTION_MAX], severity="low",
                    status="open", tags=tags, owner=owner[:64], created_by=self.actor, rule_id=rule.id[:ID_MAX],
                    rule_name=rule.name[:ID_MAX], grouping=grouping)
        db.session.add(case)
        self._flush()
        return self._state(case)

    def reopen(self, case_id: str) -> CaseState:
        case = db.session.get(Case, case_id)
        _set_status(case, "open")
        _touch(case)
        self._flush()
        return self._state(case)

    def attach(self, case_id: str, alerts: list[dict[str, Any]], rule: Rule, comments: list[str]) -> int:
        case = db.session.get(Case, case_id)
        have = set(db.session.execute(select(CaseAlert.alert_id, CaseAlert.alert_index).where(CaseAlert.case_id == case_id)))
        added = 0
        for alert in alerts:
            key = (str(alert["_id"])[:ID_MAX], str(alert["_index"])[:ID_MAX])
            if key in have:
                continue  # an ongoing alert seen again: attached once
            have.add(key)
            db.session.add(CaseAlert(case_id=case_id, alert_id=key[0], alert_index=key[1],
                                     rule_id=rule.id[:ID_MAX], rule_name=rule.name[:ID_MAX]))
            added += 1
        for text in comments:
            db.session.add(CaseComment(case_id=case_id, comment=text[:COMMENT_MAX], created_by=self.actor))
        _touch(case)
        self._flush()
        return added

    def commit(self) -> None:
        try:
            db.session.commit()
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from None

    def rollback(self) -> None:
        db.session.rollback()
