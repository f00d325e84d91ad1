"""Slack API — `.slack_api` (connector-types.md §20): post to Slack channels through the Web API.

Kibana's classic executor with `subAction`/`subActionParams`: `postMessage` and `postBlockkit` call
`chat.postMessage`, `validChannelId` calls `conversations.info` (the form's channel checker uses it to
name a typed channel ID). The Web API answers most failures with HTTP 200 and `ok: false`; those are
errors with Slack's `error` code as the service message, never a success. When `allowedChannels` is set,
a channel outside it is refused before Slack is called.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from app.types.kit import ConnectorType, Context, OutboundError, OutboundResponse, ParamsError, Result, http, sub_action
from app.types.slack_api.schemas import (
    SLACK_URL,
    AllowedChannel,
    GetConversationsHistoryParams,
    GetConversationsListParams,
    GetConversationsRepliesParams,
    GetUsersListParams,
    PostBlockkitParams,
    PostMessageParams,
    SlackApiConfig,
    SlackApiSecrets,
    ValidChannelIdParams,
)

__all__ = [
    "ERROR_POSTING",
    "NOT_ALLOWED",
    "NO_CHANNEL",
    "RETRY_LATER",
    "SLACK_URL",
    "SlackApi",
    "SlackApiConfig",
    "SlackApiSecrets",
]

# Kibana's words (x-pack stack_connectors common/slack_api/lib.ts and server/.../slack_api/service.ts).
ERROR_POSTING = "error posting slack message"
RETRY_LATER = "error posting a slack message, retry later"
RETRY_AT = "error posting a slack message, retry at {when}"
UNEXPECTED_STATUS = "unexpected http response from slack: {status} {reason}"
NULL_RESPONSE = "unexpected null response from slack"
EMPTY_CHANNEL_ID = "The channel id is empty"
NO_CHANNEL = "One of channels, channelIds, or channelNames is required and cannot be empty"
NOT_ALLOWED = "One or more provided channel names are not included in the allowed channels list"
PARAMS_ERROR = "error validating action params"
REQUEST_VALIDATION = "Request validation failed ("

_EXAMPLE_MESSAGE = {"channelNames": ["#general"], "text": "Hello from Switchboard"}
_EXAMPLE_BLOCKKIT = {
    "channelNames": ["#general"],
    "text": json.dumps({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello from *Switchboard*"}}]}),
}
_EXAMPLE_CHANNEL = {"channelId": "C0123456789"}

Ctx = Context[SlackApiConfig, SlackApiSecrets, Any]


def _bare(channel: str) -> str:
    return channel.removeprefix("#")


def _refused_by(channels: list[str], allowed: list[str]) -> bool:
    """Kibana's validateChannels: an empty or missing allowed list allows all; '#' does not count."""
    if not channels or not allowed:
        return False
    permitted = {_bare(a) for a in allowed}
    return any(_bare(c) not in permitted for c in channels)


def channel_to_use(params: PostMessageParams | PostBlockkitParams, allowed: list[AllowedChannel] | None) -> str:
    """Kibana's getChannelToUse: channelNames, then channelIds, then the deprecated channels (never checked).

    Raises ValueError with Kibana's text when there is none or it is not allowed.
    """
    names, ids, legacy = params.channelNames or [], params.channelIds or [], params.channels or []
    if not (names or ids or legacy):
        raise ValueError(NO_CHANNEL)
    if names:
        if _refused_by(names, [a.name for a in allowed or []]):
            raise ValueError(NOT_ALLOWED)
        return names[0]
    if ids:
        if _refused_by(ids, [a.id for a in allowed or [] if a.id is not None]):
            raise ValueError(NOT_ALLOWED)
        return ids[0]
    return legacy[0]


def _query(**values: Any) -> str:
    """Kibana's URLSearchParams: absent and empty values are left out, in the order given."""
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _detail(response: OutboundResponse) -> str:
    explanation = http.service_text(response)
    return f"[{response.status_code}] {response.reason}" + (f": {explanation}" if explanation else "")


def read_answer(response: OutboundResponse) -> Result:
    """Kibana's buildSlackExecutor{Error,Success}Response for an answer that came back."""
    status = response.status_code
    if status >= 500:
        return Result.error(RETRY_LATER, _detail(response), retry=True)
    if status == 429:
        when = http.retry_at(response.headers.get("Retry-After"))
        if when:
            return Result.error(RETRY_AT.format(when=when), _detail(response), retry=when)
        return Result.error(RETRY_LATER, _detail(response), retry=True)
    if not response.ok:
        return Result.error(UNEXPECTED_STATUS.format(status=status, reason=response.reason), _detail(response))
    if response.text.strip() in ("", "null"):
        return Result.error(NULL_RESPONSE)
    data = http.json_or_none(response)
    if not isinstance(data, dict):
        return Result.error(ERROR_POSTING, http.service_text(response) or None)
    if data.get("ok") is not True:  # Slack's own failure, on HTTP 200
        error = data.get("error")
        return Result.error(ERROR_POSTING, error if isinstance(error, str) else None)
    return Result.ok(data)


class SlackApi(ConnectorType):
    id = ".slack_api"
    name = "Slack API"
    description = "Send messages to Slack channels through the Slack Web API."
    config = SlackApiConfig
    secrets = SlackApiSecrets
    example = {
        # apiUrl spelled out so that tests spanning every type can aim the example at a local fake.
        "config": {"allowedChannels": [{"id": "C0123456789", "name": "general"}], "apiUrl": SLACK_URL},
        "secrets": {"token": "xoxb-example-slack-bot-token"},
    }
    test_params = {"subAction": "postMessage", "subActionParams": _EXAMPLE_MESSAGE}
    config_error_prefix = "error configuring slack action"
    minimum_license_required = "gold"
    supported_feature_ids = ("uptime", "alerting", "siem")

    def validate_connector(
        self, config: dict[str, Any], secrets: dict[str, Any] | None, *, allowed_hosts: tuple[str, ...] | None = None
    ) -> tuple[Any, Any]:
        if allowed_hosts is None or not isinstance(config, dict) or config.get("apiUrl"):
            return super().validate_connector(config, secrets, allowed_hosts=allowed_hosts)
        # Kibana refuses a connector whose Slack URL the allowed hosts leave out; checked as the URL field's.
        config_model, secrets_model = super().validate_connector(
            {**config, "apiUrl": SLACK_URL}, secrets, allowed_hosts=allowed_hosts
        )
        return config_model.model_copy(update={"apiUrl": None}), secrets_model

    def parse_params(self, raw: dict, connector_id: str = "", connector_name: str = "") -> tuple[str | None, Any]:
        try:
            return super().parse_params(raw, connector_id, connector_name)
        except ParamsError as exc:
            text = str(exc)
            if not text.startswith(REQUEST_VALIDATION):
                raise
            # A classic Kibana type: its params schema's failures read as the framework's.
            raise ParamsError(f"{PARAMS_ERROR}: {text.removeprefix(REQUEST_VALIDATION).removesuffix(')')}") from None

    # ------------------------------------------------------------- sub-actions

    @sub_action(
        "validChannelId", ValidChannelIdParams, "Look a channel up by its ID (conversations.info).",
        example=_EXAMPLE_CHANNEL,
    )
    def valid_channel_id(self, ctx: Context[SlackApiConfig, SlackApiSecrets, ValidChannelIdParams]) -> Result:
        channel_id = ctx.params.channelId or ""
        if not channel_id:
            return Result.error(ERROR_POSTING, EMPTY_CHANNEL_ID)
        return self._call(ctx, "GET", "conversations.info?" + urlencode({"channel": channel_id}))

    @sub_action("postMessage", PostMessageParams, "Post a text message to one channel.", example=_EXAMPLE_MESSAGE)
    def post_message(self, ctx: Context[SlackApiConfig, SlackApiSecrets, PostMessageParams]) -> Result:
        try:
            channel = channel_to_use(ctx.params, ctx.config.allowedChannels)
        except ValueError as exc:
            return Result.error(ERROR_POSTING, str(exc))
        return self._call(ctx, "POST", "chat.postMessage", {"channel": channel, "text": ctx.params.text})

    @sub_action(
        "postBlockkit", PostBlockkitParams, "Post a Block Kit message to one channel.", example=_EXAMPLE_BLOCKKIT
    )
    def post_blockkit(self, ctx: Context[SlackApiConfig, SlackApiSecrets, PostBlockkitParams]) -> Result:
        try:
            channel = channel_to_use(ctx.params, ctx.config.allowedChannels)
        except ValueError as exc:
            return Result.error(ERROR_POSTING, str(exc))
        blocks = json.loads(ctx.params.text)["blocks"]  # the params schema checked it is there
        return self._call(ctx, "POST", "chat.postMessage", {"channel": channel, "blocks": blocks})

    # ------------------------------------------------------------- reading (Kibana's newest schema)

    @sub_action(
        "getConversationsList", GetConversationsListParams, "List the workspace's conversations.", example={}
    )
    def get_conversations_list(self, ctx: Context[SlackApiConfig, SlackApiSecrets, GetConversationsListParams]) -> Result:
        p = ctx.params
        query = _query(types=p.types, cursor=p.cursor, exclude_archived="true" if p.excludeArchived is not False else None,
                       limit=p.limit or 200)
        return self._call(ctx, "GET", f"conversations.list?{query}")

    @sub_action(
        "getConversationsHistory", GetConversationsHistoryParams, "Read a conversation's messages.",
        example={"channel": "C0123456789", "limit": 20},
    )
    def get_conversations_history(
        self, ctx: Context[SlackApiConfig, SlackApiSecrets, GetConversationsHistoryParams]
    ) -> Result:
        p = ctx.params
        query = _query(channel=p.channel, oldest=p.oldest, cursor=p.cursor, limit=p.limit or 100)
        return self._call(ctx, "GET", f"conversations.history?{query}")

    @sub_action(
        "getConversationsReplies", GetConversationsRepliesParams, "Read a thread's replies.",
        example={"channel": "C0123456789", "ts": "1503435956.000247"},
    )
    def get_conversations_replies(
        self, ctx: Context[SlackApiConfig, SlackApiSecrets, GetConversationsRepliesParams]
    ) -> Result:
        return self._call(ctx, "GET", f"conversations.replies?{_query(channel=ctx.params.channel, ts=ctx.params.ts)}")

    @sub_action("getUsersList", GetUsersListParams, "List the workspace's users.", example={})
    def get_users_list(self, ctx: Context[SlackApiConfig, SlackApiSecrets, GetUsersListParams]) -> Result:
        return self._call(ctx, "GET", f"users.list?{_query(cursor=ctx.params.cursor, limit=ctx.params.limit or 200)}")

    # ------------------------------------------------------------- the Web API call

    def _call(self, ctx: Ctx, method: str, path: str, body: dict[str, Any] | None = None) -> Result:
        base = ctx.config.apiUrl or SLACK_URL
        url = base.rstrip("/") + "/" + path
        headers = {"Authorization": f"Bearer {ctx.secrets.token}", "Content-type": "application/json; charset=UTF-8"}
        try:
            response = ctx.http.request(
                method, url, headers=headers, data=json.dumps(body) if body is not None else None
            )
        except OutboundError as exc:
            # Kibana: no answer is "error posting slack message" with the cause, and no retry asked.
            return Result.error(ERROR_POSTING, exc.message)
        return read_answer(response)
