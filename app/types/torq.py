"""Torq — `.torq` (connector-types.md §27): trigger Torq workflows through a webhook integration."""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import urlsplit

from app.types.kit import ConnectorType, Context, Failed, Field, Result, Schema, Url, http

DOING = "triggering Torq workflow"
# Kibana's isValidTorqHostName: the US and EU hooks hosts, nothing under or around them.
TORQ_HOOKS_HOST = re.compile(r"^hooks\.(eu\.)?torq\.io$")
NOT_A_TORQ_URL = (
    "error configuring send to Torq action: url must begin with https://hooks.torq.io or https://hooks.eu.torq.io"
)
# Where Kibana's words differ from the kit's classic "invalid response" for a final 4xx.
STATUS_MESSAGES = {
    401: f"error {DOING}, unauthorised",
    404: f"error {DOING}, make sure the webhook URL is valid",
    405: f"error {DOING}, method is not supported",
}
TEST_BODY = json.dumps(
    {"alert": {"id": "switchboard-test"}, "context": {}, "rule": {"name": "Test from Switchboard"}, "state": {}},
    indent=2,
)


class TorqConfig(Schema):
    webhookIntegrationUrl: Url = Field(
        label="Torq endpoint URL",
        help="Enter the endpoint URL generated when you created the Elastic Security integration on Torq.",
        placeholder="https://hooks.torq.io/v1/webhooks/…",
    )


class TorqSecrets(Schema):
    token: str = Field(
        label="Torq integration token",
        help="Enter the webhook authentication header secret generated when you created the Elastic Security "
             "integration.",
    )


class TorqParams(Schema):
    # Checked as JSON in the test pane as Kibana's form does; the API's runs are checked by execute().
    body: str = Field(label="Body", widget="jsontext", help="JSON payload to send to Torq.")


def is_torq_host(host: str) -> bool:
    """A Torq hooks host, or this machine: Kibana allows `localhost`; its loopback addresses are the same host."""
    if TORQ_HOOKS_HOST.match(host) or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Torq(ConnectorType):
    id = ".torq"
    name = "Torq"
    description = "Trigger a Torq workflow."
    config = TorqConfig
    secrets = TorqSecrets
    params = TorqParams
    example = {
        "config": {"webhookIntegrationUrl": "https://hooks.torq.io/v1/webhooks/af6aab8d-0b1e-4c6f-9d1a-74259a93b18f"},
        "secrets": {"token": "example-torq-token"},
    }
    test_params = {"body": TEST_BODY}
    config_error_prefix = "error configuring send to Torq action"
    data_label = "Result data: the body that was sent (as Kibana's API answers); Torq's answer is below"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem", "workflows")

    def check(self, config: TorqConfig, secrets: TorqSecrets) -> dict[str, str]:
        if is_torq_host(urlsplit(config.webhookIntegrationUrl).hostname or ""):
            return {}
        return {"config.webhookIntegrationUrl": NOT_A_TORQ_URL}

    def execute(self, ctx: Context[TorqConfig, TorqSecrets, TorqParams]) -> Result:
        try:
            # Kibana sends JSON null for an empty body.
            payload = http.strict_json(ctx.params.body or "null")
        except ValueError as exc:
            return Result.error(f"error {DOING}, invalid body", str(exc))
        headers = {"X-Torq-Token": ctx.secrets.token, "Content-Type": "application/json"}
        try:
            http.send(ctx.http, "POST", ctx.config.webhookIntegrationUrl, doing=DOING, messages=STATUS_MESSAGES,
                      headers=headers, data=json.dumps(payload))
        except Failed as failed:
            return failed.result
        return Result.ok(ctx.params.body)
