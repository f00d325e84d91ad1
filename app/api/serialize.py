"""Kibana's wire shapes: snake_case outside, each type's own keys inside config, secrets and params."""

from __future__ import annotations

from app.models import Connector
from app.services.executions import Run
from app.types import get_type
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
