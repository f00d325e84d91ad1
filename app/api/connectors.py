"""/api/actions/...: connectors, connector types and _execute, as Kibana answers them."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from app.api import ApiError, require_admin, route
from app.api.serialize import connector_json, connector_list_json, execute_json, type_json
from app.db import db
from app.models import Connector
from app.services import connectors as store
from app.services import executions
from app.settings import ID_PATTERN
from app.types import SYSTEM_ACTIONS, all_types, get_type


def _body(fields: dict[str, tuple[type, bool]]) -> dict[str, Any]:
    """The JSON object body, checked like Kibana's config-schema: known keys, right JSON types."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "[request body]: expected a plain object value, but found "
                       f"[{'nothing' if body is None else type(body).__name__}] instead.")
    for key in body:
        if key not in fields:
            raise ApiError(400, f"[request body.{key}]: definition for this key is missing")
    for key, (kind, required) in fields.items():
        if key not in body or body[key] is None:
            if required:
                raise ApiError(400, f"[request body.{key}]: expected value of type [{_kind(kind)}] but got [undefined]")
            continue
        if not isinstance(body[key], kind) or (kind is str and not body[key].strip()):
            raise ApiError(400, f"[request body.{key}]: expected value of type [{_kind(kind)}] but got "
                           f"[{type(body[key]).__name__}]" + (" (empty)" if kind is str else ""))
    return body


def _kind(kind: type) -> str:
    return {str: "string", dict: "object"}.get(kind, kind.__name__)


def _connector(connector_id: str, load=store.get) -> Connector | Row:
    """The connector, or Kibana's 404; `load` is store.get (an ORM object) or store.get_to_run (a row)."""
    connector = load(connector_id)
    if connector is None:
        raise ApiError(404, f"Saved object [action/{connector_id}] not found")
    return connector


def _invalid(exc: store.InvalidConnector) -> ApiError:
    """Kibana's texts for a config or secrets that its type rejects."""
    parts: dict[str, list[str]] = {}
    for key, message in exc.errors.items():
        section, _, field = key.partition(".")
        parts.setdefault(section, []).append(f"[{field}]: {message}" if field else message)
    for section in ("name", "connector_type_id"):
        if section in parts:
            return ApiError(400, f"[request body.{section}]: {parts[section][0]}")
    section = "config" if "config" in parts else "secrets"
    return ApiError(400, f"error validating action type {section}: {'; '.join(parts[section])}")


def _ensure_enabled(type_id: str) -> None:
    refusal = store.enabled_refusal(type_id)
    if refusal:
        raise ApiError(403, refusal)


@route("/actions/connector", methods=["POST"], endpoint="create_connector")
@route("/actions/connector/<connector_id>", methods=["POST"], endpoint="create_connector_with_id")
def create_connector(connector_id: str | None = None):
    body = _body({"name": (str, True), "connector_type_id": (str, True), "config": (dict, False), "secrets": (dict, False)})
    type_id = body["connector_type_id"]
    require_admin(f'create a "{type_id}" action')
    if type_id in {t.id for t in SYSTEM_ACTIONS.values()}:
        raise ApiError(400, f"System action creation is forbidden. Action type: {type_id}.")
    if get_type(type_id) is None:
        raise ApiError(400, f'Action type "{type_id}" is not registered.')
    _ensure_enabled(type_id)
    if connector_id is not None:
        if not ID_PATTERN.fullmatch(connector_id):
            raise ApiError(400, "[id]: use 1-255 letters, digits, '.', '_' or '-', starting with a letter or digit")
        if connector_id in SYSTEM_ACTIONS:
            raise ApiError(400, f"This {connector_id} already exists in a system action.")
        existing = store.get(connector_id)
        if existing is not None and existing.is_preconfigured:
            raise ApiError(400, f"This {connector_id} already exists in a preconfigured action.")
        if existing is not None:
            raise ApiError(409, f"Saved object [action/{connector_id}] conflict")
    try:
        connector = store.create(type_id, body["name"], body.get("config") or {}, body.get("secrets") or {}, connector_id)
    except store.InvalidConnector as exc:
        raise _invalid(exc) from None
    except IntegrityError:  # created by someone else between the check and the insert
        db.session.rollback()
        raise ApiError(409, f"Saved object [action/{connector_id}] conflict") from None
    return jsonify(connector_json(connector))


@route("/actions/connector/<connector_id>", methods=["GET"], endpoint="get_connector")
def get_connector(connector_id: str):
    return jsonify(connector_json(_connector(connector_id)))


@route("/actions/connector/<connector_id>", methods=["PUT"], endpoint="update_connector")
def update_connector(connector_id: str):
    body = _body({"name": (str, True), "config": (dict, False), "secrets": (dict, False)})
    if connector_id in SYSTEM_ACTIONS:
        require_admin(f'update a "{SYSTEM_ACTIONS[connector_id].id}" action')
        raise ApiError(400, f"System action {connector_id} can not be updated.")
    connector = _connector(connector_id)
    require_admin(f'update a "{connector.connector_type_id}" action')
    if connector.is_preconfigured:
        raise ApiError(400, f"Preconfigured action {connector_id} can not be updated.")
    try:
        # As in Kibana, an update replaces config and secrets whole: send the secrets again.
        store.update(connector, body["name"], body.get("config") or {}, body.get("secrets") or {})
    except store.InvalidConnector as exc:
        db.session.rollback()
        raise _invalid(exc) from None
    return jsonify(connector_json(connector))


@route("/actions/connector/<connector_id>", methods=["DELETE"], endpoint="delete_connector")
def delete_connector(connector_id: str):
    if connector_id in SYSTEM_ACTIONS:
        require_admin(f'delete a "{SYSTEM_ACTIONS[connector_id].id}" action')
        raise ApiError(400, f"System action {connector_id} can not be deleted.")
    connector = _connector(connector_id)
    require_admin(f'delete a "{connector.connector_type_id}" action')
    if connector.is_preconfigured:
        raise ApiError(400, f"Preconfigured action {connector_id} is not allowed to delete.")
    store.delete_many([connector.id])
    return "", 204


@route("/actions/connectors", methods=["GET"], endpoint="list_connectors")
def list_connectors():
    # Kibana sorts with localeCompare; case-insensitive order is the closest portable match.
    return current_app.response_class(connector_list_json(store.listing()), mimetype="application/json")


@route("/actions/connector_types", methods=["GET"], endpoint="list_connector_types")
def list_connector_types():
    feature = request.args.get("feature_id")
    if feature is not None and len(feature) > 1000:
        raise ApiError(
            400, f"[request query.feature_id]: value has length [{len(feature)}] but it must have a maximum length of [1000]."
        )
    types = [t for t in all_types() if feature is None or feature in t.supported_feature_ids]
    return jsonify([type_json(t, enabled=store.enabled_refusal(t.id) is None) for t in types])


@route("/actions/connector/<connector_id>/_execute", methods=["POST"], endpoint="execute_connector")
def execute_connector(connector_id: str):
    body = _body({"params": (dict, True)})
    system = executions.system_target(connector_id)
    if system is not None:
        # Kibana refuses _execute on system actions; Switchboard has no rules, so this is how `.cases` runs.
        # It changes cases: admins only, as every other change.
        require_admin(f'execute a "{system.connector_type_id}" action')
        _ensure_enabled(system.connector_type_id)
        run = executions.execute(system, body["params"], source="http_request", actor=g.principal.actor)
        return jsonify(execute_json(connector_id, run))
    connector = _connector(connector_id, store.get_to_run)  # one Core SELECT, a read-only row
    _ensure_enabled(connector.connector_type_id)
    run = executions.execute(
        executions.target_for(connector), body["params"], source="http_request", actor=g.principal.actor
    )
    # A connector that failed is still a 200 with status "error", as Kibana answers.
    return jsonify(execute_json(connector.id, run))
