"""xMatters — `.xmatters` (connector-types.md §24): trigger an xMatters flow through its HTTP trigger.

Two ways to authenticate, chosen by `usesBasic`: basic auth (user and password) on the trigger URL kept in
config, or the trigger URL that carries the API key itself, which is then a secret (`secretsUrl`). The body
is the rule's signal; xMatters takes a request without `signalId` and `alertActionGroupName` as a test.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from app.types.kit import ConnectorType, Context, Field, Result, Schema, Url, http

DOING = "triggering xMatters workflow"
_URL = TypeAdapter(Url)


def _secrets_url(value: Any) -> Any:
    """Kibana's words for an unparseable secretsUrl, without echoing it: the URL holds the API key."""
    if isinstance(value, str):
        try:
            _URL.validate_python(value)
        except ValidationError:
            raise ValueError("Invalid secretsUrl: TypeError: Invalid URL") from None
    return value


class XmattersConfig(Schema):
    usesBasic: bool = Field(True, label="Basic authentication",
                            help="On: a user and password on the trigger URL. Off: the trigger URL that carries the API key.")
    configUrl: Url | None = Field(None, label="Trigger URL", help="Include the full xMatters url.",
                                  placeholder="https://company.xmatters.com/api/integration/1/functions/…/triggers",
                                  show_when={"usesBasic": ["true"]})


# Always shown, unlike the trigger URL: a stored secret of the other way must stay visible to be removed,
# since Kibana refuses a connector that keeps both.
class XmattersSecrets(Schema):
    user: str | None = Field(None, label="Username", help="For basic authentication only.")
    password: str | None = Field(None, label="Password", help="For basic authentication only.")
    secretsUrl: Annotated[Url, BeforeValidator(_secrets_url)] | None = Field(
        None, label="Trigger URL with API key", help="For URL authentication only: the full xMatters url, with its apiKey.",
    )


class XmattersParams(Schema):
    severity: str = Field(label="Severity", help="critical, high, medium, low or minimal (High when left empty).")
    alertActionGroupName: str = Field(None, label="Alert action group name")
    signalId: str = Field(None, label="Signal id")
    ruleName: str = Field(None, label="Rule name")
    date: str = Field(None, label="Date")
    spaceId: str = Field(None, label="Space id")
    tags: str = Field(None, label="Tags")


def signal(params: XmattersParams) -> dict[str, Any]:
    """Kibana's getPayloadForRequest: every signal field, absent ones as JSON leaves them out."""
    body = params.model_dump(exclude_none=True)
    body["severity"] = params.severity or "High"
    return body


def connector_problem(config: XmattersConfig, secrets: XmattersSecrets) -> tuple[str, str] | None:
    """The first of Kibana's secrets and connector rules that fails, as (field, message).

    Kibana stops at the first; each rule names one field, so the form shows the message where it applies.
    """
    user, password, url = secrets.user, secrets.password, secrets.secretsUrl
    if not (url or user or password):
        return ("secrets.user" if config.usesBasic else "secrets.secretsUrl",
                "Provide either secretsUrl link or user/password to authenticate")
    if url and (user or password):
        return ("secrets.user" if user else "secrets.password",
                "Cannot use user/password for URL authentication. Provide valid secretsUrl or use Basic Authentication.")
    if not url and not (user and password):
        return "secrets.password" if user else "secrets.user", "Both user and password must be specified."
    if config.usesBasic:
        if url:
            return "secrets.secretsUrl", "secretsUrl should not be provided when usesBasic is true"
        if config.configUrl is None:
            return "config.configUrl", "Provide valid configUrl"
        return None
    if user or password:
        return "secrets.user", "Username and password should not be provided when usesBasic is false"
    if config.configUrl:
        return "config.configUrl", "configUrl should not be provided when usesBasic is false"
    return None


def status_failed(response: http.OutboundResponse) -> Result:
    """Kibana's texts for a non-2xx answer, with the service's own words beside them."""
    detail = http.response_failed(response, DOING).service_message
    status = response.status_code
    if http.retryable_status(status):
        return Result.error(f"Error triggering xMatters flow: http status {status}, retry later", detail, retry=True)
    return Result.error(f"Error triggering xMatters flow: unexpected status {status}", detail, retry=False)


class Xmatters(ConnectorType):
    id = ".xmatters"
    name = "xMatters"
    description = "Trigger an xMatters workflow."
    config = XmattersConfig
    secrets = XmattersSecrets
    params = XmattersParams
    example = {
        "config": {"usesBasic": True,
                   "configUrl": "https://company.xmatters.com/api/integration/1/functions/9a3f6c1e-2b7d-4e0a-8c55-1f2e3d4c5b6a/triggers"},
        "secrets": {"user": "elastic-integration", "password": "example-password"},
    }
    config_error_prefix = "Error configuring xMatters action"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "siem")

    # Kibana's test tab fills these in, and the date of the moment, which is left out here: the declaration
    # is read by the OpenAPI document too, which must not change from one request to the next.
    test_params = {"severity": "high", "alertActionGroupName": "test-rule:test-alert", "signalId": "test-alert",
                   "ruleName": "Test Rule", "spaceId": "test-space"}

    def check(self, config: XmattersConfig, secrets: XmattersSecrets) -> dict[str, str]:
        problem = connector_problem(config, secrets)
        return dict([problem]) if problem else {}

    def execute(self, ctx: Context[XmattersConfig, XmattersSecrets, XmattersParams]) -> Result:
        config, secrets = ctx.config, ctx.secrets
        url = config.configUrl if config.usesBasic else secrets.secretsUrl
        # check() has made sure that basic auth has both halves and URL auth neither.
        auth = (secrets.user or "", secrets.password or "") if config.usesBasic else None
        body = signal(ctx.params)
        try:
            response = ctx.http.request("POST", url, headers={"Content-Type": "application/json"},
                                        data=json.dumps(body), auth=auth)
        except http.OutboundError as exc:
            return Result.error("Error triggering xMatters workflow", http.request_failed(exc, DOING).service_message,
                                retry=http.is_retryable(exc))
        if not response.ok:
            return status_failed(response)
        return Result.ok(body)

