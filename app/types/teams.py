"""Microsoft Teams — `.teams` (connector-types.md §21): post a message to a Teams channel's webhook.

The webhook URL is the credential (an Office 365 connector's path, or a Workflows URL's `sig`), so it
is a secret. Office 365 connectors report throttling in a 200 answer's text; Kibana reads it there.
"""

from __future__ import annotations

import json
from typing import Any

from app.types.kit import ConnectorType, Context, Field, OutboundError, Result, Schema, Url, http

DOING = "posting a Microsoft Teams message"  # the kit's 5xx text is Kibana's: "error …, retry later"
INVALID_RESPONSE = "error posting to Microsoft Teams, invalid response"
UNEXPECTED_ERROR = "error posting to Microsoft Teams, unexpected error"
THROTTLED = "ErrorCode:ApplicationThrottled"
PREFIX = "error configuring teams action"
UNPARSEABLE_URL = f"{PREFIX}: unable to parse host name from webhookUrl"
EXAMPLE_URL = (
    "https://prod-00.westus.logic.azure.com:443/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/"
    "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=example-signature"
)


class TeamsSecrets(Schema):
    webhookUrl: Url = Field(
        label="Webhook URL",
        help="Create a Microsoft Teams Webhook URL. Microsoft Teams deprecated some methods for configuring "
             "webhooks: use a Workflows webhook URL.",
        placeholder="https://…logic.azure.com/workflows/…",
    )


class TeamsParams(Schema):
    message: str = Field(label="Message", widget="textarea", min_length=1)


def detail(response: http.OutboundResponse) -> str:
    """Kibana's `[status] statusText`, with what Teams said after it."""
    said = http.service_text(response)
    return f"[{response.status_code}] {response.reason}" + (f": {said}" if said else "")


class Teams(ConnectorType):
    id = ".teams"
    name = "Microsoft Teams"
    description = "Send a message to a Microsoft Teams channel."
    secrets = TeamsSecrets
    params = TeamsParams
    example = {"config": {}, "secrets": {"webhookUrl": EXAMPLE_URL}}
    test_params = {"message": "Test message from Switchboard"}
    config_error_prefix = PREFIX
    url_parse_errors = {"secrets.webhookUrl": UNPARSEABLE_URL}  # Kibana's words; the URL is the secret
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem", "workflows", "agentBuilder")
    data_label = "Result data: the message that was sent (as Kibana's API answers); Teams' answer is below"

    def execute(self, ctx: Context[Any, TeamsSecrets, TeamsParams]) -> Result:
        sent = {"text": ctx.params.message}
        try:
            response = ctx.http.request("POST", ctx.secrets.webhookUrl, headers={"Content-Type": "application/json"},
                                        data=json.dumps(sent))
        except OutboundError as exc:
            return Result.error(UNEXPECTED_ERROR, f"[{exc.code}] {exc.message}")
        if response.ok:
            if THROTTLED not in response.text:
                return Result.ok(sent)
            said = http.service_text(response)
            when = http.retry_at(response.headers.get("Retry-After"))
            if when:
                return Result.error(f"error {DOING}, retry at {when}", said, retry=when)
            return Result.error(f"error {DOING}, retry later", said, retry=True)
        if response.status_code >= 500:
            return http.response_failed(response, DOING)
        # Kibana retries only the throttling Teams reports in a 200; an HTTP 429 is final like any 4xx.
        return Result.error(INVALID_RESPONSE, detail(response))
