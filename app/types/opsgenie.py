"""Opsgenie — `.opsgenie` (connector-types.md §18): create and close alerts through Opsgenie's Alert API.

`createAlert` posts to `<apiUrl>/v2/alerts`, `closeAlert` to `<apiUrl>/v2/alerts/<alias>/close?identifierType=alias`,
both with `Authorization: GenieKey <apiKey>`. Opsgenie answers 202 with a `requestId` and does the work later.
As Kibana does, a message is cut to Opsgenie's 130 characters and an alias over its 512 becomes
`sha-<sha256 hex>` before sending, on close as on create, so a long alias still closes what it opened.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote, urljoin

from pydantic import BeforeValidator, StringConstraints, field_validator

from app.types.kit import GENERIC_ERROR, ConnectorType, Context, Failed, Field, Result, Schema, Url, http, sub_action
from app.types.kit.http import call_api, invalid_response, json_object

MESSAGE_MAX_LENGTH = 130  # what Opsgenie keeps; longer messages are cut, not refused (they may come from templates)
ALIAS_MAX_LENGTH = 512
NOT_ONLY_WHITESPACE = "must be populated with a value other than just whitespace"
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
RESPONDER_SHAPE = 'Each responder must have a "type" (team|user|escalation|schedule) and one of "name", "id", or "username"'
VISIBLE_SHAPE = 'Each visible target must have a "type" (team|user) and one of "name", "id", or "username"'
# What an alias may keep as-is in the close URL's path (RFC 3986 pchar and "/", which Kibana leaves as a separator).
_PATH_SAFE = "/:@!$&'()*+,;="


def _shaped(shapes: tuple[tuple[str, tuple[str, ...]], ...], message: str):
    """A check that a value is exactly {<key>: str, "type": <one of the key's types>} for one of `shapes`."""

    def check(value: Any) -> Any:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            for key, types in shapes:
                if value.keys() == {key, "type"} and value["type"] in types:
                    return value
        raise ValueError(message)

    return check


Responder = Annotated[dict[str, str], BeforeValidator(_shaped(
    (("name", RESPONDER_TYPES), ("id", RESPONDER_TYPES), ("username", ("user",))), RESPONDER_SHAPE))]
VisibleTarget = Annotated[dict[str, str], BeforeValidator(_shaped(
    (("name", ("team",)), ("id", ("team", "user")), ("username", ("user",))), VISIBLE_SHAPE))]
ShortText = Annotated[str, StringConstraints(max_length=50)]


class OpsgenieConfig(Schema):
    # Required, as in Kibana's schema; only its form starts with Opsgenie's US endpoint.
    apiUrl: Url = Field(
        label="URL",
        help="https://api.opsgenie.com, or https://api.eu.opsgenie.com for an account in Opsgenie's EU region.",
        form_default="https://api.opsgenie.com",
    )


class OpsgenieSecrets(Schema):
    apiKey: str = Field(label="API Key", help="The key of an Opsgenie API integration.")


# Optional fields default to None but are typed without it: as in Kibana, a field may be left out, not sent as null.
class CreateAlertParams(Schema):
    message: str = Field(label="Message", min_length=1, max_length=15000,
                         help="Opsgenie truncates this message to 130 characters when the action runs.")
    alias: str = Field(None, label="Alias", help="The unique alert identifier used for deduplication in Opsgenie.")
    description: str = Field(None, label="Description", max_length=15000, widget="textarea")
    responders: list[Responder] = Field(
        None, label="Responders", max_length=50,
        help='Who is notified, as JSON: [{"type": "team", "name": "ops"}, {"type": "user", "username": "a@b.c"}].',
    )
    visibleTo: list[VisibleTarget] = Field(
        None, label="Visible to", max_length=50, help='Who sees the alert without being notified, e.g. [{"type": "team", "id": "…"}].',
    )
    actions: list[ShortText] = Field(None, label="Actions", max_length=10, help="Custom actions offered on the alert, as a JSON list.")
    tags: list[ShortText] = Field(None, label="Opsgenie tags", max_length=20, help='A JSON list, e.g. ["prod", "db"].')
    details: dict[str, str] = Field(None, label="Details", help="Custom properties of the alert.")
    entity: str = Field(None, label="Entity", max_length=512, help="The domain of the alert. For example, the application name.")
    source: str = Field(None, label="Source", max_length=100, help="The display name for the source of the alert.")
    priority: Literal["P1", "P2", "P3", "P4", "P5"] = Field(None, label="Priority", help="P1-Critical … P5-Information.")
    user: str = Field(None, label="User", max_length=100, help="The display name for the owner.")
    note: str = Field(None, label="Note", max_length=25000, widget="textarea")

    @field_validator("message")
    @classmethod
    def _not_only_whitespace(cls, message: str) -> str:
        if not message.strip():
            raise ValueError(NOT_ONLY_WHITESPACE)
        return message


class CloseAlertParams(Schema):
    alias: str = Field(label="Alias", help="The alias the alert was created with.")
    user: str = Field(None, label="User", max_length=100, help="The display name for the owner.")
    source: str = Field(None, label="Source", max_length=100, help="The display name for the source of the alert.")
    note: str = Field(None, label="Note", max_length=25000, widget="textarea")


def opsgenie_alias(alias: str) -> str:
    """Kibana's alias: as given up to Opsgenie's 512 characters, else `sha-<sha256 hex>` of it."""
    if len(alias) <= ALIAS_MAX_LENGTH:
        return alias
    return "sha-" + hashlib.sha256(alias.encode()).hexdigest()


def close_url(api_url: str, alias: str) -> str:
    """The close call, resolved against apiUrl as Kibana's `new URL(path, apiUrl)` does.

    The alias is percent-encoded as a path segment (a space is %20, a colon stays); Kibana leaves `?` and `#`
    to the URL parser, which would cut the path there, so they are encoded too.
    """
    return urljoin(api_url, f"v2/alerts/{quote(opsgenie_alias(alias), safe=_PATH_SAFE)}/close") + "?identifierType=alias"


def _js_type(value: Any) -> str:
    """The type name Kibana's schema errors use for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", list: "Array", dict: "Object"}.get(type(value), "string")


def _js_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def error_text(response: http.OutboundResponse) -> str:
    """Kibana's getResponseErrorMessage: Opsgenie's `message`, then its `errors` as compact JSON.

    Without a `message` (an HTML page from a proxy, say), axios's own words stand in.
    """
    data = http.json_or_none(response)
    data = data if isinstance(data, dict) else {}
    main = data.get("message")
    main = _js_text(main) if main is not None else f"Request failed with status code {response.status_code}"
    if data.get("errors") is not None:
        return f"{main}: {json.dumps(data['errors'], ensure_ascii=False, separators=(',', ':'))}"
    return main


def unanswered(exc: http.OutboundError) -> Result:
    """No status came back: Kibana's text names none, and its message is the client's own."""
    return Result.error(GENERIC_ERROR, f"Status code: undefined. Message: {exc.message}", retry=http.is_retryable(exc))


def accepted(response: http.OutboundResponse) -> dict[str, Any]:
    """Opsgenie's answer, which Kibana requires to carry `took` and `requestId`."""
    data = json_object(response)
    if not isinstance(data.get("requestId"), str):
        got = _js_type(data["requestId"]) if "requestId" in data else "undefined"
        raise Failed(invalid_response(f"[requestId]: expected value of type [string] but got [{got}]"))
    if "took" not in data:
        raise Failed(invalid_response("[took]: expected value of type [number] but got [undefined]"))
    return data


_EXAMPLE_CREATE = {
    "message": "Test alert from Switchboard",
    "alias": "switchboard-test",
    "description": "Sent from the Switchboard test pane.",
    "priority": "P3",
    "tags": ["switchboard", "test"],
}


class Opsgenie(ConnectorType):
    id = ".opsgenie"
    name = "Opsgenie"
    description = "Create or close an alert in Opsgenie."
    config = OpsgenieConfig
    secrets = OpsgenieSecrets
    example = {"config": {"apiUrl": "https://api.opsgenie.com"}, "secrets": {"apiKey": "example-genie-key"}}
    test_params = {"subAction": "createAlert", "subActionParams": _EXAMPLE_CREATE}
    config_error_prefix = "error validating url"
    minimum_license_required = "platinum"
    supported_feature_ids = ("alerting", "uptime", "siem", "workflows", "agentBuilder")

    @sub_action("createAlert", CreateAlertParams, "Create an alert in Opsgenie.", example=_EXAMPLE_CREATE)
    def create_alert(self, ctx: Context[OpsgenieConfig, OpsgenieSecrets, CreateAlertParams]) -> Result:
        body = ctx.params.model_dump(exclude_none=True)
        body["message"] = body["message"][:MESSAGE_MAX_LENGTH]
        if body.get("alias"):
            body["alias"] = opsgenie_alias(body["alias"])
        response = call_api(ctx.http, "POST", urljoin(ctx.config.apiUrl, "v2/alerts"), body=body,
                            headers=_auth(ctx.secrets), error_text=error_text, unanswered=unanswered)
        return Result.ok(accepted(response))

    @sub_action("closeAlert", CloseAlertParams, "Close the alert with this alias.", example={"alias": "switchboard-test"})
    def close_alert(self, ctx: Context[OpsgenieConfig, OpsgenieSecrets, CloseAlertParams]) -> Result:
        body = ctx.params.model_dump(exclude_none=True, exclude={"alias"})
        response = call_api(ctx.http, "POST", close_url(ctx.config.apiUrl, ctx.params.alias), body=body,
                            headers=_auth(ctx.secrets), error_text=error_text, unanswered=unanswered)
        return Result.ok(accepted(response))


def _auth(secrets: OpsgenieSecrets) -> dict[str, str]:
    return {"Authorization": f"GenieKey {secrets.apiKey}"}
