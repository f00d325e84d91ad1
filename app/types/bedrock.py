"""Amazon Bedrock — `.bedrock` (connector-types.md §1): prompts to models on the Bedrock runtime.

Each request is signed with AWS SigV4 (signing name `bedrock`) by botocore and sent through the
outbound client. Streamed answers arrive as AWS event-stream frames, decoded as the bytes come in;
for the streaming sub-actions `execute` returns a generator that yields the text as it is written.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Generator
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, ParserError
from pydantic import ConfigDict, field_validator, model_validator

from app.outbound import OutboundError, OutboundResponse, check_url
from app.types.base import ConnectorType, ExecutionContext, Field, Result, Schema, SubAction, TokenUsage
from app.types.webhook import parse_url

DEFAULT_URL = "https://bedrock-runtime.us-east-1.amazonaws.com"
DEFAULT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
DEFAULT_REGION = "us-east-1"
ANTHROPIC_VERSION = "bedrock-2023-05-31"
DEFAULT_TOKEN_LIMIT = 8191
EVENT_STREAM = "application/vnd.amazon.eventstream"
GENERIC_ERROR = "an error occurred while running the action"
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
_RETRY_KINDS = {"connection_refused", "connection_failed", "connect_timeout", "read_timeout"}
_RETRY_STREAM_ERRORS = {
    "throttlingException",
    "serviceUnavailableException",
    "internalServerException",
    "modelTimeoutException",
}
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")


# --- schemas ------------------------------------------------------------------------------------------


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class BedrockConfig(Schema):
    apiUrl: str = Field(
        DEFAULT_URL,
        label="URL",
        widget="url",
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
        help="Model id, inference profile id or ARN; used when a request names no model.",
    )
    contextWindowLength: int | None = Field(
        None, label="Context window length", help="In tokens; informational, for AI features.", gt=0
    )
    temperature: float | None = Field(
        None, label="Temperature", help="Default sampling temperature for invokeAI and converse.", ge=0
    )

    @field_validator("apiUrl")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return parse_url(value)

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
    def _json_object(cls, value: str) -> str:
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


def region_of(config: BedrockConfig) -> str:
    """The explicit region, else the one in an `*.amazonaws.com` host, else us-east-1."""
    if config.region:
        return config.region
    host = (urlsplit(config.apiUrl).hostname or "").lower()
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        for label in host.split("."):
            if _REGION.match(label):
                return label
    return DEFAULT_REGION


def encode_model(model: str) -> str:
    """Model ids and ARNs as one path segment; decoding first keeps an encoded id from double encoding."""
    return quote(unquote(model), safe="")


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def sign(config: BedrockConfig, secrets: BedrockSecrets, path: str, body: bytes, *, stream: bool) -> tuple[str, dict]:
    """The URL and SigV4-signed headers (Host included) for a POST of `body` to `path`."""
    url = config.apiUrl.rstrip("/") + path
    if stream:
        headers = {"Accept": EVENT_STREAM, "Content-Type": "application/json", "X-Amzn-Bedrock-Accept": "*/*"}
    else:
        headers = {"Content-Type": "application/json", "Accept": "*/*"}
    headers["Host"] = _host(url)
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(secrets.accessKey, secrets.secret), "bedrock", region_of(config)).add_auth(request)
    return url, dict(request.headers.items())


def _drop_none(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def ensure_message_format(messages: list[BedrockMessage], system: str | None) -> tuple[list[dict], str]:
    """Kibana's rules: system messages join `system`; roles become user/assistant; same-role runs merge."""
    system_text = system or ""
    out: list[dict] = []
    for m in messages:
        if m.role == "system":
            text = m.content if m.content is not None else _text_of(m.rawContent)
            system_text = f"{system_text}\n{text}" if system_text else text
            continue
        role = "assistant" if m.role in ("assistant", "ai") else "user"
        if m.rawContent is not None:
            out.append({"role": role, "content": m.rawContent})
            continue
        last = out[-1] if out else None
        if last and last["role"] == role and isinstance(last["content"], str):
            last["content"] = f"{last['content']}\n{m.content}"
            continue
        out.append({"role": role, "content": m.content})
    return out, system_text


def anthropic_body(p: InvokeAIParams, config: BedrockConfig) -> dict:
    messages, system = ensure_message_format(p.messages, p.system)
    temperature = p.temperature if p.temperature is not None else config.temperature
    return _drop_none(
        {
            "anthropic_version": p.anthropicVersion or ANTHROPIC_VERSION,
            "messages": messages,
            "system": system or None,
            "max_tokens": p.maxTokens or DEFAULT_TOKEN_LIMIT,
            "stop_sequences": p.stopSequences,
            "temperature": temperature if temperature is not None else 0,
            "tools": [t.model_dump() for t in p.tools] if p.tools else None,
            "tool_choice": p.toolChoice.model_dump(exclude_none=True) if p.toolChoice else None,
        }
    )


def raw_anthropic_body(p: InvokeAIRawParams) -> dict:
    return _drop_none(
        {
            "messages": [m.model_dump() for m in p.messages],
            "stop_sequences": p.stopSequences,
            "system": p.system,
            "temperature": p.temperature,
            "max_tokens": p.maxTokens or DEFAULT_TOKEN_LIMIT,
            "tools": [t.model_dump() for t in p.tools] if p.tools else None,
            "tool_choice": p.toolChoice.model_dump(exclude_none=True) if p.toolChoice else None,
            "anthropic_version": p.anthropicVersion or ANTHROPIC_VERSION,
        }
    )


def converse_body(p: ConverseParams, config: BedrockConfig, model: str) -> dict:
    temperature = p.temperature if p.temperature is not None else config.temperature
    inference = _drop_none({"temperature": temperature, "stopSequences": p.stopSequences, "maxTokens": p.maxTokens})
    tool_config = _drop_none({"tools": p.tools, "toolChoice": p.toolChoice}) if p.tools else None
    return _drop_none(
        {"messages": p.messages, "inferenceConfig": inference, "toolConfig": tool_config, "system": p.system, "modelId": model}
    )


# --- responses ------------------------------------------------------------------------------------------


class _Failed(Exception):
    """Carries the error Result out of a helper."""

    def __init__(self, result: Result):
        self.result = result


class _StreamError(Exception):
    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message


def _text_of(blocks: Any) -> str:
    if not isinstance(blocks, list):
        return "" if blocks is None else str(blocks)
    return "\n".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))


def _invalid(detail: str) -> Result:
    return Result.error(GENERIC_ERROR, f"Response validation failed ({detail})", retry=False)


def unexpected_error(exc: OutboundError) -> Result:
    return Result.error(GENERIC_ERROR, f"Unexpected API Error: {exc.code} - {exc.message}", retry=exc.code in _RETRY_KINDS)


def http_error(response: OutboundResponse) -> Result:
    """Kibana's getResponseErrorMessage, under the sub-action framework's `Status code: …` wrapper."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = None
    if isinstance(body, dict):
        found = body.get("message", body.get("Message"))
        message = found if isinstance(found, str) and found else None
    status = response.status_code
    if status == 400 and message and NOT_RECOGNIZED in message:
        text = f"API Error: {message}\n\n{ENDPOINT_HINT}"
    elif status == 401:
        text = "Unauthorized API Error" + (f": {message}" if message else "")
    else:
        text = f"API Error: {response.reason}" + (f" - {message}" if message else "")
    return Result.error(GENERIC_ERROR, f"Status code: {status}. Message: {text}", retry=status == 429 or status >= 500)


def _json_object(response: OutboundResponse) -> dict:
    try:
        data = response.json()
    except ValueError:
        raise _Failed(_invalid("Response is not a valid JSON")) from None
    if not isinstance(data, dict):
        raise _Failed(_invalid("Response is not a valid JSON object"))
    return data


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(prompt: Any, completion: Any, total: Any = None) -> TokenUsage:
    p, c = _int(prompt), _int(completion)
    return TokenUsage(prompt_tokens=p, completion_tokens=c, total_tokens=_int(total) or p + c)


def anthropic_usage(data: dict, response: OutboundResponse) -> TokenUsage:
    """`usage.input_tokens/output_tokens`, else Bedrock's token-count response headers."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    if "input_tokens" in usage or "output_tokens" in usage:
        return _usage(usage.get("input_tokens"), usage.get("output_tokens"))
    counts = [response.headers.get(f"X-Amzn-Bedrock-{kind}-Token-Count", "") for kind in ("Input", "Output")]
    return _usage(*(int(c) if c.isdigit() else 0 for c in counts))


def converse_usage(usage: Any) -> TokenUsage:
    usage = usage if isinstance(usage, dict) else {}
    return _usage(usage.get("inputTokens"), usage.get("outputTokens"), usage.get("totalTokens"))


def _frame_event(frame) -> tuple[str, dict]:
    """(event type, JSON payload) of one event-stream frame; raises _StreamError for exception frames."""
    headers = frame.headers
    kind = headers.get(":message-type")
    if kind == "exception":
        try:
            message = json.loads(frame.payload).get("message", "")
        except (ValueError, AttributeError):
            message = frame.payload.decode("utf-8", errors="replace")
        raise _StreamError(headers.get(":exception-type", "exception"), message)
    if kind == "error":
        raise _StreamError(headers.get(":error-code", "error"), headers.get(":error-message", ""))
    event = headers.get(":event-type", "")
    payload = json.loads(frame.payload or b"{}")
    if event == "chunk":
        payload = json.loads(base64.b64decode(payload["bytes"]))
    return event, payload


class _StreamState:
    """What a stream has said so far: text, stop reason, token counts, and whether it finished."""

    def __init__(self, converse: bool):
        self.converse = converse
        self.parts: list[str] = []
        self.stop_reason: str | None = None
        self.input_tokens = self.output_tokens = self.total_tokens = 0
        self.finished = False

    def take(self, event: str, payload: dict) -> str | None:
        """Apply one event; return its text delta, if any."""
        return self._converse(event, payload) if self.converse else self._invoke(payload)

    def _invoke(self, p: dict) -> str | None:
        kind = p.get("type")
        text = None
        if kind == "message_start":
            usage = (p.get("message") or {}).get("usage") or {}
            self.input_tokens = _int(usage.get("input_tokens")) or self.input_tokens
            self.output_tokens = _int(usage.get("output_tokens")) or self.output_tokens
        elif kind == "content_block_delta":
            delta = p.get("delta") or {}
            text = delta.get("text") if delta.get("type") == "text_delta" else None
        elif kind == "message_delta":
            self.stop_reason = (p.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.output_tokens = _int((p.get("usage") or {}).get("output_tokens")) or self.output_tokens
        elif kind is None:  # non-Anthropic models: Titan `outputText`, Llama `generation`, Claude 2 `completion`
            text = next((p[k] for k in ("outputText", "generation", "completion") if isinstance(p.get(k), str)), None)
            self.stop_reason = p.get("completionReason") or p.get("stop_reason") or self.stop_reason
        metrics = p.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, dict):
            self.input_tokens = _int(metrics.get("inputTokenCount")) or self.input_tokens
            self.output_tokens = _int(metrics.get("outputTokenCount")) or self.output_tokens
            self.finished = True
        if kind == "message_stop":
            self.finished = True
        if text:
            self.parts.append(text)
        return text or None

    def _converse(self, event: str, p: dict) -> str | None:
        if event == "contentBlockDelta":
            text = (p.get("delta") or {}).get("text")
            if isinstance(text, str) and text:
                self.parts.append(text)
                return text
        elif event == "messageStop":
            self.stop_reason = p.get("stopReason")
        elif event == "metadata":
            u = converse_usage(p.get("usage"))
            self.input_tokens, self.output_tokens, self.total_tokens = (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
            )
            self.finished = True
        return None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def usage(self) -> TokenUsage:
        return _usage(self.input_tokens, self.output_tokens, self.total_tokens)

    def data(self) -> dict:
        if self.converse:
            u = self.usage()
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": self.text}]}},
                "stopReason": self.stop_reason,
                "usage": {"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens, "totalTokens": u.total_tokens},
            }
        usage = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return {"message": self.text, "stop_reason": self.stop_reason, "usage": usage}


# --- the type -------------------------------------------------------------------------------------------


# What the test pane prefills when a sub-action other than `test` is picked.
_EXAMPLE_CHAT = {"messages": [{"role": "user", "content": "Hello world"}]}
_EXAMPLE_CONVERSE = {"messages": [{"role": "user", "content": [{"text": "Hello world"}]}]}
_EXAMPLE_RUN = {"body": TEST_BODY}


class Bedrock(ConnectorType):
    id = ".bedrock"
    name = "Amazon Bedrock"
    description = "Send prompts to models on Amazon Bedrock."
    config = BedrockConfig
    secrets = BedrockSecrets
    sub_actions = {
        "run": SubAction(RunParams, "Send a request body to the model's invoke endpoint.", example=_EXAMPLE_RUN),
        "test": SubAction(RunParams, "The same as run; what the test pane sends."),
        "invokeAI": SubAction(InvokeAIParams, "Send chat messages and get the answer's text.", example=_EXAMPLE_CHAT),
        "invokeAIRaw": SubAction(
            InvokeAIRawParams, "Send Messages API messages as given; get the raw response.", example=_EXAMPLE_CHAT
        ),
        "invokeStream": SubAction(
            InvokeAIParams, "Like invokeAI, streaming the answer as it is written.", streams=True, example=_EXAMPLE_CHAT
        ),
        "converse": SubAction(ConverseParams, "Call the Converse API.", example=_EXAMPLE_CONVERSE),
        "converseStream": SubAction(
            ConverseParams, "Call the ConverseStream API, streaming the answer.", streams=True, example=_EXAMPLE_CONVERSE
        ),
    }
    test_params = {"subAction": "test", "subActionParams": {"body": TEST_BODY}}
    read_timeout = 120.0
    minimum_license_required = "enterprise"
    supported_feature_ids = (
        "generativeAIForSecurity",
        "generativeAIForObservability",
        "generativeAIForSearchPlayground",
        "workflows",
    )

    def check_connector(self, config, secrets, allowed_hosts):
        try:
            check_url(config.apiUrl, allowed_hosts)
        except OutboundError as exc:
            return {"config.apiUrl": f"Error configuring Amazon Bedrock action: {exc.message}"}
        return {}

    def execute(self, ctx: ExecutionContext) -> Result | Generator[str, None, Result]:
        name, p = ctx.sub_action, ctx.sub_action_params
        if name in ("invokeStream", "converseStream"):
            return self._stream(ctx)
        model = _model(ctx)
        if model is None:
            return Result.error(NO_MODEL)
        try:
            if name in ("run", "test"):
                return self._invoke(ctx, model, p.body, p.timeout, raw=bool(p.raw))
            if name == "invokeAI":
                result = self._invoke(ctx, model, json.dumps(anthropic_body(p, ctx.config)), p.timeout)
                data = _drop_none({"message": result.data["completion"].strip(), "usage": result.data.get("usage")})
                return Result.ok(data, usage=result.usage)
            if name == "invokeAIRaw":
                return self._invoke(ctx, model, json.dumps(raw_anthropic_body(p)), p.timeout, raw=True)
            if name == "converse":
                body = json.dumps(converse_body(p, ctx.config, model)).encode()
                data = _json_object(self._post(ctx, model, "converse", body, p.timeout))
                return Result.ok(data, usage=converse_usage(data.get("usage")))
        except _Failed as failed:
            return failed.result
        return Result.error(GENERIC_ERROR, f'Sub action "{name}" is not registered.')  # parse_params refuses it first

    def _post(self, ctx, model: str, operation: str, body: bytes, timeout_ms: int | None, *, stream=False):
        url, headers = sign(ctx.config, ctx.secrets, f"/model/{encode_model(model)}/{operation}", body, stream=stream)
        read_timeout = timeout_ms / 1000 if timeout_ms else self.read_timeout
        try:
            response = ctx.http.request(
                "POST", url, headers=headers, data=body, read_timeout=read_timeout, stream=stream, trace=ctx.trace
            )
            if not response.ok:
                response.content  # noqa: B018 - a streamed error still has a JSON body to read
                raise _Failed(http_error(response))
        except OutboundError as exc:
            raise _Failed(unexpected_error(exc)) from None
        return response

    def _invoke(self, ctx, model: str, body: str, timeout_ms: int | None, *, raw: bool = False) -> Result:
        """InvokeModel: the Messages API answer as Claude 2's shape, Claude 2's own, or the raw JSON."""
        response = self._post(ctx, model, "invoke", body.encode(), timeout_ms)
        data = _json_object(response)
        usage = anthropic_usage(data, response)
        if raw:
            return Result.ok(data, usage=usage)
        if json.loads(body).get("prompt") is not None:  # legacy Claude 2 text completion
            if not isinstance(data.get("completion"), str):
                raise _Failed(_invalid("[completion]: expected value of type [string]"))
            return Result.ok(_drop_none({k: data.get(k) for k in ("completion", "stop_reason", "usage")}), usage=usage)
        content = data.get("content")
        if not isinstance(content, list):
            raise _Failed(_invalid("[content]: expected value of type [array]"))
        completion = "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
        mapped = {"completion": completion, "stop_reason": data.get("stop_reason"), "usage": data.get("usage")}
        return Result.ok(_drop_none(mapped), usage=usage)

    def _stream(self, ctx: ExecutionContext) -> Generator[str, None, Result]:
        """Yield each text delta as its frame arrives; return the whole answer with token usage."""
        p = ctx.sub_action_params
        converse = ctx.sub_action == "converseStream"
        model = _model(ctx)
        if model is None:
            return Result.error(NO_MODEL)
        if converse:
            operation, body = "converse-stream", converse_body(p, ctx.config, model)
        else:
            operation, body = "invoke-with-response-stream", anthropic_body(p, ctx.config)
        try:
            response = self._post(ctx, model, operation, json.dumps(body).encode(), p.timeout, stream=True)
        except _Failed as failed:
            return failed.result
        content_type = response.headers.get("Content-Type", "")
        if EVENT_STREAM not in content_type:
            response.content  # noqa: B018 - read and release the connection
            return _invalid(f"expected an {EVENT_STREAM} response, got {content_type or 'no content type'}")
        state = _StreamState(converse)
        frames = EventStreamBuffer()
        chunks = response.iter_bytes()
        failure: Result | None = None
        try:
            for chunk in chunks:
                frames.add_data(chunk)
                for frame in frames:
                    delta = state.take(*_frame_event(frame))
                    if delta:
                        yield delta
        except OutboundError as exc:
            failure = unexpected_error(exc)
        except _StreamError as exc:
            failure = Result.error(GENERIC_ERROR, f"{exc.kind}: {exc.message}", retry=exc.kind in _RETRY_STREAM_ERRORS)
        except (ParserError, ValueError, KeyError, TypeError) as exc:
            failure = _invalid(f"unreadable event stream: {exc}")
        finally:
            chunks.close()
        if failure is None and not state.finished:
            failure = _invalid("the event stream ended before the model finished")
        if failure is not None:
            failure.data = {"message": state.text} if state.parts else None
            return failure
        return Result.ok(state.data(), usage=state.usage())


def _model(ctx: ExecutionContext) -> str | None:
    requested = getattr(ctx.sub_action_params, "model", None)
    return (requested or "").strip() or (ctx.config.defaultModel or "").strip() or None
