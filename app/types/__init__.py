"""The connector type registry: type id -> the type's one declaration."""

from __future__ import annotations

from app.types.bedrock import Bedrock
from app.types.cases import SYSTEM_CONNECTOR_ID as CASES_CONNECTOR_ID
from app.types.cases import CasesAction
from app.types.cases_webhook import CasesWebhook
from app.types.d3security import D3Security
from app.types.email import Email
from app.types.index import Index
from app.types.jira import Jira
from app.types.kit import ConnectorType
from app.types.opsgenie import Opsgenie
from app.types.pagerduty import PagerDuty
from app.types.resilient import Resilient
from app.types.server_log import ServerLog
from app.types.servicenow.itom import ServiceNowITOM
from app.types.servicenow.itsm import ServiceNowITSM
from app.types.servicenow.sir import ServiceNowSIR
from app.types.slack import Slack
from app.types.slack_api import SlackApi
from app.types.swimlane import Swimlane
from app.types.teams import Teams
from app.types.thehive import TheHive
from app.types.tines import Tines
from app.types.torq import Torq
from app.types.webhook import Webhook
from app.types.xmatters import Xmatters
from app.types.xsoar import Xsoar

# One line per type, so two people adding types touch different lines.
TYPES: tuple[ConnectorType, ...] = (
    Bedrock(),
    CasesWebhook(),
    D3Security(),
    Email(),
    Index(),
    Jira(),
    Opsgenie(),
    PagerDuty(),
    Resilient(),
    ServerLog(),
    ServiceNowITOM(),
    ServiceNowITSM(),
    ServiceNowSIR(),
    Slack(),
    SlackApi(),
    Swimlane(),
    Teams(),
    TheHive(),
    Tines(),
    Torq(),
    Webhook(),
    Xmatters(),
    Xsoar(),
)
REGISTRY: dict[str, ConnectorType] = {t.id: t for t in TYPES}
# System actions (Kibana's isSystemActionType), by their one fixed connector id: kept out of REGISTRY, so
# nothing lists, creates, imports or exports them; only the execution path runs them.
SYSTEM_ACTIONS: dict[str, ConnectorType] = {CASES_CONNECTOR_ID: CasesAction()}


def get_type(type_id: str) -> ConnectorType | None:
    return REGISTRY.get(type_id)


def all_types() -> list[ConnectorType]:
    return sorted(REGISTRY.values(), key=lambda t: t.name.lower())
