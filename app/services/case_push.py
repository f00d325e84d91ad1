"""Pushing a case to a ticketing connector (Kibana's Cases `push`), through the one execution path.

The first push to a connector creates the incident (`externalId` None); later pushes update it and send
only the comments that connector has not had yet. The run is an ordinary execution: an event row, secrets
decrypted only inside it, everything it returns masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from app.case_models import Case, CaseExternal
from app.db import db
from app.models import Connector, utcnow
from app.services import cases as case_store
from app.services import connectors as connector_store
from app.services import executions
from app.types import REGISTRY, get_type
from app.types.kit import ConnectorType
from app.types.kit.schema import field_errors

SOURCE = "cases"  # the event log's source for pushes


class InvalidFields(ValueError):
    """Case fields the connector's type refuses: {"fields.issueType": message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Pushed:
    run: executions.Run
    external: CaseExternal | None = None
    problem: str | None = None  # the run was ok but its answer cannot be recorded
    comments_sent: list[str] = field(default_factory=list)


def case_type(connector: Connector) -> ConnectorType | None:
    """The connector's type when a case can be pushed to it."""
    ctype = get_type(connector.connector_type_id)
    return ctype if ctype is not None and ctype.case_fields is not None else None


def pushable_connectors() -> list[Connector]:
    """Connectors a case can be pushed to: of a type that takes cases and that the config file enables."""
    type_ids = [t.id for t in REGISTRY.values()
                if t.case_fields is not None and connector_store.enabled_refusal(t.id) is None]
    query = select(Connector).where(Connector.connector_type_id.in_(type_ids))
    return sorted(db.session.scalars(query), key=lambda c: (c.name.casefold(), c.name, c.id))


def _pushed_date(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return utcnow()
        return case_store.aware(moment)
    return utcnow()


def push(case: Case, connector: Connector, raw_fields: dict[str, Any], actor: str) -> Pushed:
    """Raises InvalidFields before anything runs; otherwise the run, and what was recorded from it."""
    ctype = case_type(connector)
    if ctype is None:
        raise InvalidFields({"connector_id": f'Connector "{connector.name}" cannot receive cases.'})
    try:
        fields = ctype.case_fields.model_validate(raw_fields)
    except ValidationError as exc:
        raise InvalidFields(field_errors("fields", exc)) from None
    known = case_store.external(case, connector.id)
    external_id = known.external_id if known else None
    already = dict(known.pushed_comments) if known else {}
    new_comments = [c for c in case.comments if str(c.id) not in already]
    incident = {**ctype.case_incident(case_store.view(case, external_id), fields), "externalId": external_id}
    params = {"subAction": "pushToService", "subActionParams": {
        "incident": incident,
        "comments": [{"commentId": str(c.id), "comment": c.comment} for c in new_comments],
    }}
    # Read before the run: it commits its event row, which expires every loaded object.
    case_id, connector_id, connector_name, type_id = case.id, connector.id, connector.name, connector.connector_type_id
    sent = [str(c.id) for c in new_comments]
    run = executions.execute(executions.target_for(connector), params, source=SOURCE, actor=actor)
    outcome = Pushed(run, comments_sent=sent)
    data = run.result.data
    if not run.result.is_ok:
        return outcome
    if not isinstance(data, dict) or not data.get("id"):
        outcome.problem = "The connector's answer names no incident id, so the push was not recorded on the case."
        return outcome
    pushed_at = _pushed_date(data.get("pushedDate"))
    dates = {str(c.get("commentId")): c.get("pushedDate") for c in data.get("comments") or [] if isinstance(c, dict)}
    for comment_id in outcome.comments_sent:  # every comment sent counts as pushed, as in Kibana
        already[comment_id] = dates.get(comment_id) or pushed_at.isoformat()
    case = db.session.get(Case, case_id)  # the run committed its event: read the case afresh
    record = case_store.external(case, connector_id) or CaseExternal(case_id=case_id, connector_id=connector_id)
    record.connector_name, record.connector_type_id = connector_name, type_id
    record.fields = fields.model_dump(mode="json")
    record.external_id = str(data["id"])[:255]
    record.external_title = str(data.get("title") or data["id"])[:255]
    record.external_url = str(data.get("url") or "")
    record.pushed_at, record.pushed_by, record.pushed_comments = pushed_at, actor, already
    db.session.add(record)
    case.connector_id = connector_id
    case.updated_at = utcnow()
    db.session.commit()
    outcome.external = record
    return outcome


def last_fields(case: Case, connector: Connector) -> dict[str, Any] | None:
    """The case fields of the last push to this connector, to start the dialog from."""
    known = case_store.external(case, connector.id)
    return dict(known.fields) if known else None
