"""Swimlane — `.swimlane` (connector-types.md §25): create and update records in a Swimlane application.

The connector's `mappings` say which application field receives each part of an alert or a case (rule name,
alert id, severity, case id, case name, description, comments); a push sends the values keyed by those field
ids, `Private-Token` authenticated, and adds comments to the comments field. The `application` lookup reads the
application's fields, so the connector form can fill in a mapping from a field's id. Failures read as Kibana's
`[Action][Swimlane]: Unable to … in application with id X. Status: N. Error: … Reason: …`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

from app.types.kit import (
    GENERIC_ERROR,
    CaseView,
    ConnectorType,
    Context,
    EmptySchema,
    Failed,
    Field,
    OutboundError,
    OutboundResponse,
    Result,
    Schema,
    Url,
    http,
    lookup,
    sub_action,
)

NAME = "Swimlane"
# Each mapping, the incident value it carries, and its label in Kibana's form, in the form's order.
ROLES = {
    "alertIdConfig": ("alertId", "Alert ID"),
    "ruleNameConfig": ("ruleName", "Rule name"),
    "severityConfig": ("severity", "Severity"),
    "caseIdConfig": ("caseId", "Case ID"),
    "caseNameConfig": ("caseName", "Case name"),
    "commentsConfig": (None, "Comments"),
    "descriptionConfig": ("description", "Description"),
}
# The mappings each connector type uses (Kibana's form shows only these; `all` shows every one).
USED = {
    "alerts": ("alertIdConfig", "ruleNameConfig", "severityConfig", "commentsConfig"),
    "cases": ("caseIdConfig", "caseNameConfig", "commentsConfig", "descriptionConfig"),
}
# What each connector type must map, with Kibana's messages (its form's validateMappingForConnector).
REQUIRED = {
    "alerts": {"ruleNameConfig": "Rule name is required.", "alertIdConfig": "Alert ID is required."},
    "cases": {"caseNameConfig": "Case name is required.", "descriptionConfig": "Description is required.",
              "commentsConfig": "Comments are required.", "caseIdConfig": "Case ID is required."},
}
_EXAMPLE_PUSH = {
    "incident": {"alertId": "switchboard-test-alert", "ruleName": "Test from Switchboard", "severity": "low",
                 "caseId": "switchboard-test-case", "caseName": "Switchboard test", "externalId": None,
                 "description": "Pushed from Switchboard's test pane."},
    "comments": None,
}


class FieldMapping(Schema):
    """A Swimlane application field, as the application describes it."""

    id: str = Field(label="Field ID")
    key: str = Field(label="Key")
    name: str = Field(label="Name")
    fieldType: str = Field(label="Type")


class Mappings(Schema):
    alertIdConfig: FieldMapping | None = Field(None, label="Alert ID")
    ruleNameConfig: FieldMapping | None = Field(None, label="Rule name")
    severityConfig: FieldMapping | None = Field(None, label="Severity")
    caseIdConfig: FieldMapping | None = Field(None, label="Case ID")
    caseNameConfig: FieldMapping | None = Field(None, label="Case name")
    commentsConfig: FieldMapping | None = Field(None, label="Comments")
    descriptionConfig: FieldMapping | None = Field(None, label="Description")


class SwimlaneConfig(Schema):
    apiUrl: Url = Field(label="API Url", placeholder="https://swimlane.example.com",
                        help="Your Swimlane address; /api is added unless it ends in api.")
    appId: str = Field(label="Application ID")
    connectorType: Literal["all", "alerts", "cases"] = Field(
        label="Connector Type", form_default="all", choice_labels={"all": "All", "alerts": "Alerts", "cases": "Cases"},
        help="Alerts and Cases each need their own mappings; All needs none.")
    mappings: Mappings = Field(label="Configure Field Mappings", widget="swimlane_mappings",
                               help="The application field that receives each value: its id, key, name and type.")


class SwimlaneSecrets(Schema):
    apiToken: str = Field(label="API Token")


class SwimlaneIncident(Schema):
    alertId: str | None = Field(None, label="Alert ID")
    ruleName: str | None = Field(None, label="Rule name")
    caseId: str | None = Field(None, label="Case ID")
    caseName: str | None = Field(None, label="Case name")
    severity: str | None = Field(None, label="Severity")
    description: str | None = Field(None, label="Description")
    externalId: str | None = Field(None, label="Record ID to update")


class Comment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment ID")


class PushParams(Schema):
    incident: SwimlaneIncident = Field(label="Incident", widget="json",
                                       help="Each value goes to the field its mapping names; unmapped ones are left out.")
    comments: list[Comment] | None = Field(None, label="Comments",
                                           help='e.g. [{"commentId": "1", "comment": "Seen on web-01"}]')


class SwimlaneCaseFields(Schema):
    """What a case keeps for Swimlane (Kibana's SwimlaneFieldsSchema)."""

    caseId: str | None = Field(None, label="Case ID", help="Empty sends the case's own id.")


Ctx = Context[SwimlaneConfig, SwimlaneSecrets, Any]


def base_url(config: SwimlaneConfig) -> str:
    return config.apiUrl.removesuffix("/")


def api_url(config: SwimlaneConfig) -> str:
    base = base_url(config)
    return base if base.endswith("api") else base + "/api"


def record_values(mappings: Mappings, incident: SwimlaneIncident) -> dict[str, Any]:
    """The values keyed by the mapped field ids (Kibana's getBodyForEventAction): numeric fields as numbers."""
    values: dict[str, Any] = {}
    for role, (part, _) in ROLES.items():
        mapped: FieldMapping | None = getattr(mappings, role)
        value = getattr(incident, part) if part else None
        if mapped is None or not value:
            continue
        values[mapped.id] = js_number(value) if mapped.fieldType == "numeric" else value
    return values


def js_number(text: str) -> int | float:
    """JavaScript's Number(text), with NaN (and what JSON cannot carry) as 0, as Kibana sends it."""
    try:
        number = float(text.strip()) if text.strip() else 0.0
    except ValueError:
        return 0
    if not math.isfinite(number) or text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return 0
    return int(number) if number.is_integer() else number


def iso(value: Any) -> str:
    """JavaScript's new Date(value).toISOString() for the dates Swimlane answers."""
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reason(response: OutboundResponse | None) -> str:
    """Swimlane's own explanation: `<Argument> (<ErrorCode>)`, else `unknown` (Kibana's createErrorMessage)."""
    body = http.json_or_none(response) if response is not None else None
    if isinstance(body, dict) and body.get("Argument") is not None and body.get("ErrorCode") is not None:
        return f"{_js(body['Argument'])} ({_js(body['ErrorCode'])})"
    return "unknown"


def _js(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Swimlane(ConnectorType):
    id = ".swimlane"
    name = NAME
    description = "Create and update records in a Swimlane application."
    config = SwimlaneConfig
    secrets = SwimlaneSecrets
    example = {
        "config": {
            "apiUrl": "https://swimlane.example.com", "appId": "aNcL6DVOjBdCp5F7m", "connectorType": "all",
            "mappings": {
                "ruleNameConfig": {"id": "a6sst", "key": "rule-name", "name": "Rule Name", "fieldType": "text"},
                "alertIdConfig": {"id": "a6fdf", "key": "alert-id", "name": "Alert ID", "fieldType": "text"},
                "commentsConfig": {"id": "a6vtx", "key": "comments", "name": "Comments", "fieldType": "comments"},
            },
        },
        "secrets": {"apiToken": "example-swimlane-token"},
    }
    test_params = {"subAction": "pushToService", "subActionParams": _EXAMPLE_PUSH}
    config_error_prefix = "error configuring connector action"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "cases", "siem", "workflows")
    case_fields = SwimlaneCaseFields

    def check(self, config: SwimlaneConfig, secrets: SwimlaneSecrets) -> dict[str, str]:
        missing = [message for role, message in REQUIRED.get(config.connectorType, {}).items()
                   if getattr(config.mappings, role) is None]
        return {"config.mappings": " ".join(missing)} if missing else {}

    def case_incident(self, case: CaseView, fields: SwimlaneCaseFields) -> dict[str, Any]:
        """Kibana's cases format and mapping for Swimlane: the case id (or the one chosen), title, description."""
        return {"caseId": fields.caseId or case.id, "caseName": case.title, "description": case.description}

    # ------------------------------------------------------------------ HTTP

    def _call(self, ctx: Ctx, method: str, url: str, failing: str, body: Any = None) -> OutboundResponse:
        """One call; the response, or Failed with Kibana's `Unable to <failing> in application with id X…`."""
        headers = {"Content-Type": "application/json", "Private-Token": ctx.secrets.apiToken}
        try:
            response = ctx.http.request(method, url, headers=headers, data=None if body is None else json.dumps(body),
                                        secret_headers=("Private-Token",))
        except OutboundError as exc:
            raise self._failure(ctx, failing, 500, exc.message, None, http.is_retryable(exc)) from None
        if not response.ok:
            status = response.status_code
            retry = http.retryable_status(status)
            if status == 429:
                retry = http.retry_at(response.headers.get("Retry-After")) or retry
            raise self._failure(ctx, failing, status, f"Request failed with status code {status}", response, retry)
        return response

    def _failure(self, ctx: Ctx, failing: str, status: int, error: str, response: OutboundResponse | None,
                 retry: bool | str = False) -> Failed:
        detail = (f"[Action][{NAME}]: Unable to {failing} in application with id {ctx.config.appId}. "
                  f"Status: {status}. Error: {error}. Reason: {reason(response)}")
        return Failed(Result.error(GENERIC_ERROR, detail, retry=retry))

    def _record(self, ctx: Ctx, response: OutboundResponse, method: str, failing: str, required: tuple[str, ...]):
        """Kibana's throwIfResponseIsNotValid: a JSON object carrying the fields it reads."""
        content_type = response.headers.get("Content-Type") or "undefined"
        if "application/json" not in content_type:
            raise self._failure(ctx, failing, 500, f"Unsupported content type: {content_type} in {method} "
                                f"{response.url}. Supported content types: application/json", None)
        data = http.json_or_none(response)
        if response.content.strip() and not isinstance(data, dict | list):
            raise self._failure(ctx, failing, 500, "Response is not a valid JSON", None)
        if not isinstance(data, dict) or any(key not in data for key in required):
            missing = f"Response is missing at least one of the expected fields: {','.join(required)}"
            raise self._failure(ctx, failing, 500, missing, None)
        return data

    # ------------------------------------------------------------------ sub-actions

    @sub_action("pushToService", PushParams, "Create or update a record, then add the comments.", example=_EXAMPLE_PUSH)
    def push_to_service(self, ctx: Context[SwimlaneConfig, SwimlaneSecrets, PushParams]) -> Result:
        if not ctx.config.appId or not ctx.secrets.apiToken:  # Kibana refuses these before any call
            return Result.error(GENERIC_ERROR, f"[Action]{NAME}: Wrong configuration.")
        incident, record_id = ctx.params.incident, ctx.params.incident.externalId
        body: dict[str, Any] = {"applicationId": ctx.config.appId}
        records = f"{api_url(ctx.config)}/app/{ctx.config.appId}/record"
        if record_id is None:
            body["values"] = record_values(ctx.config.mappings, incident)
            response = self._call(ctx, "POST", records, "create record", body)
            data = self._record(ctx, response, "post", "create record", ("id", "name", "createdDate"))
            record_id, pushed = data["id"], self._date(ctx, data["createdDate"], "create record")
        else:
            body.update(id=record_id, values=record_values(ctx.config.mappings, incident))
            response = self._call(ctx, "PATCH", f"{records}/{record_id}", "update record", body)
            data = self._record(ctx, response, "patch", "update record", ("id", "name", "modifiedDate"))
            pushed = self._date(ctx, data["modifiedDate"], "update record")
        result: dict[str, Any] = {"id": data["id"], "title": data["name"], "pushedDate": pushed,
                                  "url": f"{base_url(ctx.config)}/record/{ctx.config.appId}/{record_id}"}
        if ctx.params.comments:
            result["comments"] = self._comments(ctx, data["id"], ctx.params.comments)
        return Result.ok(result)

    def _date(self, ctx: Ctx, value: Any, failing: str) -> str:
        try:
            return iso(value)
        except (TypeError, ValueError):
            raise self._failure(ctx, failing, 500, "Invalid time value", None) from None

    def _comments(self, ctx: Ctx, record_id: Any, comments: list[Comment]) -> list[dict[str, str]]:
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        mapped = ctx.config.mappings.commentsConfig
        pushed = []
        for comment in comments:
            if mapped is None or not mapped.id:
                raise self._failure(ctx, "create comment", 500, f"No comment field mapped in {NAME} connector", None)
            url = f"{api_url(ctx.config)}/app/{ctx.config.appId}/record/{record_id}/{mapped.id}/comment"
            self._call(ctx, "POST", url, "create comment",
                       {"createdDate": created, "fieldId": mapped.id, "isRichText": True, "message": comment.comment})
            pushed.append({"commentId": comment.commentId, "pushedDate": created})
        return pushed

    # ------------------------------------------------------------------ the form's helper

    @lookup("application", EmptySchema, "Read the application's fields, to fill in the mappings.")
    def application(self, ctx: Ctx) -> Result:
        """The fields of the application (Kibana's form asks Swimlane the same from the browser)."""
        app_id = ctx.config.appId
        failing = f"Unable to get application with id {app_id}. Error: "
        headers = {"Content-Type": "application/json", "Private-Token": ctx.secrets.apiToken}
        try:
            response = ctx.http.request("GET", f"{api_url(ctx.config)}/app/{app_id}", headers=headers,
                                        secret_headers=("Private-Token",))
        except OutboundError as exc:
            return Result.error(failing + exc.message, retry=http.is_retryable(exc))
        if not response.ok:
            return Result.error(failing + f"Received status: {response.status_code} when attempting to get "
                                f"application with id: {app_id}", http.service_text(response))
        data = http.json_or_none(response)
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, list):
            return Result.error("Unable to get application fields")
        keys = ("id", "key", "name", "fieldType")
        usable = [{k: str(f.get(k, "")) for k in keys} for f in fields
                  if isinstance(f, dict) and "__proto__" not in (str(f.get(k)) for k in keys)]
        return Result.ok(usable)
