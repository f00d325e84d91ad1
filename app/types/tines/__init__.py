"""Tines — `.tines` (connector-types.md §26): send events to a story through one of its webhook actions.

The API calls (`stories`, `webhooks`, and the look-up of a picked webhook's path and secret) carry the
user's `x-user-email` / `x-user-token`; the webhook itself takes no credential but its secret path. Each
listing is one page of Kibana's size (500, Tines' maximum): Kibana never asks for a second page and says
`incompleteResponse` instead, so a story past the first page is reached through `webhookUrl`.

As in Kibana's newest connector, a picked webhook is only `{id, name, storyId}`: its path and secret are
read from the Tines API at run time, so they are never stored in params (older params that still carry
`path`/`secret` are accepted and those keys ignored, as Kibana's schema strips them).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from app.types.kit import (
    GENERIC_ERROR,
    ConnectorType,
    Context,
    EmptySchema,
    Failed,
    Field,
    Result,
    Schema,
    Url,
    describe_errors,
    http,
    sub_action,
)
from app.types.kit.http import call_api, invalid_response, json_object

API_PATH = "/api/v1"
WEBHOOK_PATH = "/webhook"
WEBHOOK_AGENT_TYPE = "Agents::WebhookAgent"
API_MAX_RESULTS = 500  # Kibana's page size and its cap: one page, Tines' largest
NO_WEBHOOK = "Invalid subActionsParams: [webhook] or [webhookUrl] expected but got none"
TEST_BODY = json.dumps({"alerts": [{"id": "switchboard-test", "rule": {"name": "Test from Switchboard"}}]}, indent=2)
_EXAMPLE_WEBHOOK = {"id": 941613, "name": "Elastic Security Webhook", "storyId": 97469}


class TinesConfig(Schema):
    url: Url = Field(label="Tines tenant URL", placeholder="https://example.tines.com",
                     help="The address of your Tines tenant, as your browser shows it.")


class TinesSecrets(Schema):
    email: str = Field(label="Email", help="The email address of the Tines user whose API token this is.")
    token: str = Field(label="API token")


class _Lenient(Schema):
    """A model of a Tines answer or an older param shape: keys it does not name are dropped, as zod strips them."""

    model_config = {**Schema.model_config, "extra": "ignore"}


class TinesWebhook(_Lenient):
    id: int = Field(label="Webhook action id")
    name: str = Field(label="Webhook action name")
    storyId: int = Field(label="Story id")


class WebhooksParams(Schema):
    storyId: int = Field(label="Story id", help="The story whose webhook actions to list.")


class RunParams(Schema):
    webhook: TinesWebhook | None = Field(
        None, label="Tines Webhook action", widget="tines_webhook",
        help="The data entry action in the story: pick a story, then one of its webhook actions.",
    )
    webhookUrl: str | None = Field(
        None, label="Webhook URL", placeholder="Paste the Webhook URL here",
        help="The Story and Webhook selectors will be ignored if the Webhook URL is defined.",
    )
    body: str = Field(label="Body", widget="jsontext", help="Request body payload.")


# ---- Tines' answers, read as Kibana's response schemas read them


class _Meta(_Lenient):
    pages: int


class _Story(_Lenient):
    id: int
    name: str
    published: bool


class _StoriesAnswer(_Lenient):
    meta: _Meta
    stories: list[_Story]


class _AgentOptions(_Lenient):
    path: str | None = None
    secret: str | None = None


class _Agent(_Lenient):
    id: int
    name: str
    type: str
    story_id: int
    options: _AgentOptions


class _AgentsAnswer(_Lenient):
    meta: _Meta
    agents: list[_Agent]


def _read(model: type[_Lenient], response: http.OutboundResponse) -> Any:
    try:
        return model.model_validate(json_object(response))
    except ValidationError as exc:
        raise Failed(invalid_response(describe_errors(exc))) from None


Ctx = Context[TinesConfig, TinesSecrets, Any]


class Tines(ConnectorType):
    id = ".tines"
    name = "Tines"
    description = "Send events to a Story."
    config = TinesConfig
    secrets = TinesSecrets
    example = {
        "config": {"url": "https://example.tines.com"},
        "secrets": {"email": "soc-automation@example.com", "token": "example-tines-api-token"},
    }
    test_params = {"subAction": "test", "subActionParams": {"body": TEST_BODY}}
    config_error_prefix = "error validating url"  # the sub-action framework's urlAllowListValidator
    minimum_license_required = "gold"
    supported_feature_ids = ("siem",)

    # ---- the API

    def _api(self, ctx: Ctx, path: str) -> str:
        return ctx.config.url.rstrip("/") + API_PATH + path

    def _auth(self, ctx: Ctx) -> dict[str, str]:
        return {"x-user-email": ctx.secrets.email, "x-user-token": ctx.secrets.token}

    def _get(self, ctx: Ctx, url: str) -> http.OutboundResponse:
        return call_api(ctx.http, "GET", url, headers={"Content-Type": "application/json", **self._auth(ctx)},
                        error_text=http.status_text_error, unanswered=http.undefined_status)

    @sub_action("stories", EmptySchema, "List the tenant's stories (one page of 500).", example={})
    def stories(self, ctx: Context[TinesConfig, TinesSecrets, EmptySchema]) -> Result:
        answer = _read(_StoriesAnswer, self._get(ctx, self._api(ctx, f"/stories?per_page={API_MAX_RESULTS}")))
        stories = [{"id": s.id, "name": s.name, "published": s.published} for s in answer.stories]
        return Result.ok({"stories": stories, "incompleteResponse": answer.meta.pages > 1})

    @sub_action("webhooks", WebhooksParams, "List a story's webhook actions (one page of 500).",
                example={"storyId": _EXAMPLE_WEBHOOK["storyId"]})
    def webhooks(self, ctx: Context[TinesConfig, TinesSecrets, WebhooksParams]) -> Result:
        query = f"story_id={ctx.params.storyId}&action_type={WEBHOOK_AGENT_TYPE}&per_page={API_MAX_RESULTS}"
        answer = _read(_AgentsAnswer, self._get(ctx, self._api(ctx, f"/agents?{query}")))
        webhooks = [{"id": a.id, "name": a.name, "storyId": a.story_id}
                    for a in answer.agents if a.type == WEBHOOK_AGENT_TYPE]
        return Result.ok({"webhooks": webhooks, "incompleteResponse": answer.meta.pages > 1})

    # ---- the webhook

    @sub_action("run", RunParams, "Send the body to a story's webhook action.",
                example={"webhook": _EXAMPLE_WEBHOOK, "body": TEST_BODY})
    @sub_action("test", RunParams, "The same as run; what the test pane sends.", example={"body": TEST_BODY})
    def run_webhook(self, ctx: Context[TinesConfig, TinesSecrets, RunParams]) -> Result:
        params = ctx.params
        if params.webhook is None and not params.webhookUrl:
            raise Failed(Result.error(GENERIC_ERROR, NO_WEBHOOK))
        url = params.webhookUrl or self._webhook_url(ctx, params.webhook)
        response = call_api(ctx.http, "POST", url, data=params.body, headers={"Content-Type": "application/json"},
                            error_text=http.status_text_error, unanswered=http.undefined_status)
        return Result.ok(json_object(response))

    def _webhook_url(self, ctx: Ctx, webhook: TinesWebhook) -> str:
        """The picked webhook's URL, from its path and secret as the Tines API has them now."""
        agent = _read(_Agent, self._get(ctx, self._api(ctx, f"/actions/{webhook.id}")))
        matches = agent.type == WEBHOOK_AGENT_TYPE and agent.id == webhook.id and agent.story_id == webhook.storyId
        if not matches or not (agent.options.path and agent.options.secret):
            raise Failed(Result.error(
                GENERIC_ERROR, f"Invalid configuration for webhook id: {webhook.id}. Verify webhook exists in Tines."))
        ctx.mask(agent.options.secret)  # anyone holding it can post into the story: never shown
        return f"{ctx.config.url.rstrip('/')}{WEBHOOK_PATH}/{agent.options.path}/{agent.options.secret}"
