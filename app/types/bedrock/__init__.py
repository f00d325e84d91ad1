"""Amazon Bedrock — `.bedrock` (connector-types.md §1): prompts to models on the Bedrock runtime.

Each request is signed with AWS SigV4 (signing name `bedrock`) by botocore and sent through the
outbound client. Streamed answers arrive as AWS event-stream frames, decoded as the bytes come in;
for the streaming sub-actions `execute` returns a generator that yields the text as it is written.
"""

from __future__ import annotations

import json
from collections.abc import Generator

from botocore.eventstream import EventStreamBuffer, ParserError

from app.outbound import OutboundError, check_url
from app.types.base import ConnectorType, ExecutionContext, Result, SubAction
from app.types.bedrock.responses import (
    Failed,
    StreamError,
    StreamState,
    anthropic_usage,
    converse_usage,
    frame_event,
    http_error,
    invalid_response,
    json_object,
    unexpected_error,
)
from app.types.bedrock.schemas import (
    DEFAULT_MODEL,
    DEFAULT_URL,
    ENDPOINT_HINT,
    EVENT_STREAM,
    GENERIC_ERROR,
    NO_MODEL,
    NOT_RECOGNIZED,
    RETRY_STREAM_ERRORS,
    TEST_BODY,
    BedrockConfig,
    BedrockSecrets,
    ConverseParams,
    InvokeAIParams,
    InvokeAIRawParams,
    RunParams,
)
from app.types.bedrock.wire import (
    anthropic_body,
    converse_body,
    drop_none,
    encode_model,
    raw_anthropic_body,
    region_of,
    sign,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "ENDPOINT_HINT",
    "EVENT_STREAM",
    "GENERIC_ERROR",
    "NO_MODEL",
    "NOT_RECOGNIZED",
    "Bedrock",
    "BedrockConfig",
    "BedrockSecrets",
    "http_error",
    "region_of",
]

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
                data = drop_none({"message": result.data["completion"].strip(), "usage": result.data.get("usage")})
                return Result.ok(data, usage=result.usage)
            if name == "invokeAIRaw":
                return self._invoke(ctx, model, json.dumps(raw_anthropic_body(p)), p.timeout, raw=True)
            if name == "converse":
                body = json.dumps(converse_body(p, ctx.config, model)).encode()
                data = json_object(self._post(ctx, model, "converse", body, p.timeout))
                return Result.ok(data, usage=converse_usage(data.get("usage")))
        except Failed as failed:
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
                raise Failed(http_error(response))
        except OutboundError as exc:
            raise Failed(unexpected_error(exc)) from None
        return response

    def _invoke(self, ctx, model: str, body: str, timeout_ms: int | None, *, raw: bool = False) -> Result:
        """InvokeModel: the Messages API answer as Claude 2's shape, Claude 2's own, or the raw JSON."""
        response = self._post(ctx, model, "invoke", body.encode(), timeout_ms)
        data = json_object(response)
        usage = anthropic_usage(data, response)
        if raw:
            return Result.ok(data, usage=usage)
        if json.loads(body).get("prompt") is not None:  # legacy Claude 2 text completion
            if not isinstance(data.get("completion"), str):
                raise Failed(invalid_response("[completion]: expected value of type [string]"))
            return Result.ok(drop_none({k: data.get(k) for k in ("completion", "stop_reason", "usage")}), usage=usage)
        content = data.get("content")
        if not isinstance(content, list):
            raise Failed(invalid_response("[content]: expected value of type [array]"))
        completion = "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
        mapped = {"completion": completion, "stop_reason": data.get("stop_reason"), "usage": data.get("usage")}
        return Result.ok(drop_none(mapped), usage=usage)

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
        except Failed as failed:
            return failed.result
        content_type = response.headers.get("Content-Type", "")
        if EVENT_STREAM not in content_type:
            response.content  # noqa: B018 - read and release the connection
            return invalid_response(f"expected an {EVENT_STREAM} response, got {content_type or 'no content type'}")
        state = StreamState(converse)
        frames = EventStreamBuffer()
        chunks = response.iter_bytes()
        failure: Result | None = None
        try:
            for chunk in chunks:
                frames.add_data(chunk)
                for frame in frames:
                    delta = state.take(*frame_event(frame))
                    if delta:
                        yield delta
        except OutboundError as exc:
            failure = unexpected_error(exc)
        except StreamError as exc:
            failure = Result.error(GENERIC_ERROR, f"{exc.kind}: {exc.message}", retry=exc.kind in RETRY_STREAM_ERRORS)
        except (ParserError, ValueError, KeyError, TypeError) as exc:
            failure = invalid_response(f"unreadable event stream: {exc}")
        finally:
            chunks.close()
        if failure is None and not state.finished:
            failure = invalid_response("the event stream ended before the model finished")
        if failure is not None:
            failure.data = {"message": state.text} if state.parts else None
            return failure
        return Result.ok(state.data(), usage=state.usage())


def _model(ctx: ExecutionContext) -> str | None:
    requested = getattr(ctx.sub_action_params, "model", None)
    return (requested or "").strip() or (ctx.config.defaultModel or "").strip() or None
