"""Slack (incoming webhook) — `.slack` (connector-types.md §19): post a message to a Slack channel.

The webhook URL is the whole credential, so it is a secret. Slack answers `ok` in plain text, and
its errors are plain-text strings too (`invalid_payload`, `no_service`, `channel_not_found`…).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from app.types.kit import ConnectorType, Context, Field, OutboundError, Result, Schema, Url, http

DOING = "posting a slack message"  # the kit words 429 and 5xx as Kibana does: "error posting a slack message, …"
POSTING_FAILED = "error posting slack message"
PREFIX = "error configuring slack action"
UNPARSEABLE_URL = f"{PREFIX}: unable to parse host name from webhookUrl"


class SlackSecrets(Schema):
    webhookUrl: Url = Field(
        label="Webhook URL",
        help="Create a Slack Webhook URL: Slack app settings, Incoming Webhooks, Add New Webhook to Workspace.",
        placeholder="https://hooks.slack.com/services/…",
    )


class SlackParams(Schema):
    message: str = Field(label="Message", widget="textarea", min_length=1)


class Slack(ConnectorType):
    id = ".slack"
    name = "Slack"
    description = "Send messages to Slack channels."
    secrets = SlackSecrets
    params = SlackParams
    example = {
        "config": {},
        "secrets": {"webhookUrl": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"},
    }
    test_params = {"message": "Test message from Switchboard"}
    config_error_prefix = PREFIX
    url_parse_errors = {"secrets.webhookUrl": UNPARSEABLE_URL}  # Kibana's words; the URL is the secret
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem")

    def execute(self, ctx: Context[Any, SlackSecrets, SlackParams]) -> Result:
        # /services/T…/B…/<token>: the team, channel and token segments are the webhook's secret.
        ctx.mask(*urlsplit(ctx.secrets.webhookUrl).path.split("/")[2:])
        try:
            response = ctx.http.request("POST", ctx.secrets.webhookUrl, headers={"Content-Type": "application/json"},
                                        data=json.dumps({"text": ctx.params.message}))
        except OutboundError as exc:
            return Result.error(POSTING_FAILED, f"[{exc.code}] {exc.message}")
        if response.status_code == 429 or response.status_code >= 500:
            return http.response_failed(response, DOING)
        if not response.ok:
            return Result.error(f"unexpected http response from slack: {response.status_code} {response.reason}",
                                http.service_text(response) or None)
        if response.text != "ok":  # Slack says anything but "ok" only when the message was not posted
            return Result.error(POSTING_FAILED, http.service_text(response) or None)
        return Result.ok({"text": response.text})
