"""Slack API: constants and the config, secrets and sub-action params schemas (Kibana's zod schemas)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from app.types.kit import Field, Schema, Url

# Where Kibana always sends the Web API calls (its SLACK_URL).
SLACK_URL = "https://slack.com/api/"
MAX_ALLOWED_CHANNELS = 500
CHANNELS_WIDGET = "slack_channels"


def channel_name(value: str) -> str:
    """Kibana's validateChannelName."""
    if not value:
        raise ValueError("Channel name cannot be empty")
    if not value.startswith("#"):
        raise ValueError("Channel name must start with #")
    return value


def blockkit_text(text: str) -> str:
    """Kibana's validateBlockkit: a JSON object with a `blocks` field."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"block kit body is not valid JSON - {exc}") from None
    if not isinstance(parsed, dict) or "blocks" not in parsed:
        raise ValueError('block kit body must contain field "blocks"')
    return text


ChannelName = Annotated[str, AfterValidator(channel_name)]
# A min of two characters accounts for the '#' prefix.
PostChannelName = Annotated[str, StringConstraints(min_length=2, max_length=200), AfterValidator(channel_name)]


class AllowedChannel(Schema):
    id: str | None = Field(None, label="Channel ID", min_length=1)
    name: str = Field(label="Channel name", min_length=1)


class SlackApiConfig(Schema):
    allowedChannels: list[AllowedChannel] | None = Field(
        None,
        label="Allowed channels",
        widget=CHANNELS_WIDGET,
        max_length=MAX_ALLOWED_CHANNELS,
        help="When set, messages go only to these channels. Type a channel ID to look its name up in Slack.",
    )
    # Not in Kibana, which always calls SLACK_URL: absent means that URL, so stored connectors stay Kibana's.
    apiUrl: Url | None = Field(
        None,
        label="Slack API URL",
        placeholder=SLACK_URL,
        help=f"Leave blank for {SLACK_URL}. Set it only to reach Slack through a relay or a test double.",
    )


class SlackApiSecrets(Schema):
    token: str = Field(label="API Token", min_length=1, help="The bot's User OAuth token (xoxb-…).")


class ValidChannelIdParams(Schema):
    channelId: str | None = Field(None, label="Channel ID")


class _Channels(Schema):
    # Deprecated in Kibana: channelNames, then channelIds, take priority over it.
    channels: list[str] | None = Field(None, label="Channels (deprecated)", max_length=1)
    channelIds: list[str] | None = Field(None, label="Channel IDs", max_length=1, help='One ID, e.g. ["C0123456789"].')


class PostMessageParams(_Channels):
    channelNames: list[PostChannelName] | None = Field(
        None, label="Channel names", max_length=1, help='One name starting with #, e.g. ["#general"].'
    )
    text: str = Field(label="Message", widget="textarea", min_length=1)


class PostBlockkitParams(_Channels):
    channelNames: list[ChannelName] | None = Field(
        None, label="Channel names", max_length=1, help='One name starting with #, e.g. ["#general"].'
    )
    text: Annotated[str, AfterValidator(blockkit_text)] = Field(
        label="Block Kit body", widget="jsontext", help='A JSON object with a "blocks" list.'
    )


# The read sub-actions of Kibana's newest schema (conversations and users, for workflows and AI tools).


class GetConversationsListParams(Schema):
    types: str | None = Field(None, label="Types", help="Comma-separated, e.g. public_channel,private_channel.")
    cursor: str | None = Field(None, label="Cursor")
    excludeArchived: bool | None = Field(
        None, label="Exclude archived", help="Leave archived channels out; absent means yes."
    )
    limit: int | None = Field(None, label="Limit", ge=1, le=1000)


class GetConversationsHistoryParams(Schema):
    channel: str = Field(label="Channel ID", min_length=1)
    oldest: int | float | None = Field(None, label="Oldest", help="A Unix time in seconds.")
    cursor: str | None = Field(None, label="Cursor")
    limit: int | None = Field(None, label="Limit", ge=1, le=1000)


class GetConversationsRepliesParams(Schema):
    channel: str = Field(label="Channel ID", min_length=1)
    ts: str = Field(label="Thread timestamp", min_length=1)


class GetUsersListParams(Schema):
    cursor: str | None = Field(None, label="Cursor")
    limit: int | None = Field(None, label="Limit", ge=1, le=1000)
