"""The connector store: validate, create, update, delete, search; secrets encrypted on the way in."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Row, Text, bindparam, cast, delete, func, or_, select

from app.crypto import SecretsUnreadable
from app.db import core_commit, core_connection, db
from app.models import Connector, Event
from app.services import keyring, outbound_settings, paging, tokens
from app.types import REGISTRY, get_type
from app.types.kit import ConnectorType, InvalidSettings, Schema

NAME_MAX = 255
PAGE_SIZE = 50
# Secrets typed into a form that failed to save travel back encrypted under this owner, for an hour.
PENDING_OWNER = "pending-form"
PENDING_TTL_SECONDS = 3600
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidConnector(ValueError):
    """Input that cannot be stored; `errors` maps "name" / "config.url" / "secrets.x" to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class TypeNotEnabled(ValueError):
    """The config file's `enabled_types` leaves this type out: it may not be created, imported or run."""


def enabled_refusal(type_id: str) -> str | None:
    """Why connectors of this type may not be created or run, or None (Kibana's enabledActionTypes)."""
    if current_app.config["SWITCHBOARD"].type_enabled(type_id):
        return None
    return f'connector type "{type_id}" is not enabled in the Switchboard config (enabled_types)'


def ensure_enabled(type_id: str) -> None:
    refusal = enabled_refusal(type_id)
    if refusal:
        raise TypeNotEnabled(refusal)


def check_name(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "Name is required."
    if len(name) > NAME_MAX:
        return f"Name must be at most {NAME_MAX} characters (got {len(name)})."
    if _CONTROL.search(name):
        return "Name must not contain control characters."
    return None


def validate(ctype: ConnectorType, name: Any, config: dict, secrets: dict) -> tuple[str, Schema, Schema]:
    """Validate everything at once so every bad field gets its message in one round trip."""
    errors: dict[str, str] = {}
    if (msg := check_name(name)) is not None:
        errors["name"] = msg
    try:
        config_model, secrets_model = ctype.validate_connector(
            config, secrets, allowed_hosts=outbound_settings().allowed_hosts
        )
    except InvalidSettings as exc:
        errors.update(exc.errors)
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


def stored_secrets(connector: Connector | Row) -> dict[str, Any]:
    """Decrypt a connector's secrets, for an execution or to merge an edit. Raises SecretsUnreadable."""
    if not connector.secrets_encrypted:
        return {}
    return keyring().decrypt(connector.id, connector.secrets_encrypted)


def seal_pending(secrets: dict[str, Any]) -> str:
    """Secrets typed before a failed submit, encrypted to travel back in the form (never as plain text)."""
    return keyring().encrypt(PENDING_OWNER, secrets) if secrets else ""


def open_pending(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return keyring().decrypt(PENDING_OWNER, token, ttl=PENDING_TTL_SECONDS)
    except SecretsUnreadable:
        return {}


def create(type_id: str, name: Any, config: dict, secrets: dict, connector_id: str | None = None) -> Connector:
    """Raises InvalidConnector, or TypeNotEnabled when the config file leaves the type out."""
    ctype = get_type(type_id)
    if ctype is None:
        raise InvalidConnector({"connector_type_id": f'connector type "{type_id}" is not registered'})
    ensure_enabled(type_id)
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
    tokens.forget(connector.id)  # a token fetched with the old settings must not outlive them
    db.session.commit()
    return connector


def rotate_secrets() -> tuple[int, int]:
    """Re-encrypt every stored secret under the first key: (re-encrypted, unreadable ones now flagged)."""
    ring = keyring()
    rotated = unreadable = 0
    for connector in db.session.scalars(select(Connector).where(Connector.secrets_encrypted.is_not(None))):
        try:
            connector.secrets_encrypted = ring.rotate(connector.secrets_encrypted)
            rotated += 1
        except SecretsUnreadable:
            connector.is_missing_secrets = True
            unreadable += 1
    db.session.commit()
    return rotated, unreadable


def get(connector_id: str) -> Connector | None:
    return db.session.get(Connector, connector_id)


_CONNECTOR_ROW = select(Connector.__table__).where(Connector.__table__.c.id == bindparam("id"))
_MISSING_SECRETS = Connector.__table__.update().where(Connector.__table__.c.id == bindparam("connector_id")).values(
    is_missing_secrets=True)


def get_to_run(connector_id: str) -> Row | None:
    """The connector an API call runs, read with one prepared Core SELECT (app.db.core_connection): a
    read-only row with the model's attribute names, which is all the run path reads (building an ORM
    object from it cost as much as the SELECT). `mark_missing_secrets` writes what a run must."""
    return core_connection().execute(_CONNECTOR_ROW, {"id": connector_id}).first()


def mark_missing_secrets(connector: Connector | Row) -> None:
    """The stored secrets cannot be decrypted (keys rotated away): show the Fix badge instead of failing
    every run. Works on a session's connector and on a row from get_to_run alike."""
    if isinstance(connector, Connector):
        connector.is_missing_secrets = True  # what the page then shows; the UPDATE below is what is stored
    conn = core_connection()
    conn.execute(_MISSING_SECRETS, {"connector_id": connector.id})
    core_commit(conn)


def delete_many(ids: list[str]) -> int:
    deletable = select(Connector.id).where(Connector.id.in_(ids), Connector.is_preconfigured.is_(False))
    gone = list(db.session.scalars(deletable))
    tokens.forget(*gone)
    result = db.session.execute(delete(Connector).where(Connector.id.in_(gone)))
    db.session.commit()
    return result.rowcount


# What a list of connectors shows: no secrets, and plain rows rather than ORM objects (several times
# dearer each when there are thousands). `config` stays the stored JSON text: the API passes it on as it
# is instead of parsing and encoding it again.
LISTED = (Connector.id, Connector.name, Connector.connector_type_id, Connector.is_preconfigured,
          cast(Connector.config, Text).label("config_json"), Connector.is_missing_secrets)


def listing() -> list[tuple]:
    """Every connector's listed fields as tuples in LISTED's order, `config` as JSON text, in the order
    people read names: case-insensitive."""
    # Sorted here, the same on every database: SQLite's lower() folds ASCII letters only.
    return sorted(db.session.execute(select(*LISTED)), key=lambda c: (c[1].casefold(), c[1], c[0]))


@dataclass
class LastRun:
    status: str
    started_at: Any


# The orders the list offers, each ending in the id so that the key is unique (keyset paging), and each
# served by an index of exactly these columns (migrations 0004 and 0010).
ORDERS = {
    "name": (func.lower(Connector.name), Connector.name, Connector.connector_type_id, Connector.id),
    "type": (Connector.connector_type_id, func.lower(Connector.name), Connector.name, Connector.id),
}


def search(
    q: str = "", type_id: str = "", sort: str = "name", order: str = "asc", page: int = 1, missing_secrets: bool = False,
    want: paging.Request | None = None,
) -> paging.Page:
    """One page of the connector list; `want` says which (a cursor from a page link, or a page number)."""
    conditions = []
    if missing_secrets:
        conditions.append(Connector.is_missing_secrets.is_(True))
    q = q.strip()
    if q:
        conditions.append(_matches(q.lower()))
    if type_id:
        conditions.append(Connector.connector_type_id == type_id)
    keys = ORDERS.get(sort, ORDERS["name"])

    def count() -> int:
        counted = conditions
        if q:
            # Always true, but it makes SQLite count from the narrow index of the order, which holds the names,
            # rather than from the wide table: three times quicker at 10,000 connectors.
            counted = [*conditions, keys[0] >= ""]
        return db.session.scalar(select(func.count()).select_from(Connector).where(*counted))

    found = paging.fetch(select(Connector).where(*conditions), keys, descending=order == "desc",
                         want=want or paging.Request(page=page), size=PAGE_SIZE, count=count)
    found.extra["last_runs"] = last_runs([r.id for r in found.rows])
    return found


def _matches(needle: str):
    """A name containing `needle`, or a type whose id or name does, in any case."""
    # Type names live in the registry, not the table: the ids to match are worked out here, once.
    types = [t.id for t in REGISTRY.values() if needle in t.id or needle in t.name.lower()]
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE ignores ASCII case already, as its lower() does, and without lower() on every row
        # the scan is three times quicker.
        named = Connector.name.contains(needle, autoescape=True)
    else:
        named = Connector.name.icontains(needle, autoescape=True)
    return or_(named, Connector.connector_type_id.in_(types)) if types else named


def last_runs(ids: list[str]) -> dict[str, LastRun]:
    if not ids:
        return {}
    newest = (
        select(func.max(Event.id).label("id")).where(Event.connector_id.in_(ids)).group_by(Event.connector_id).subquery()
    )
    rows = db.session.execute(
        select(Event.connector_id, Event.status, Event.started_at).join(newest, Event.id == newest.c.id)
    )
    return {cid: LastRun(status, started) for cid, status, started in rows}
