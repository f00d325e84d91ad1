"""Webhook — `.webhook` (connector-types.md §22): one HTTP call with a configured method, URL and headers,
authenticated by basic, bearer, a client certificate or OAuth2 client credentials (the last two from
app/types/kit/auth.py, shared with `.cases-webhook`)."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import field_validator

from app.outbound import OutboundError
from app.types.kit import ConnectorType, Context, Failed, Field, Result, Schema, Url, auth, http
from app.types.kit.auth import BASIC, OAUTH2, SSL, ClientAuthConfig, ClientAuthSecrets

BEARER = "webhook-authentication-bearer"
MAX_HEADERS = 20
CONFIG_ERROR = "error validation webhook action config"
DOING = "calling webhook"
# Basic is what Kibana assumes when authentication is on and no type is chosen.
_BASIC_SHOWN = {"config.hasAuth": ["true"], "config.authType": ["", BASIC]}
# The password is basic authentication's, and the passphrase of a client certificate's key or PFX.
_PASSWORD_SHOWN = {"config.hasAuth": ["true"], "config.authType": ["", BASIC, SSL]}


class _WebhookTarget(Schema):
    url: Url = Field(label="URL", placeholder="https://example.com/hook", max_length=2048)
    method: Literal["post", "put", "patch", "get", "delete"] = Field("post", label="Method")
    headers: dict[str, str] | None = Field(None, label="Headers", help="Sent with every request.", widget="kv")
    # Kibana's API default is on; a new form starts off, so a URL alone is a valid connector.
    hasAuth: bool = Field(True, label="Requires authentication", form_default=False)
    authType: Literal[
        "webhook-authentication-basic", "webhook-authentication-bearer", "webhook-authentication-ssl",
        "webhook-oauth2-client-credentials",
    ] | None = Field(
        None,
        label="Authentication",
        show_when={"hasAuth": ["true"]},
        choice_labels={BASIC: "Basic (user and password)", BEARER: "Bearer token", SSL: "Client certificate (SSL)",
                       OAUTH2: "OAuth2 client credentials"},
        help="Basic sends user and password; bearer sends the token as Authorization: Bearer; a client certificate "
             "is presented in the TLS handshake; OAuth2 fetches an access token first.",
    )

    @field_validator("headers")
    @classmethod
    def _few_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        return value


class WebhookConfig(ClientAuthConfig, _WebhookTarget):
    """The target's fields first, then those of certificate and OAuth2 authentication."""


class _BasicSecrets(Schema):
    user: str | None = Field(None, label="User", show_when=_BASIC_SHOWN)
    password: str | None = Field(None, label="Password", show_when=_PASSWORD_SHOWN,
                                 help="For a client certificate: the key's or the PFX's password, if it has one.")
    token: str | None = Field(None, label="Bearer token", show_when={"config.hasAuth": ["true"], "config.authType": [BEARER]})


class _SecretHeaders(Schema):
    secretHeaders: dict[str, str] | None = Field(
        None, label="Secret headers", help="Headers whose values are stored encrypted.", widget="kv"
    )


class WebhookSecrets(_SecretHeaders, ClientAuthSecrets, _BasicSecrets):
    pass


class WebhookParams(Schema):
    body: str | None = Field(None, label="Body", widget="textarea", help="Sent as-is; GET and DELETE send no body.")


auth_type = auth.auth_type


class Webhook(ConnectorType):
    id = ".webhook"
    name = "Webhook"
    description = "Send a request to any web service."
    config = WebhookConfig
    secrets = WebhookSecrets
    params = WebhookParams
    example = {
        "config": {"url": "https://hooks.example.com/deploys", "method": "post", "hasAuth": True, "authType": BEARER},
        "secrets": {"token": "example-token"},
    }
    test_params = {"body": '{"text": "Test message from Switchboard"}'}
    config_error_prefix = "error validation webhook action config"
    data_label = "Result data: the request body that was sent (as Kibana's API answers); the response is below"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem")

    def check(self, config: WebhookConfig, secrets: WebhookSecrets) -> dict[str, str]:
        errors = {}
        kind = auth_type(config)
        if not config.hasAuth and config.authType:
            errors["config.authType"] = "authType must be null or undefined if hasAuth is false"
        if kind == BASIC:
            for key in ("user", "password"):
                if not getattr(secrets, key):
                    errors[f"secrets.{key}"] = "required for basic authentication"
        if kind == BEARER and not secrets.token:
            errors["secrets.token"] = "required for bearer authentication"
        for key, message in auth.check_client_auth(config, secrets, prefix=CONFIG_ERROR).items():
            errors.setdefault(key, message)
        combination = auth.secrets_combination_error(secrets)
        if combination and not errors:
            given = [k for k in ("user", "password", "crt", "key", "pfx", "clientSecret") if getattr(secrets, k)]
            errors[f"secrets.{given[0]}"] = combination
        return errors

    def execute(self, ctx: Context[WebhookConfig, WebhookSecrets, WebhookParams]) -> Result:
        config, secrets, body = ctx.config, ctx.secrets, ctx.params.body
        headers = {**(config.headers or {}), **(secrets.secretHeaders or {})}
        kind = auth_type(config)
        if kind == BASIC and secrets.user is not None:
            raw = f"{secrets.user}:{secrets.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif kind == BEARER and secrets.token:
            headers["Authorization"] = f"Bearer {secrets.token}"
        send_body = body if config.method not in ("get", "delete") else None
        if send_body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"

        def attempt(conn: auth.Connection):
            try:
                return ctx.http.request(config.method, config.url, headers={**headers, **conn.headers}, data=send_body,
                                        tls=conn.tls)
            except OutboundError as exc:
                raise Failed(http.request_failed(exc, DOING)) from None

        try:
            response = auth.send_authorized(ctx, auth.connection(ctx, doing=DOING), attempt, doing=DOING)
        except Failed as failed:
            return failed.result
        if not response.ok:
            return http.response_failed(response, DOING)
        return Result.ok(body)
