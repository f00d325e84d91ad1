"""The connector store: validate, create, update, delete, search; secrets encrypted on the way in."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import asc, delete, desc, func, or_, select

from app.db import db
from app.models import Connector, Event
from app.services import keyring, outbound_settings
from app.types import REGISTRY, get_type
from app.types.base import ConnectorType, Schema

NAME_MAX = 255
PAGE_SIZE = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Names sort as people read them, case-insensitively (the API's list does the same).
SORTS = {"name": func.lower(Connector.name), "type": Connector.connector_type_id}


class InvalidConnector(ValueError):
    """Input that cannot be stored; `errors` maps "name" / "config.url" / "secrets.x" to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def check_name(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "Name is required."
    if len(name) > NAME_MAX:
        return f"Name must be at most {NAME_MAX} characters (got {len(name)})."
    if _CONTROL.search(name):
        return "Name must not contain control characters."
    return None


def _model_errors(section: str, exc: ValidationError) -> dict[str, str]:
    errors = {}
    for err in exc.errors(include_url=False):
        key = f"{section}.{err['loc'][0]}" if err["loc"] else section
        errors.setdefault(key, err["msg"].removeprefix("Value error, "))
    return errors


def validate(ctype: ConnectorType, name: Any, config: dict, secrets: dict) -> tuple[str, Schema, Schema]:
    """Validate everything at once so every bad field gets its message in one round trip."""
    errors: dict[str, str] = {}
    if (msg := check_name(name)) is not None:
        errors["name"] = msg
    config_model = secrets_model = None
    try:
        config_model = ctype.config.model_validate(config)
    except ValidationError as exc:
        errors.update(_model_errors("config", exc))
    try:
        secrets_model = ctype.secrets.model_validate(secrets)
    except ValidationError as exc:
        errors.update(_model_errors("secrets", exc))
    if config_model is not None and secrets_model is not None:
        errors.update(ctype.check_connector(config_model, secrets_model, outbound_settings().allowed_hosts))
    if errors:
        raise InvalidConnector(errors)
    return name.strip(), config_model, secrets_model


def secret_shape(secrets: dict[str, Any]) -> dict[str, Any]:
    """Names of the secret fields that hold a value; for kv secrets, the entry names."""
    return {k: (sorted(v) if isinstance(v, dict) else True) for k, v in secrets.items() if v not in (None, "", {})}


def _store_secrets(connector: Connector, secrets: dict[str, Any]) -> None:
    clean = {k: v for k, v in secrets.items() if v is not None}
    connector.secrets_encrypted = keyring().encrypt(connector.id, clean)
    connector.secret_fields = secret_shape(clean)
    connector.is_missing_secrets = False


def stored_secrets(connector: Connector) -> dict[str, Any]:
    """Decrypt a connector's secrets, for an execution or to merge an edit. Raises SecretsUnreadable."""
    if not connector.secrets_encrypted:
        return {}
    return keyring().decrypt(connector.id, connector.secrets_encrypted)


def create(type_id: str, name: Any, config: dict, secrets: dict, connector_id: str | None = None) -> Connector:
    ctype = get_type(type_id)
    if ctype is None:
        raise InvalidConnector({"connector_type_id": f'connector type "{type_id}" is not registered'})
    clean_name, config_model, secrets_model = validate(ctype, name, config, secrets)
    connector = Connector(
        id=connector_id or str(uuid.uuid4()),
        name=clean_name,
        connector_type_id=type_id,
        config=config_model.model_dump(mode="json", exclude_none=True),
    )
    _store_secrets(connector, secrets_model.model_dump(mode="json", exclude_none=True))
    db.session.add(connector)
    db.session.commit()
    return connector


def update(connector: Connector, name: Any, config: dict, secrets: dict) -> Connector:
    """`secrets` is the complete new set (the caller merged blanks with the stored values)."""
    ctype = get_type(connector.connector_type_id)
    clean_name, config_model, secrets_model = validate(ctype, name, config, secrets)
    connector.name = clean_name
    connector.config = config_model.model_dump(mode="json", exclude_none=True)
    _store_secrets(connector, secrets_model.model_dump(mode="json", exclude_none=True))
    db.session.commit()
    return connector


def get(connector_id: str) -> Connector | None:
    return db.session.get(Connector, connector_id)


def delete_many(ids: list[str]) -> int:
    result = db.session.execute(delete(Connector).where(Connector.id.in_(ids), Connector.is_preconfigured.is_(False)))
    db.session.commit()
    return result.rowcount


@dataclass
class LastRun:
    outcome: str
    started_at: Any


@dataclass
class Page:
    rows: list[Connector]
    total: int
    page: int
    pages: int
    last_runs: dict[str, LastRun]


def search(
    q: str = "", type_id: str = "", sort: str = "name", order: str = "asc", page: int = 1, missing_secrets: bool = False
) -> Page:
    query = select(Connector)
    if missing_secrets:
        query = query.where(Connector.is_missing_secrets.is_(True))
    q = q.strip()
    if q:
        needle = q.lower()
        matching_types = [t.id for t in REGISTRY.values() if needle in t.name.lower()]
        query = query.where(
            or_(
                func.lower(Connector.name).contains(needle, autoescape=True),
                func.lower(Connector.connector_type_id).contains(needle, autoescape=True),
                Connector.connector_type_id.in_(matching_types),
            )
        )
    if type_id:
        query = query.where(Connector.connector_type_id == type_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    direction = desc if order == "desc" else asc
    column = SORTS.get(sort, Connector.name)
    query = query.order_by(direction(column), direction(func.lower(Connector.name)), direction(Connector.name), Connector.id)
    rows = list(db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return Page(rows, total, page, pages, last_runs([r.id for r in rows]))


def last_runs(ids: list[str]) -> dict[str, LastRun]:
    if not ids:
        return {}
    newest = (
        select(func.max(Event.id).label("id")).where(Event.connector_id.in_(ids)).group_by(Event.connector_id).subquery()
    )
    rows = db.session.execute(
        select(Event.connector_id, Event.outcome, Event.started_at).join(newest, Event.id == newest.c.id)
    )
    return {cid: LastRun(outcome, started) for cid, outcome, started in rows}
