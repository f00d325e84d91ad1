"""ServiceNow ITOM — `.servicenow-itom` (connector-types.md §14): events for ServiceNow's Event Management,
which groups them into alerts by message key."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from app.types.kit import Context, Field, Result, Schema, sub_action
from app.types.servicenow.client import ITOM, ServiceNowError
from app.types.servicenow.incidents import DEFAULT_ALERTS_GROUPING_KEY, ServiceNowType, choice
from app.types.servicenow.schemas import ServiceNowBaseConfig, ServiceNowSecrets

CHOICES = "servicenow_itom.choices"  # the endpoint of this package's views


class AddEventParams(Schema):
    source: str | None = Field(None, label="Source", help="The monitoring tool, e.g. Elastic.")
    event_class: str | None = Field(None, label="Source instance")
    resource: str | None = Field(None, label="Resource", help="e.g. a disk or a CPU.")
    node: str | None = Field(None, label="Node", help="The host, by name, FQDN, IP or MAC address.")
    metric_name: str | None = Field(None, label="Metric name")
    type: str | None = Field(None, label="Type", help="The type of event, e.g. High CPU.")
    severity: str | None = choice("Severity", CHOICES, help="1 Critical, 2 Major, 3 Minor, 4 Warning, 5 OK, 0 Clear.")
    description: str | None = Field(None, label="Description", widget="textarea")
    additional_info: str | None = Field(None, label="Additional info", widget="textarea",
                                        help="A JSON object of further details, as text.")
    message_key: str | None = Field(DEFAULT_ALERTS_GROUPING_KEY, label="Message key",
                                    help="Events with the same key update the same alert.")
    time_of_event: str | None = Field(None, label="Time of event",
                                      help="An ISO date or epoch milliseconds; sent as yyyy-MM-dd HH:mm:ss GMT.")


def time_of_event(value: str | None) -> str | None:
    """Kibana's formatTimeOfEvent: epoch milliseconds or a date, as ServiceNow's GMT time; else nothing."""
    text = (value or "").strip()
    if not text:
        return None
    when = None
    if text.lstrip("-").isdigit() and str(int(text)) == text:
        try:
            when = datetime.fromtimestamp(int(text) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        for parse in (datetime.fromisoformat, parsedate_to_datetime):
            try:
                when = parse(text)
                break
            except (TypeError, ValueError, IndexError):
                continue
    if when is None:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


_EXAMPLE_EVENT = {"source": "Switchboard", "node": "web-01", "type": "High CPU", "severity": "3",
                  "description": "Test event from Switchboard", "message_key": "switchboard-test"}


class ServiceNowITOM(ServiceNowType):
    id = ".servicenow-itom"
    name = "ServiceNow ITOM"
    description = "Create an event in ServiceNow ITOM."
    config = ServiceNowBaseConfig
    product = ITOM
    supported_feature_ids = ("alerting", "siem", "workflows")
    example = {
        "config": {"apiUrl": "https://dev123.service-now.com", "isOAuth": False},
        "secrets": {"username": "elastic-integration", "password": "example-password"},
    }
    test_params = {"subAction": "addEvent", "subActionParams": _EXAMPLE_EVENT}

    @sub_action("addEvent", AddEventParams, "Send an event to Event Management.", example=_EXAMPLE_EVENT)
    def add_event(self, ctx: Context[ServiceNowBaseConfig, ServiceNowSecrets, AddEventParams]) -> Result:
        event = {**ctx.params.model_dump(), "time_of_event": time_of_event(ctx.params.time_of_event)}
        try:
            self.client(ctx).add_event({k: v for k, v in event.items() if v is not None})
        except ServiceNowError as err:
            return err.result()
        return Result.ok({})
