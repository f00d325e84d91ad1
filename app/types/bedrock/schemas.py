"""Amazon Bedrock: constants and the config, secrets and sub-action params schemas."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import ConfigDict, field_validator, model_validator

from app.types.kit import Field, Schema, Url

DEFAULT_URL = "https://bedrock-runtime.us-east-1.amazonaws.com"
DEFAULT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
DEFAULT_REGION = "us-east-1"
ANTHROPIC_VERSION = "bedrock-2023-05-31"
DEFAULT_TOKEN_LIMIT = 8191
EVENT_STREAM = "application/vnd.amazon.eventstream"
NO_MODEL = "No model specified. Please configure a default model."
NOT_RECOGNIZED = "The requested operation is not recognized by the service."
# Kibana's hint, with "The Kibana Connector" made product-neutral.
ENDPOINT_HINT = (
    "The connector in use may need to be reconfigured with an updated Amazon Bedrock endpoint, like `bedrock-runtime`."
)
TEST_BODY = json.dumps(
    {
        "anthropic_version": ANTHROPIC_VERSION,
        "messages": [{"content": "Hello world", "role": "user"}],
        "max_tokens": DEFAULT_TOKEN_LIMIT,
        "stop_sequences": ["\n\nHuman:"],
    },
    separators=(",", ":"),
)
RETRY_STREAM_ERRORS = {
    "throttlingException",
    "serviceUnavailableException",
    "internalServerException",
    "modelTimeoutException",
}
REGION_PATTERN = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")





def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class BedrockConfig(Schema):
    apiUrl: Url = Field(
        DEFAULT_URL,
        label="URL",
        help="The Bedrock runtime endpoint, e.g. https://bedrock-runtime.us-west-2.amazonaws.com.",
        max_length=2048,
    )
    region: str | None = Field(
        None,
        label="Region",
        help="AWS region used to sign requests. Leave blank to read it from the URL (else us-east-1).",
        placeholder="us-east-1",
    )
    defaultModel: str | None = Field(
        DEFAULT_MODEL,
        label="Default model",
        help="Model id, inference profile id or ARN; used when a request names no model. "
        "List choices shows the models and inference profiles these keys can invoke.",
        widget="suggest",
        options="bedrock.models",
    )
    contextWindowLength: int | None = Field(
        None, label="Context window length", help="In tokens; informational, for AI features.", gt=0
    )
    temperature: float | None = Field(
        None, label="Temperature", help="Default sampling temperature for invokeAI and converse.", ge=0
    )

    @field_validator("region", "defaultModel", "contextWindowLength", "temperature", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_is_none(value)

    @field_validator("region")
    @classmethod
    def _valid_region(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9-]+", value.strip()):
            raise ValueError("must be an AWS region such as us-east-1")
        return value.strip() if value else value


class BedrockSecrets(Schema):
    accessKey: str = Field(label="Access key", widget="password", help="AWS access key id.", min_length=1)
    secret: str = Field(label="Secret", widget="password", help="AWS secret access key.", min_length=1)


class TelemetryMetadata(Schema):
    pluginId: str | None = Field(None, label="Plugin id")
    aggregateBy: str | None = Field(None, label="Aggregate by")


def _model_field() -> Any:
    return Field(None, label="Model", help="Overrides the connector's default model.")


def _timeout_field() -> Any:
    return Field(None, label="Timeout (ms)", gt=0)


def _telemetry_field() -> Any:
    return Field(None, label="Telemetry metadata")


class RunParams(Schema):
    body: str = Field(label="Body", widget="jsontext", help="The model's request body, as JSON text.")
    model: str | None = _model_field()
    timeout: int | None = _timeout_field()
    raw: bool | None = Field(None, label="Raw response", help="Return the provider's response unchanged.")
    telemetryMetadata: TelemetryMetadata | None = _telemetry_field()

    @field_validator("body")
    @classmethod
    def json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"must be valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object")
        return value


class BedrockMessage(Schema):
    role: str = Field(label="Role")
    content: str | None = Field(None, label="Content")
    rawContent: list[Any] | None = Field(None, label="Raw content")

    @model_validator(mode="after")
    def _one_content(self) -> BedrockMessage:
        if self.content is None and self.rawContent is None:
            raise ValueError("Must specify either content or rawContent")
        if self.content is not None and self.rawContent is not None:
            raise ValueError("content and rawContent can not be used at the same time")
        return self


class Tool(Schema):
    name: str = Field(label="Name")
    description: str = Field(label="Description")
    input_schema: dict[str, Any] = Field(label="Input schema")


class ToolChoice(Schema):
    type: Literal["auto", "any", "tool"] = Field(label="Type")
    name: str | None = Field(None, label="Name")


class InvokeAIParams(Schema):
    messages: list[BedrockMessage] = Field(label="Messages", widget="json")
    model: str | None = _model_field()
    temperature: float | None = Field(None, label="Temperature")
    stopSequences: list[str] | None = Field(None, label="Stop sequences")
    system: str | None = Field(None, label="System prompt", widget="textarea")
    maxTokens: int | None = Field(None, label="Max tokens", gt=0)
    timeout: int | None = _timeout_field()
    anthropicVersion: str | None = Field(None, label="Anthropic version")
    tools: list[Tool] | None = Field(None, label="Tools", widget="json")
    toolChoice: ToolChoice | None = Field(None, label="Tool choice", widget="json")
    telemetryMetadata: TelemetryMetadata | None = _telemetry_field()


class RawMessage(Schema):
    role: str = Field(label="Role")
    content: Any = Field(label="Content")


class InvokeAIRawParams(InvokeAIParams):
    messages: list[RawMessage] = Field(label="Messages", widget="json")  # type: ignore[assignment]


class ConverseParams(Schema):
    # The Converse API validates messages itself; other keys are accepted and ignored, as in Kibana.
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    messages: list[Any] = Field(label="Messages", widget="json")
    model: str | None = _model_field()
    system: list[Any] | None = Field(None, label="System", widget="json")
    temperature: float | None = Field(None, label="Temperature")
    maxTokens: int | None = Field(None, label="Max tokens", gt=0)
    stopSequences: list[str] | None = Field(None, label="Stop sequences")
    tools: list[Any] | None = Field(None, label="Tools", widget="json")
    toolChoice: Any = Field(None, label="Tool choice", widget="json")
    timeout: int | None = _timeout_field()
    telemetryMetadata: TelemetryMetadata | None = _telemetry_field()


# --- request building -----------------------------------------------------------------------------------
