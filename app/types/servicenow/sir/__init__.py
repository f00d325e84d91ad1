"""ServiceNow SecOps — `.servicenow-sir` (connector-types.md §13): security incidents in `sn_si_incident`,
with the alert's observables (IPs, malware hashes and URLs) added to them."""

from __future__ import annotations

import re
from typing import Any

from app.types.kit import CaseView, Context, Field, Result, Schema, sub_action
from app.types.servicenow.client import SIR, ServiceNowError
from app.types.servicenow.incidents import Comment, IncidentFields, IncidentType, choice
from app.types.servicenow.schemas import ServiceNowConfig, ServiceNowSecrets

CHOICES = "servicenow_sir.choices"  # the endpoint of this package's views
INCIDENT_WIDGET = "servicenow_sir_incident"
# Kibana's ObservableTypes, by the incident fields that carry them (destination and source IPs go together).
OBSERVABLE_TYPES = (("dest_ip", "ipv4-addr"), ("source_ip", "ipv4-addr"), ("malware_hash", "SHA256"),
                    ("malware_url", "URL"))
OBSERVABLE_FIELDS = tuple(key for key, _ in OBSERVABLE_TYPES)
SEPARATORS = re.compile(r"[ ,|\r\n\t]+")  # what ServiceNow accepts between observables in one string
OBSERVABLE_HELP = "One value, or several separated by commas, spaces, pipes or new lines."


def observable(label: str) -> Any:
    return Field(None, label=label, widget="text", help=OBSERVABLE_HELP)


class SirIncident(IncidentFields):
    category: str | None = choice("Category", CHOICES)
    subcategory: str | None = choice("Subcategory", CHOICES, help="Listed for the category chosen.")
    dest_ip: str | list[str] | None = observable("Destination IPs")
    malware_hash: str | list[str] | None = observable("Malware hashes")
    malware_url: str | list[str] | None = observable("Malware URLs")
    source_ip: str | list[str] | None = observable("Source IPs")
    priority: str | None = choice("Priority", CHOICES)


class SirPushParams(Schema):
    incident: SirIncident = Field(label="Incident", widget=INCIDENT_WIDGET)
    comments: list[Comment] | None = Field(
        None, label="Comments", widget="json",
        help='Each one is added to the incident as a work note, e.g. [{"commentId": "1", "comment": "…"}].')


class SirCaseFields(Schema):
    """Kibana's ConnectorServiceNowSIRTypeFields: the observable switches mean "send the alerts' values"."""

    category: str | None = choice("Category", CHOICES)
    subcategory: str | None = choice("Subcategory", CHOICES, help="Listed for the category chosen.")
    priority: str | None = choice("Priority", CHOICES)
    destIp: bool | None = Field(None, label="Destination IPs of the alerts")
    sourceIp: bool | None = Field(None, label="Source IPs of the alerts")
    malwareHash: bool | None = Field(None, label="Malware hashes of the alerts")
    malwareUrl: bool | None = Field(None, label="Malware URLs of the alerts")


def as_list(value: str | list[str] | None) -> list[str]:
    """Kibana's obsAsArray: a string is split at ServiceNow's separators."""
    if not value:
        return []
    return SEPARATORS.split(value) if isinstance(value, str) else list(value)


def observables(incident: dict[str, Any]) -> list[dict[str, str]]:
    """Kibana's formatObservables per type: unique, non-empty, in the order given."""
    by_type: dict[str, list[str]] = {}
    for key, kind in OBSERVABLE_TYPES:
        by_type.setdefault(kind, []).extend(as_list(incident.get(key)))
    return [{"value": value, "type": kind} for kind, values in by_type.items() for value in dict.fromkeys(values)
            if value]


_EXAMPLE_INCIDENT = {
    "short_description": "Switchboard test security incident",
    "description": "Created from Switchboard's test pane.",
    "priority": "3",
    "dest_ip": "10.0.0.8",
    "correlation_id": "switchboard-test",
}


class ServiceNowSIR(IncidentType):
    id = ".servicenow-sir"
    name = "ServiceNow SecOps"
    description = "Create a security incident in ServiceNow SecOps."
    product = SIR
    supported_feature_ids = ("alerting", "cases", "siem", "workflows")
    case_fields = SirCaseFields
    test_params = {"subAction": "pushToService", "subActionParams": {"incident": _EXAMPLE_INCIDENT}}

    def case_incident(self, case: CaseView, fields: SirCaseFields) -> dict[str, Any]:
        """Kibana's Cases sir_format. A CaseView carries alert ids, not the alerts' documents, so the
        observables it would read from them (destination.ip, file.hash.sha256…) stay empty."""
        return {
            "short_description": case.title, "description": case.description,
            "dest_ip": [], "source_ip": [], "malware_hash": [], "malware_url": [],
            "category": fields.category, "subcategory": fields.subcategory, "priority": fields.priority,
            "correlation_id": case.id, "correlation_display": "Elastic Case",
        }

    @sub_action("pushToService", SirPushParams, "Create or update a security incident and add its observables.",
                example={"incident": _EXAMPLE_INCIDENT, "comments": [{"commentId": "1", "comment": "A note."}]})
    def push_to_service(self, ctx: Context[ServiceNowConfig, ServiceNowSecrets, SirPushParams]) -> Result:
        incident = ctx.params.incident.model_dump()
        found = observables(incident)
        table_api = ctx.config.usesTableApi
        for key in OBSERVABLE_FIELDS:
            # The Table API takes them joined in the record; the app takes them in their own call after it.
            value = incident[key]
            incident[key] = (",".join(value) if isinstance(value, list) else value) if table_api else None
        try:
            answer = self.push(ctx, incident, ctx.params.comments)
            if not table_api and found:
                self.client(ctx).bulk_add_observables(found, answer["id"])
        except ServiceNowError as err:
            return err.result()
        return Result.ok(answer)
