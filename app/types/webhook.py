"""Webhook — `.webhook` (connector-types.md §22): one HTTP call with a configured method, URL and headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from pydantic import field_validator

from app.outbound import OutboundError, OutboundResponse, check_url
from app.types.base import ConnectorType, ExecutionContext, Field, Result, Schema

BASIC = "webhook-authentication-basic"
BEARER = "webhook-authentication-bearer"
MAX_HEADERS = 20


def parse_url(value: str) -> str:
    """Kibana's URL check, shared by the types that take a URL."""
    try:
        check_url(value, ("*",))
    except OutboundError as exc:
        raise ValueError(exc.message) from None
    return value


class WebhookConfig(Schema):
    url: str = Field(label="URL", widget="url", placeholder="https://example.com/hook", max_length=2048)
    method: Literal["post", "put", "patch", "get", "delete"] = Field("post", label="Method")
    headers: dict[str, str] | None = Field(None, label="Headers", help="Sent with every request.", widget="kv")
    hasAuth: bool = Field(True, label="Requires authentication")
    authType: Literal["webhook-authentication-basic", "webhook-authentication-bearer"] | None = Field(
        None,
        label="Authentication",
        help="Basic sends user and password; bearer sends the token as Authorization: Bearer.",
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return parse_url(value)

    @field_validator("headers")
    @classmethod
    def _few_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        return value


class WebhookSecrets(Schema):
    user: str | None = Field(None, label="User")
    password: str | None = Field(None, label="Password")
    token: str | None = Field(None, label="Bearer token")
    secretHeaders: dict[str, str] | None = Field(
        None, label="Secret headers", help="Headers whose values are stored encrypted.", widget="kv"
    )


class WebhookParams(Schema):
    body: str | None = Field(None, label="Body", widget="textarea", help="Sent as-is; GET and DELETE send no body.")


def auth_type(config: WebhookConfig) -> str | None:
    if not config.hasAuth:
        return None
    return config.authType or BASIC  # Kibana: hasAuth with no authType is basic


def service_text(response: OutboundResponse, limit: int = 300) -> str:
    """The service's own explanation: a JSON `message`/`error`, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return body[key]
    text = response.text.strip()
    return text[:limit] + ("…" if len(text) > limit else "")


def retry_at(retry_after: str | None) -> str | None:
    """Retry-After (seconds or an HTTP date) as an ISO date, or None when absent or unreadable."""
    if not retry_after:
        return None
    try:
        when = datetime.now(UTC) + timedelta(seconds=int(retry_after))
    except ValueError:
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Webhook(ConnectorType):
    id = ".webhook"
    name = "Webhook"
    description = "Send a request to any web service."
    config = WebhookConfig
    secrets = WebhookSecrets
    params = WebhookParams
    test_params = {"body": '{"text": "Test message from Switchboard"}'}
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem")

    def check_connector(self, config, secrets, allowed_hosts):
        errors = {}
        try:
            check_url(config.url, allowed_hosts)
        except OutboundError as exc:
            errors["config.url"] = f"error validation webhook action config: {exc.message}"
        kind = auth_type(config)
        if not config.hasAuth and config.authType:
            errors["config.authType"] = "authType must be null or undefined if hasAuth is false"
        if kind == BASIC:
            for key in ("user", "password"):
                if not getattr(secrets, key):
                    errors[f"secrets.{key}"] = "required for basic authentication"
        if kind == BEARER and not secrets.token:
            errors["secrets.token"] = "required for bearer authentication"
        return errors

    def execute(self, ctx: ExecutionContext) -> Result:
        config: WebhookConfig = ctx.config  # type: ignore[assignment]
        secrets: WebhookSecrets = ctx.secrets  # type: ignore[assignment]
        body = ctx.params.body
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
        try:
            response = ctx.http.request(config.method, config.url, headers=headers, data=send_body, trace=ctx.trace)
        except OutboundError as exc:
            retry = exc.code in ("connection_refused", "connection_failed", "connect_timeout", "read_timeout")
            return Result.error("error calling webhook, request failed", f"[{exc.code}] {exc.message}", retry=retry)
        if response.ok:
            return Result.ok(body)
        detail = f"[{response.status_code}] {response.reason}"
        explanation = service_text(response)
        if explanation:
            detail += f": {explanation}"
        if response.status_code == 429:
            when = retry_at(response.headers.get("Retry-After"))
            if when:
                return Result.error(f"error calling webhook, retry at {when}", detail, retry=when)
            return Result.error("error calling webhook, retry later", detail, retry=True)
        if response.status_code >= 500:
            return Result.error("error calling webhook, retry later", detail, retry=True)
        return Result.error("error calling webhook, invalid response", detail, retry=False)
