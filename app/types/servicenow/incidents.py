"""What ITSM and SecOps share (Kibana's `lib/servicenow/api.ts`): the incident params every push takes,
and the sub-actions pushToService, getFields, getIncident and getChoices."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import field_validator

from app.types.kit import ConnectorType, Context, EmptySchema, Field, Result, Schema, sub_action
from app.types.servicenow.client import Product, ServiceNowClient, ServiceNowError
from app.types.servicenow.schemas import (
    CONFIG_ERROR_PREFIX,
    ServiceNowConfig,
    ServiceNowSecrets,
    check_settings,
)

DEFAULT_ALERTS_GROUPING_KEY = "{{rule.id}}:{{alert.id}}"
MAX_ADDITIONAL_FIELDS = 20
# The select whose options ServiceNow's sys_choice lists; registered by app/types/servicenow/views.py.
CHOICE_WIDGET = "servicenow_choice"
COMMON_INCIDENT_FIELDS = ("short_description", "description", "externalId", "category", "subcategory",
                          "correlation_id", "correlation_display", "additional_fields")


def choice(label: str, endpoint: str, help: str | None = None) -> Any:
    """A field whose choices the type's `choices` view lists from ServiceNow."""
    return Field(None, label=label, widget=CHOICE_WIDGET, options=endpoint, help=help)


class Comment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment ID")


class IncidentFields(Schema):
    """Kibana's CommonAttributes; a type's own incident adds its fields and names its choices endpoint."""

    short_description: str = Field(label="Short description")
    description: str | None = Field(None, label="Description", widget="textarea")
    externalId: str | None = Field(None, label="Incident to update (sys_id)",
                                   help="Blank creates an incident; a sys_id updates that one.")
    category: str | None = Field(None, label="Category")
    subcategory: str | None = Field(None, label="Subcategory")
    correlation_id: str | None = Field(
        DEFAULT_ALERTS_GROUPING_KEY, label="Correlation ID",
        help="Identifies the incident to update or close later; alerts fill in its placeholders.")
    correlation_display: str | None = Field(None, label="Correlation display")
    additional_fields: dict[str, Any] | None = Field(
        None, label="Additional fields", widget="json",
        help="A JSON object of further incident fields, sent as they are (not with deprecated connectors).")

    @field_validator("additional_fields", mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        """Kibana's Coerced: a JSON string is read as the object it holds."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    @field_validator("additional_fields")
    @classmethod
    def _own_fields(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        problems = [f"The following properties cannot be defined inside additional_fields: {key}."
                    for key in value if key in COMMON_INCIDENT_FIELDS]
        if len(value) > MAX_ADDITIONAL_FIELDS:
            problems.append(f"A maximum of {MAX_ADDITIONAL_FIELDS} fields in additional_fields can be defined at a time.")
        if problems:
            raise ValueError(" ".join(problems))
        return value


class GetIncidentParams(Schema):
    externalId: str = Field(label="Incident sys_id")


class GetChoicesParams(Schema):
    fields: list[str] = Field(label="Fields", widget="json", help='e.g. ["urgency", "category"]')


class ServiceNowType(ConnectorType):
    """The connection, auth and lists every ServiceNow type has (getChoices)."""

    product: ClassVar[Product]
    secrets = ServiceNowSecrets
    config_error_prefix = CONFIG_ERROR_PREFIX
    minimum_license_required = "platinum"

    def check(self, config: Any, secrets: ServiceNowSecrets) -> dict[str, str]:
        return check_settings(config, secrets)

    def client(self, ctx: Context) -> ServiceNowClient:
        return ServiceNowClient(ctx, self.product, uses_table_api=getattr(ctx.config, "usesTableApi", False))

    def connector_deprecated(self, config: dict[str, Any] | None) -> bool:
        """Kibana's isConnectorDeprecated; the app's serializer has no hook for it yet."""
        return False

    @sub_action("getChoices", GetChoicesParams, "List the choices of some fields (sys_choice).",
                example={"fields": ["urgency", "severity", "impact", "category", "subcategory"]})
    def get_choices(self, ctx: Context[Any, ServiceNowSecrets, GetChoicesParams]) -> Result:
        try:
            return Result.ok(self.client(ctx).get_choices(ctx.params.fields))
        except ServiceNowError as err:
            return err.result()


class IncidentType(ServiceNowType):
    """ITSM and SecOps: incidents through the Elastic app's Import Set API, or the legacy Table API."""

    config = ServiceNowConfig
    example = {
        "config": {"apiUrl": "https://dev123.service-now.com", "usesTableApi": False, "isOAuth": False},
        "secrets": {"username": "elastic-integration", "password": "example-password"},
    }

    def connector_deprecated(self, config: dict[str, Any] | None) -> bool:
        if not config:
            return False
        return "usesTableApi" not in config or bool(config["usesTableApi"])

    def push(self, ctx: Context, incident: dict[str, Any], comments: list[Comment] | None) -> dict[str, Any]:
        """Kibana's pushToServiceHandler: create (with the caller) or update, then one update per comment."""
        client = self.client(ctx)
        external_id = incident.pop("externalId", None)
        if external_id is not None:
            answer = client.update_incident(external_id, incident)
        else:
            user = ctx.secrets.username
            answer = client.create_incident({**incident, "caller_id": user, "opened_by": user})
        answer["comments"] = []
        for comment in comments or []:
            client.update_incident(answer["id"], {**incident, self.product.comment_field: comment.comment})
            answer["comments"].append({"commentId": comment.commentId, "pushedDate": answer["pushedDate"]})
        return answer

    @sub_action("getFields", EmptySchema, "List the incident table's text fields (sys_dictionary).", example={})
    def get_fields(self, ctx: Context[ServiceNowConfig, ServiceNowSecrets, EmptySchema]) -> Result:
        try:
            return Result.ok(self.client(ctx).get_fields())
        except ServiceNowError as err:
            return err.result()

    @sub_action("getIncident", GetIncidentParams, "Read one incident through the Table API.",
                example={"externalId": "9c573169c611228700193229fff72400"})
    def get_incident(self, ctx: Context[ServiceNowConfig, ServiceNowSecrets, GetIncidentParams]) -> Result:
        try:
            return Result.ok(self.client(ctx).get_incident(ctx.params.externalId))
        except ServiceNowError as err:
            return err.result()
