"""D3 Security — `.d3security` (connector-types.md §4): send alerts to D3 SOAR as events.

Every run posts to the webhook request URL D3 generated for its Kibana integration, authenticated by the
`d3key` header; the body is always wrapped in the Elasticsearch-hit shape D3's Kibana intake reads.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from app.types.kit import GENERIC_ERROR, ConnectorType, Context, Failed, Field, Result, Schema, Url, http, sub_action
from app.types.kit.http import call_api, invalid_response, json_object

_ABSENT = object()
_EXAMPLE_TEST = {"body": json.dumps({"message": "Test event from Switchboard"})}
_EXAMPLE_RUN = {
    "body": json.dumps({"rule": {"name": "Suspicious login"}, "host": {"name": "web-01"}}),
    "severity": "high",
    "eventType": "Suspicious login",
}


class D3SecurityConfig(Schema):
    url: Url = Field(
        label="URL",
        help="The D3 Security API request URL: the Request URL of the webhook key generated in D3 SOAR.",
        placeholder="https://d3.example.com/<tenant>/VSOC/api/Data/Kibana/<site>/CreateEvents",
    )


class D3SecuritySecrets(Schema):
    token: str = Field(label="Token", help="The D3 Security token: the webhook key's Request Header Value.")


class D3SecurityRunParams(Schema):
    body: str | None = Field(
        None, label="Body", widget="textarea",
        help="Sent as the event's rawData: parsed when it is JSON, else sent as text.",
    )
    severity: str = Field("", label="Severity", help="Optional: high, medium or low.")
    eventType: str = Field("", label="Event Type", help="Optional.")


def event_body(params: D3SecurityRunParams) -> dict[str, Any]:
    """Kibana's addSeverityAndEventTypeInBody: the body inside one Elasticsearch hit."""
    raw: Any = params.body or ""
    with contextlib.suppress(ValueError):  # not JSON: D3 gets the text itself
        raw = http.strict_json(raw)
    source = {"rawData": raw, "event.type": params.eventType, "kibana.alert.severity": params.severity}
    return {"hits": {"hits": {"_source": source}}}


def error_text(response: http.OutboundResponse) -> str:
    """D3's getResponseErrorMessage: the status and its reason only, the body unread."""
    if response.status_code == 401:
        return "Unauthorized API Error"
    return f"API Error: {response.status_code} - {response.reason}"


def unanswered(exc: http.OutboundError) -> Result:
    """D3's getResponseErrorMessage when no status came back; the trace keeps the outbound error."""
    return Result.error(GENERIC_ERROR, "Status code: undefined. Message: Unknown API Error", retry=http.is_retryable(exc))


def js_type(value: Any) -> str:
    """The type name Kibana's schema errors use for a value (`typeDetect`)."""
    if value is _ABSENT:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "Array", dict: "Object"}.get(type(value), type(value).__name__)


class D3Security(ConnectorType):
    id = ".d3security"
    name = "D3 Security"
    description = "Create event or trigger playbook workflow actions in D3 SOAR."
    config = D3SecurityConfig
    secrets = D3SecuritySecrets
    example = {
        "config": {"url": "https://d3.example.com/elasticsearch/VSOC/api/Data/Kibana/Security%20Operations/CreateEvents"},
        "secrets": {"token": "example-d3-key"},
    }
    test_params = {"subAction": "test", "subActionParams": _EXAMPLE_TEST}
    config_error_prefix = "error validating url"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "siem", "workflows", "agentBuilder")

    @sub_action("run", D3SecurityRunParams, "Send an event to D3 SOAR.", example=_EXAMPLE_RUN)
    @sub_action("test", D3SecurityRunParams, "The same as run; what the test pane sends.", example=_EXAMPLE_TEST)
    def run_api(self, ctx: Context[D3SecurityConfig, D3SecuritySecrets, D3SecurityRunParams]) -> Result:
        response = call_api(ctx.http, "POST", ctx.config.url, body=event_body(ctx.params),
                            headers={"d3key": ctx.secrets.token}, error_text=error_text, unanswered=unanswered)
        data = json_object(response)
        refid = data.get("refid", _ABSENT)
        if not isinstance(refid, str):
            raise Failed(invalid_response(f"[refid]: expected value of type [string] but got [{js_type(refid)}]"))
        return Result.ok(data)
