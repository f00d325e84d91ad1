"""ServiceNow ITSM — `.servicenow` (connector-types.md §12): incidents in the `incident` table, closed by id
or by correlation id when an alert recovers."""

from __future__ import annotations

from typing import Any

from app.types.kit import CaseView, Context, Field, Result, Schema, sub_action
from app.types.servicenow.client import ITSM, ServiceNowError
from app.types.servicenow.incidents import (
    DEFAULT_ALERTS_GROUPING_KEY,
    Comment,
    IncidentFields,
    IncidentType,
    choice,
)
from app.types.servicenow.schemas import ServiceNowConfig, ServiceNowSecrets

CHOICES = "servicenow_itsm.choices"  # the endpoint of this package's views
INCIDENT_WIDGET = "servicenow_itsm_incident"


class ItsmIncident(IncidentFields):
    category: str | None = choice("Category", CHOICES)
    subcategory: str | None = choice("Subcategory", CHOICES, help="Listed for the category chosen.")
    severity: str | None = choice("Severity", CHOICES)
    urgency: str | None = choice("Urgency", CHOICES)
    impact: str | None = choice("Impact", CHOICES)


class ItsmPushParams(Schema):
    incident: ItsmIncident = Field(label="Incident", widget=INCIDENT_WIDGET)
    comments: list[Comment] | None = Field(
        None, label="Comments", widget="json",
        help='Each one is added to the incident as a work note, e.g. [{"commentId": "1", "comment": "…"}].')


class CloseIncident(Schema):
    externalId: str | None = Field(None, label="Incident sys_id")
    correlation_id: str | None = Field(DEFAULT_ALERTS_GROUPING_KEY, label="Correlation ID")


class CloseIncidentParams(Schema):
    incident: CloseIncident = Field(label="Incident", widget="json",
                                    help="By sys_id, else the newest incident with this correlation ID.")


class ItsmCaseFields(Schema):
    """Kibana's ConnectorServiceNowITSMTypeFields: what a case keeps for this connector."""

    urgency: str | None = choice("Urgency", CHOICES)
    severity: str | None = choice("Severity", CHOICES)
    impact: str | None = choice("Impact", CHOICES)
    category: str | None = choice("Category", CHOICES)
    subcategory: str | None = choice("Subcategory", CHOICES, help="Listed for the category chosen.")
    additionalFields: str | None = Field(None, label="Additional fields", widget="jsontext")


_EXAMPLE_INCIDENT = {
    "short_description": "Switchboard test incident",
    "description": "Created from Switchboard's test pane.",
    "urgency": "3",
    "severity": "3",
    "impact": "3",
    "correlation_id": "switchboard-test",
}


class ServiceNowITSM(IncidentType):
    id = ".servicenow"
    name = "ServiceNow ITSM"
    description = "Create an incident in ServiceNow ITSM."
    product = ITSM
    supported_feature_ids = ("alerting", "cases", "uptime", "siem")
    case_fields = ItsmCaseFields
    test_params = {"subAction": "pushToService", "subActionParams": {"incident": _EXAMPLE_INCIDENT}}

    def case_incident(self, case: CaseView, fields: ItsmCaseFields) -> dict[str, Any]:
        """Kibana's Cases itsm_format, with the case's title and description (itsm_mapping)."""
        return {
            "short_description": case.title, "description": case.description,
            "severity": fields.severity, "urgency": fields.urgency, "impact": fields.impact,
            "category": fields.category, "subcategory": fields.subcategory,
            "additional_fields": fields.additionalFields,
            "correlation_id": case.id, "correlation_display": "Elastic Case",
        }

    @sub_action("pushToService", ItsmPushParams, "Create or update an incident, its comments as work notes.",
                example={"incident": _EXAMPLE_INCIDENT, "comments": [{"commentId": "1", "comment": "A note."}]})
    def push_to_service(self, ctx: Context[ServiceNowConfig, ServiceNowSecrets, ItsmPushParams]) -> Result:
        try:
            return Result.ok(self.push(ctx, ctx.params.incident.model_dump(), ctx.params.comments))
        except ServiceNowError as err:
            return err.result()

    @sub_action("closeIncident", CloseIncidentParams, "Close an incident (an alert's recovery).",
                example={"incident": {"correlation_id": "switchboard-test"}})
    def close_incident(self, ctx: Context[ServiceNowConfig, ServiceNowSecrets, CloseIncidentParams]) -> Result:
        incident = ctx.params.incident
        try:
            closed = self.client(ctx).close_incident(incident.externalId, incident.correlation_id)
        except ServiceNowError as err:
            return err.result()
        return Result.ok(closed or {})
