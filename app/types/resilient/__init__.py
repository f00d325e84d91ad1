"""IBM Resilient — `.resilient` (connector-types.md §10): push cases to IBM Security QRadar SOAR incidents.

Kibana's CaseConnector: `pushToService` creates an incident (or updates the one `externalId` names, from a
change-set built against the incident as it is now) and adds the case's comments; `incidentTypes` and
`severity` list the choices the push takes; `getFields` describes every incident field. Every call is
HTTP Basic with the API key's id and secret. A failure reads `[Action][IBM Resilient]: Unable to … Error:
Status code: N. Message: …`, as Kibana's, under the generic message of a run that threw.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import field_validator

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
    sub_action,
)
from app.types.resilient.changes import InvalidIncident, new_incident, update_changes

NAME = "IBM Resilient"
# Keys additionalFields may not carry (Kibana's commonIncidentSchemaObjectProperties), and how many it may.
STANDARD_KEYS = ("name", "description", "externalId", "incidentTypes", "severityCode", "additionalFields")
MAX_ADDITIONAL_FIELDS = 50
_EXAMPLE_PUSH = {
    "incident": {"name": "Switchboard test incident", "description": "Pushed from Switchboard's test pane.",
                 "externalId": None, "incidentTypes": None, "severityCode": None},
    "comments": None,
}


class ResilientConfig(Schema):
    apiUrl: Url = Field(label="URL", placeholder="https://resilient.example.com",
                        help="The address of your IBM Resilient (QRadar SOAR) instance.")
    orgId: str = Field(label="Organization ID", help="The id of the organization incidents are created in.")


class ResilientSecrets(Schema):
    apiKeyId: str = Field(label="API key ID")
    apiKeySecret: str = Field(label="API key secret")


class Incident(Schema):
    name: str = Field(label="Name")
    description: str | None = Field(None, label="Description")
    externalId: str | None = Field(None, label="Incident ID to update", help="Empty creates a new incident.")
    incidentTypes: list[int] | None = Field(None, label="Incident types")
    severityCode: int | None = Field(None, label="Severity")
    additionalFields: dict[str, Any] | None = Field(
        None, label="Additional fields", help="Other incident fields by their Resilient name, as JSON.")

    @field_validator("additionalFields", mode="before")
    @classmethod
    def _parsed(cls, value: Any) -> Any:
        if isinstance(value, str):  # Kibana's Coerced: a JSON text is read as the object it holds
            try:
                return json.loads(value) if value.strip() else None
            except ValueError:
                raise ValueError("additionalFields must be a JSON object") from None
        return value

    @field_validator("additionalFields")
    @classmethod
    def _allowed(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        for key in value:
            if key in STANDARD_KEYS:
                raise ValueError(f"The following properties cannot be defined inside additionalFields: {key}.")
        if len(value) > MAX_ADDITIONAL_FIELDS:
            raise ValueError(
                f"A maximum of {MAX_ADDITIONAL_FIELDS} fields in additionalFields can be defined at a time.")
        return value


class Comment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment ID")


class PushParams(Schema):
    incident: Incident = Field(label="Incident", widget="resilient_incident")
    comments: list[Comment] | None = Field(None, label="Additional comments", widget="resilient_comment")


class GetIncidentParams(Schema):
    id: str = Field(label="Incident ID")


class ResilientCaseFields(Schema):
    """What a case keeps for Resilient (Kibana's ResilientFieldsSchema): ids as text, as Kibana's cases do."""

    incidentTypes: list[str] | None = Field(None, label="Incident types", widget="resilient_incident_types",
                                            options="resilient.incident_types")
    severityCode: str | None = Field(None, label="Severity", widget="resilient_severity", options="resilient.severity")
    additionalFields: str | None = Field(None, label="Additional fields", widget="jsontext",
                                         help="Other incident fields by their Resilient name, as a JSON object.")


Ctx = Context[ResilientConfig, ResilientSecrets, Any]


def error_text(response: OutboundResponse) -> str:
    """Kibana's getResponseErrorMessage: 401 in its own words, else Resilient's `message`, else the reason."""
    if response.status_code == 401:
        return "Unauthorized API Error"
    body = http.json_or_none(response)
    if isinstance(body, dict) and "message" in body:
        return f"API Error: {_js_text(body['message'])}"
    return f"API Error: {response.reason}"


def _js_text(value: Any) -> str:
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value)


def failure(doing: str, detail: str, retry: bool | str) -> Failed:
    return Failed(Result.error(GENERIC_ERROR, f"[Action][{NAME}]: {doing}. Error: {detail}.", retry=retry))


def iso_from_ms(value: Any) -> str:
    """JavaScript's new Date(ms).toISOString()."""
    when = datetime.fromtimestamp(float(value) / 1000, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(body: dict[str, Any], key: str) -> float:
    """A field Kibana coerces to a number; its absence fails response validation."""
    value = body.get(key)
    try:
        if value is None or isinstance(value, bool | dict | list):
            raise ValueError
        return float(value)
    except ValueError:
        got = "undefined" if key not in body else type(value).__name__
        raise InvalidIncident(f"Response validation failed ([{key}]: expected number, received {got})") from None


class Resilient(ConnectorType):
    id = ".resilient"
    name = NAME
    description = "Create and update incidents in IBM Resilient (IBM Security QRadar SOAR)."
    config = ResilientConfig
    secrets = ResilientSecrets
    example = {
        "config": {"apiUrl": "https://resilient.example.com", "orgId": "201"},
        "secrets": {"apiKeyId": "example-key-id", "apiKeySecret": "example-key-secret"},
    }
    test_params = {"subAction": "pushToService", "subActionParams": _EXAMPLE_PUSH}
    config_error_prefix = "error validating url"
    minimum_license_required = "platinum"
    supported_feature_ids = ("alerting", "cases", "siem")
    case_fields = ResilientCaseFields

    # ------------------------------------------------------------------ cases

    def case_incident(self, case: CaseView, fields: ResilientCaseFields) -> dict[str, Any]:
        """Kibana's cases format for Resilient: the case's title and description, the case's choices."""
        return {
            "name": case.title,
            "description": case.description,
            "incidentTypes": fields.incidentTypes,
            "severityCode": fields.severityCode,
            "additionalFields": fields.additionalFields,
        }

    # ------------------------------------------------------------------ HTTP

    def _call(self, ctx: Ctx, method: str, path: str, doing: str, body: Any = None) -> Any:
        """One call under the org's URL; its JSON answer, or Failed in Kibana's words for `doing`."""
        url = f"{ctx.config.apiUrl.rstrip('/')}/rest/orgs/{ctx.config.orgId}{path}"
        headers = {"Content-Type": "application/json"}
        try:
            response = ctx.http.request(method, url, headers=headers, auth=(ctx.secrets.apiKeyId, ctx.secrets.apiKeySecret),
                                        data=None if body is None else json.dumps(body))
        except OutboundError as exc:
            raise failure(doing, "Status code: undefined. Message: Unknown API Error", http.is_retryable(exc)) from None
        if not response.ok:
            status = response.status_code
            retry = http.retryable_status(status)
            if status == 429:  # Resilient says when: the run is retried then
                retry = http.retry_at(response.headers.get("Retry-After")) or retry
            raise failure(doing, f"Status code: {status}. Message: {error_text(response)}", retry)
        data = http.json_or_none(response)
        if data is None:
            raise failure(doing, "Response validation failed (Response is not a valid JSON)", False)
        return data

    def _checked(self, doing: str, read) -> Any:
        """Run `read`; a refused incident or answer fails in Kibana's words for `doing`."""
        try:
            return read()
        except InvalidIncident as exc:
            raise failure(doing, str(exc), False) from None
        except Failed as failed:  # a step inside (reading the fields) failed in its own words
            raise failure(doing, failed.result.service_message or "", failed.result.retry or False) from None

    def _incident(self, ctx: Ctx, incident_id: str) -> dict[str, Any]:
        doing = f"Unable to get incident with id {incident_id}"
        data = self._call(ctx, "GET", f"/incidents/{incident_id}?text_content_output_format=objects_convert", doing)
        if not isinstance(data, dict):
            raise failure(doing, "Response validation failed (expected object)", False)
        self._checked(doing, lambda: (_number(data, "id"), _number(data, "inc_last_modified_date")))
        return data

    def _fields(self, ctx: Ctx) -> list[dict[str, Any]]:
        doing = "Unable to get fields"
        data = self._call(ctx, "GET", "/types/incident/fields", doing)
        if not isinstance(data, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in data):
            raise failure(doing, "Response validation failed (expected an array of fields with a [name])", False)
        keys = ("name", "input_type", "read_only", "required", "text", "prefix", "values")
        return [{key: f.get(key) for key in keys} for f in data]

    def _choices(self, ctx: Ctx, path: str, doing: str) -> list[dict[str, str]]:
        data = self._call(ctx, "GET", f"/types/incident/fields/{path}", doing)
        values = data.get("values") if isinstance(data, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, dict) and "value" in v for v in values):
            raise failure(doing, "Response validation failed ([values]: expected array of {value, label})", False)
        return [{"id": _js_id(v["value"]), "name": str(v.get("label", ""))} for v in values]

    def _url(self, ctx: Ctx, incident_id: str) -> str:
        return f"{ctx.config.apiUrl.rstrip('/')}/#incidents/{incident_id}"

    # ------------------------------------------------------------------ sub-actions

    @sub_action("pushToService", PushParams, "Create or update an incident, then add the comments.",
                example=_EXAMPLE_PUSH)
    def push_to_service(self, ctx: Context[ResilientConfig, ResilientSecrets, PushParams]) -> Result:
        incident = ctx.params.incident.model_dump(exclude={"externalId"})
        external_id = ctx.params.incident.externalId
        pushed = self._update(ctx, external_id, incident) if external_id is not None else self._create(ctx, incident)
        if ctx.params.comments:
            pushed["comments"] = []
            for comment in ctx.params.comments:
                doing = f"Unable to create comment at incident with id {pushed['id']}"
                self._call(ctx, "POST", f"/incidents/{pushed['id']}/comments", doing,
                           {"text": {"format": "text", "content": comment.comment}})
                pushed["comments"].append({"commentId": comment.commentId, "pushedDate": pushed["pushedDate"]})
        return Result.ok(pushed)

    def _create(self, ctx: Ctx, incident: dict[str, Any]) -> dict[str, Any]:
        doing = "Unable to create incident"
        fields = self._checked(doing, lambda: self._fields(ctx)) if incident.get("additionalFields") else None
        body = self._checked(doing, lambda: new_incident(incident, fields))
        data = self._call(ctx, "POST", "/incidents?text_content_output_format=objects_convert", doing, body)
        if not isinstance(data, dict):
            raise failure(doing, "Response validation failed (expected object)", False)
        number, created = self._checked(doing, lambda: (_number(data, "id"), _number(data, "create_date")))
        incident_id = _js_id(number)
        return {"id": incident_id, "title": incident_id, "pushedDate": iso_from_ms(created),
                "url": self._url(ctx, incident_id)}

    def _update(self, ctx: Ctx, incident_id: str, incident: dict[str, Any]) -> dict[str, Any]:
        doing = f"Unable to update incident with id {incident_id}"
        latest = self._checked(doing, lambda: self._incident(ctx, incident_id))
        fields = self._checked(doing, lambda: self._fields(ctx))
        given = {k: v for k, v in incident.items() if v is not None}  # a null would empty the field in Resilient
        body = self._checked(doing, lambda: update_changes(latest, given, fields))
        answer = self._call(ctx, "PATCH", f"/incidents/{incident_id}", doing, body)
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise failure(doing, "Response validation failed ([success]: expected boolean)", False)
        if not answer["success"]:
            raise failure(doing, f"Error while updating incident: {_js_text(answer.get('message'))}", False)
        updated = self._checked(doing, lambda: self._incident(ctx, incident_id))
        updated_id = _js_id(updated["id"])
        return {"id": updated_id, "title": updated_id, "url": self._url(ctx, updated_id),
                "pushedDate": iso_from_ms(updated["inc_last_modified_date"])}

    @sub_action("getIncident", GetIncidentParams, "Read one incident.", example={"id": "1001"})
    def get_incident(self, ctx: Context[ResilientConfig, ResilientSecrets, GetIncidentParams]) -> Result:
        return Result.ok(self._incident(ctx, ctx.params.id))

    @sub_action("incidentTypes", EmptySchema, "List the incident types.", example={})
    def incident_types(self, ctx: Ctx) -> Result:
        return Result.ok(self._choices(ctx, "incident_type_ids", "Unable to get incident types"))

    @sub_action("severity", EmptySchema, "List the severities.", example={})
    def severity(self, ctx: Ctx) -> Result:
        return Result.ok(self._choices(ctx, "severity_code", "Unable to get severity"))

    @sub_action("getFields", EmptySchema, "Describe every incident field.", example={})
    def get_fields(self, ctx: Ctx) -> Result:
        return Result.ok(self._fields(ctx))


def _js_id(value: Any) -> str:
    """A numeric id as JavaScript prints it: 17, not 17.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
