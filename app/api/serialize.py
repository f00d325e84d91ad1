"""Kibana's wire shapes: snake_case outside, each type's own keys inside config, secrets and params."""

from __future__ import annotations

import orjson

from app.models import Connector
from app.services.executions import Run
from app.types import all_types, get_type
from app.types.kit import ConnectorType


def connector_json(connector: Connector, *, with_count: bool = False) -> dict:
    ctype = get_type(connector.connector_type_id)
    body = {
        "id": connector.id,
        "name": connector.name,
        "connector_type_id": connector.connector_type_id,
        "is_preconfigured": connector.is_preconfigured,
        "is_deprecated": bool(ctype and ctype.connector_deprecated(connector.config)),
        "is_system_action": False,
        "is_connector_type_deprecated": False,
    }
    if not connector.is_preconfigured:  # Kibana hides a preconfigured connector's config
        body["config"] = connector.config
        body["is_missing_secrets"] = connector.is_missing_secrets
    if with_count:
        body["referenced_by_count"] = 0  # nothing in Switchboard references connectors (no rules)
    return body


def connector_list_json(rows: list) -> bytes:
    """The API's list: for each of `store.listing()`'s rows what `connector_json(c, with_count=True)` gives
    (tests/test_api.py holds them equal), built in one pass over plain tuples with each stored config
    copied in as it is. Parsing and encoding thousands of configs again, and reading fields by name from
    thousands of rows, were most of the list's time (see the bench). Only types that can deprecate a
    connector by its config (ServiceNow's Table API) have theirs parsed, to ask."""
    fragment, judges = orjson.Fragment, _deprecation_judges()
    return orjson.dumps([
        {"id": cid, "name": name, "connector_type_id": type_id, "is_preconfigured": True,
         "is_deprecated": _deprecated(judges, type_id, config), **_FLAGS}
        if preconfigured else  # Kibana hides a preconfigured connector's config
        {"id": cid, "name": name, "connector_type_id": type_id, "is_preconfigured": False,
         "is_deprecated": _deprecated(judges, type_id, config), **_FLAGS,
         "config": fragment(config or "{}"), "is_missing_secrets": missing}
        for cid, name, type_id, preconfigured, config, missing in rows
    ])


_FLAGS = {"is_system_action": False, "is_connector_type_deprecated": False, "referenced_by_count": 0}


def _deprecation_judges() -> dict[str, ConnectorType]:
    """The types whose connectors may be deprecated by their config: those overriding connector_deprecated."""
    return {t.id: t for t in all_types() if type(t).connector_deprecated is not ConnectorType.connector_deprecated}


def _deprecated(judges: dict[str, ConnectorType], type_id: str, config: str | None) -> bool:
    judge = judges.get(type_id)
    return bool(judge and judge.connector_deprecated(orjson.loads(config) if config else None))


def type_json(ctype: ConnectorType, *, enabled: bool) -> dict:
    return {
        "id": ctype.id,
        "name": ctype.name,
        "enabled": enabled,
        "enabled_in_config": enabled,
        "enabled_in_license": True,  # no licence tiers: every type is available
        "minimum_license_required": ctype.minimum_license_required,
        "supported_feature_ids": list(ctype.supported_feature_ids),
        "is_system_action_type": False,
        "is_deprecated": False,
    }


def execute_json(connector_id: str, run: Run) -> dict:
    r = run.result
    body: dict = {"connector_id": connector_id, "status": r.status}
    if r.data is not None:
        body["data"] = r.data
    if r.message:
        body["message"] = r.message
    if r.service_message:
        body["service_message"] = r.service_message
    if r.retry is not None:
        body["retry"] = r.retry
    return body
