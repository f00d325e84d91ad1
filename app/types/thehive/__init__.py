"""TheHive — `.thehive` (connector-types.md §28): cases and alerts in TheHive 5, through its v1 API.

Every call carries `Authorization: Bearer <apiKey>` and, when the connector names one, `X-Organisation`.
`pushToService` (Kibana's CaseConnector) creates a case with POST /api/v1/case, or updates the one named
by `externalId` with PATCH, then adds each comment with POST /api/v1/case/{id}/comment; it answers with
the case's id, title, page URL (`<url>/cases/<id>/details`) and push date. `createAlert` posts the alert's
fields merged with its `body` JSON (the body's keys win) to /api/v1/alert. `getIncident` reads a case.
Errors are Kibana's: `API Error: <type> - <message>` from TheHive's error body, or `Unknown API Error`
when no answer came. Answers missing what Kibana's response schemas require are not a success.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app.types.kit import (
    GENERIC_ERROR,
    CaseView,
    ConnectorType,
    Context,
    Failed,
    Result,
    http,
    sub_action,
)
from app.types.kit.http import call_api, invalid_response, json_object
from app.types.thehive.schemas import (
    CASE_SEVERITY,
    MEDIUM,
    CaseFields,
    CreateAlertParams,
    GetIncidentParams,
    PushParams,
    TheHiveConfig,
    TheHiveSecrets,
    answer_problem,
)

API_PATH = "/api/v1"
# What a case id put into a path may not hold: a character that ends its segment or the path, or an escape a
# server may read as one; "." and ".." are refused whole (the HTTP client resolves dot segments).
PATH_BREAKERS = re.compile(r"[/\\?#%\x00-\x1f\x7f]")

_EXAMPLE_PUSH = {
    "incident": {"title": "Switchboard test case", "description": "Created to test the TheHive connector.",
                 "severity": 2, "tlp": 2, "tags": ["switchboard"]},
    "comments": [],
}
_EXAMPLE_ALERT = {
    "title": "Switchboard test alert", "description": "Created to test the TheHive connector.",
    "type": "external", "source": "switchboard", "sourceRef": "switchboard-test-1",
    "severity": 2, "tlp": 2, "tags": ["switchboard"], "body": "{}",
}
_EXAMPLE_GET = {"externalId": "~41080"}


def case_path(case_id: str) -> str:
    """`/case/<id>`, or Failed when the id could name another endpoint of TheHive (another user's API key)."""
    if case_id in ("", ".", "..") or PATH_BREAKERS.search(case_id):
        raise Failed(Result.error(
            GENERIC_ERROR, f'The case id "{case_id}" may not contain "/", "\\", "?", "#", "%" or control '
            'characters, nor be empty, "." or ".."', retry=False))
    return f"/case/{quote(case_id, safe='')}"


def error_text(response: http.OutboundResponse) -> str:
    """Kibana's getResponseErrorMessage: TheHive's `{type, message}` body, read as it is (undefined if absent)."""
    body = http.json_or_none(response)
    body = body if isinstance(body, dict) else {}
    return f"API Error: {body.get('type', 'undefined')} - {body.get('message', 'undefined')}"


def unanswered(exc: http.OutboundError) -> Result:
    """No status came back: Kibana says only this; the run's trace keeps the outbound error."""
    return Result.error(GENERIC_ERROR, "Status code: undefined. Message: Unknown API Error", retry=http.is_retryable(exc))


def iso_millis(when: datetime) -> str:
    """JavaScript's Date.toISOString()."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def spread(value: Any) -> dict[str, Any]:
    """What JavaScript's `{...value}` keeps of a parsed JSON value: an object's keys, an array's or a string's
    indexes, nothing of a number, boolean or null."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list | str):
        return {str(i): item for i, item in enumerate(value)}
    return {}


def alert_body(params: CreateAlertParams) -> dict[str, Any]:
    """Kibana's createAlert body: the params without `body`, then the body's keys over them."""
    fields = params.model_dump(exclude={"body"})
    try:
        extra = http.strict_json(params.body if params.body is not None else "{}")
    except ValueError as exc:  # Kibana's JSON.parse throws; the framework reports its message
        raise Failed(Result.error(GENERIC_ERROR, f"The alert body is not valid JSON: {exc}", retry=False)) from None
    return {**fields, **spread(extra)}


class TheHive(ConnectorType):
    id = ".thehive"
    name = "TheHive"
    description = "Create cases and alerts in TheHive."
    config = TheHiveConfig
    secrets = TheHiveSecrets
    example = {
        "config": {"url": "https://thehive.example.com", "organisation": "SOC"},
        "secrets": {"apiKey": "example-thehive-api-key"},
    }
    test_params = {"subAction": "pushToService", "subActionParams": _EXAMPLE_PUSH}
    minimum_license_required = "platinum"
    supported_feature_ids = ("alerting", "siem", "uptime", "cases", "workflows")
    case_fields = CaseFields

    # ------------------------------------------------------------- the calls

    @staticmethod
    def _call(ctx: Context, method: str, path: str, body: Any = None) -> http.OutboundResponse:
        headers = {"Authorization": f"Bearer {ctx.secrets.apiKey}"}
        if ctx.config.organisation is not None:  # axios drops a header whose value is null
            headers["X-Organisation"] = ctx.config.organisation
        url = ctx.config.url.rstrip("/") + API_PATH + path
        return call_api(ctx.http, method, url, body=body, headers=headers, error_text=error_text,
                        unanswered=unanswered)

    @staticmethod
    def _answer(response: http.OutboundResponse, kind: str) -> dict[str, Any]:
        data = json_object(response)
        problem = answer_problem(kind, data)
        if problem:
            raise Failed(invalid_response(problem))
        return data

    @staticmethod
    def _case_url(ctx: Context, case_id: str) -> str:
        return f"{ctx.config.url.rstrip('/')}/cases/{case_id}/details"

    # ------------------------------------------------------------- sub-actions

    @sub_action("pushToService", PushParams, "Create case", example=_EXAMPLE_PUSH)
    def push_to_service(self, ctx: Context[TheHiveConfig, TheHiveSecrets, PushParams]) -> Result:
        incident = ctx.params.incident.model_dump(exclude={"externalId"})
        case_id = ctx.params.incident.externalId
        if case_id is not None:
            self._call(ctx, "PATCH", case_path(case_id), incident)  # TheHive answers 204: nothing to read
            pushed = {"id": case_id, "title": incident["title"], "url": self._case_url(ctx, case_id),
                      "pushedDate": iso_millis(datetime.now(UTC))}
        else:
            case = self._answer(self._call(ctx, "POST", "/case", incident), "case")
            try:
                created = datetime.fromtimestamp(case["_createdAt"] / 1000, UTC)
            except (OverflowError, OSError, ValueError):  # JavaScript's toISOString() throws on it too
                raise Failed(Result.error(GENERIC_ERROR, "RangeError: Invalid time value", retry=False)) from None
            pushed = {"id": case["_id"], "title": case["title"], "url": self._case_url(ctx, case["_id"]),
                      "pushedDate": iso_millis(created)}
        if ctx.params.comments:
            pushed["comments"] = []
            for comment in ctx.params.comments:
                self._answer(self._call(ctx, "POST", f"{case_path(pushed['id'])}/comment",
                                        {"message": comment.comment}), "comment")
                pushed["comments"].append({"commentId": comment.commentId, "pushedDate": pushed["pushedDate"]})
        return Result.ok(pushed)

    @sub_action("createAlert", CreateAlertParams, "Create alert", example=_EXAMPLE_ALERT)
    def create_alert(self, ctx: Context[TheHiveConfig, TheHiveSecrets, CreateAlertParams]) -> Result:
        self._answer(self._call(ctx, "POST", "/alert", alert_body(ctx.params)), "alert")
        return Result.ok({})  # Kibana's createAlert returns nothing; the trace shows TheHive's answer

    @sub_action("getIncident", GetIncidentParams, "Read a case", example=_EXAMPLE_GET)
    def get_incident(self, ctx: Context[TheHiveConfig, TheHiveSecrets, GetIncidentParams]) -> Result:
        return Result.ok(self._answer(self._call(ctx, "GET", case_path(ctx.params.externalId)), "case"))

    # ------------------------------------------------------------- cases

    def case_incident(self, case: CaseView, fields: CaseFields) -> dict[str, Any]:
        """Kibana's Cases format for TheHive: the case's title, description and tags, its severity as
        TheHive's number, and the TLP chosen for the case."""
        return {"title": case.title, "description": case.description, "tags": list(case.tags),
                "severity": CASE_SEVERITY.get(case.severity, MEDIUM), "tlp": fields.tlp}

