"""Preconfigured connectors: declared in the config file, mirrored into the connectors table.

The mirror lets lists, search and the event log treat them like any other connector; their
secrets are never stored, but resolved from the config (and the environment) at run time.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import ValidationError
from sqlalchemy import select

from app.db import db
from app.models import Connector
from app.settings import ConfigError, PreconfiguredConnector, environment_secret
from app.types import get_type
from app.types.kit import describe_errors


class MissingEnvironment(LookupError):
    pass


def declared() -> dict[str, PreconfiguredConnector]:
    return current_app.config["SWITCHBOARD"].preconfigured


def _check(connector_id: str, spec: PreconfiguredConnector) -> dict:
    where = f"preconfigured connector {connector_id!r}"
    ctype = get_type(spec.connector_type_id)
    if ctype is None:
        raise ConfigError(f'{where}: connector type "{spec.connector_type_id}" is not registered')
    try:
        config = ctype.config.model_validate(spec.config)
    except ValidationError as exc:
        raise ConfigError(f"{where}: error validating config: {describe_errors(exc)}") from exc
    unknown = set(spec.secrets) - set(ctype.secrets.model_fields)
    if unknown:
        raise ConfigError(f"{where}: unknown secrets {sorted(unknown)}")
    return config.model_dump(mode="json", exclude_none=True)  # as the store keeps config: unset is absent


def sync() -> None:
    """Make the table's preconfigured rows match the config file. Raises ConfigError on a clash."""
    wanted = {cid: _check(cid, spec) for cid, spec in declared().items()}
    rows = {c.id: c for c in db.session.scalars(select(Connector).where(Connector.id.in_(wanted)))}
    for cid, row in rows.items():
        if not row.is_preconfigured:
            raise ConfigError(f'preconfigured connector "{cid}": a stored connector already has this id')
    for stale in db.session.scalars(select(Connector).where(Connector.is_preconfigured, Connector.id.not_in(wanted))):
        db.session.delete(stale)
    for cid, config in wanted.items():
        spec = declared()[cid]
        row = rows.get(cid) or Connector(id=cid, is_preconfigured=True)
        row.name, row.connector_type_id, row.config = spec.name, spec.connector_type_id, config
        row.secret_fields = {k: True for k in spec.secrets}
        row.is_missing_secrets = False
        db.session.add(row)
    db.session.commit()


def resolve_secret(value: Any) -> Any:
    """A config-file secret: the literal, or the environment variable `{env = "NAME"}` names (read now)."""
    return _resolve(value)


def _resolve(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        found = environment_secret(name)
        if found is None:
            raise MissingEnvironment(f"environment variable {name} is not set")
        return found
    if isinstance(value, dict):  # e.g. secret headers, each of which may name a variable
        return {k: _resolve(v) for k, v in value.items()}
    return value


def secrets_for(connector_id: str) -> dict[str, Any]:
    """Resolve a preconfigured connector's secrets; raises MissingEnvironment or KeyError."""
    return {key: _resolve(value) for key, value in declared()[connector_id].secrets.items()}
