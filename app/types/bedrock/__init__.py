"""Amazon Bedrock — `.bedrock` (connector-types.md §1): prompts to models on the Bedrock runtime.

Each request is signed with AWS SigV4 (signing name `bedrock`) by botocore and sent through the
outbound client. Streamed answers arrive as AWS event-stream frames, decoded as the bytes come in;
the streaming sub-actions are generators that yield the text as it is written. The `models` lookup
fills the form's Default model choices from the control plane (ListFoundationModels and
ListInferenceProfiles on `bedrock.<region>`, signed the same way).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from app.outbound import OutboundError, OutboundResponse
from app.types.bedrock.responses import (
    StreamError,
    StreamState,
    anthropic_usage,
    converse_usage,
    error_text,
    frame_event,
    http_error,
)
from app.types.bedrock.schemas import (
    DEFAULT_MODEL,
    DEFAULT_URL,
    ENDPOINT_HINT,
    EVENT_STREAM,
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
    sign_get,
)
from app.types.kit import GENERIC_ERROR, ConnectorType, Context, Failed, Result, Schema, lookup, sub_action
from app.types.kit.http import call_api, invalid_response, json_object, unexpected_error

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "ENDPOINT_HINT",
    "EVENT_STREAM",
    "GENERIC_ERROR",
    "NOT_RECOGNIZED",
    "NO_MODEL",
    "Bedrock",
    "BedrockConfig",
    "BedrockSecrets",
    "error_text",
    "http_error",
    "model_choices",
    "region_of",
]

# What the test pane prefills when a sub-action is picked.
_EXAMPLE_CHAT = {"messages": [{"role": "user", "content": "Hello world"}]}
_EXAMPLE_CONVERSE = {"messages": [{"role": "user", "content": [{"text": "Hello world"}]}]}
_EXAMPLE_RUN = {"body": TEST_BODY}

Ctx = Context[BedrockConfig, BedrockSecrets, RunParams]
ChatCtx = Context[BedrockConfig, BedrockSecrets, InvokeAIParams]
RawCtx = Context[BedrockConfig, BedrockSecrets, InvokeAIRawParams]
ConverseCtx = Context[BedrockConfig, BedrockSecrets, ConverseParams]
LookupCtx = Context[BedrockConfig, BedrockSecrets, Schema]

# ListInferenceProfiles pages: 1000 is the service's largest page; the page cap bounds a token loop.
PROFILE_PAGE_SIZE = 1000
MAX_PROFILE_PAGES = 10


class Bedrock(ConnectorType):
    id = ".bedrock"
    name = "Amazon Bedrock"
    description = "Send prompts to models on Amazon Bedrock."
    config = BedrockConfig
    secrets = BedrockSecrets
    example = {
        "config": {"apiUrl": DEFAULT_URL, "defaultModel": DEFAULT_MODEL},
        "secrets": {"accessKey": "AKIAIOSFODNN7EXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
    }
    test_params = {"subAction": "test", "subActionParams": {"body": TEST_BODY}}
    config_error_prefix = "Error configuring Amazon Bedrock action"
    read_timeout = 120.0
    run_timeout = 120.0  # Kibana's DEFAULT_TIMEOUT_MS for its LLM connectors; a run's `timeout` param overrides
    minimum_license_required = "enterprise"
    supported_feature_ids = (
        "generativeAIForSecurity",
        "generativeAIForObservability",
        "generativeAIForSearchPlayground",
        "workflows",
    )

    @sub_action("run", RunParams, "Send a request body to the model's invoke endpoint.", example=_EXAMPLE_RUN)
    @sub_action("test", RunParams, "The same as run; what the test pane sends.", example=_EXAMPLE_RUN)
    def run_body(self, ctx: Ctx) -> Result:
        p = ctx.params
        return self._invoke(ctx, _model(ctx), p.body, p.timeout, raw=bool(p.raw))

    @sub_action("invokeAI", InvokeAIParams, "Send chat messages and get the answer's text.", example=_EXAMPLE_CHAT)
    def invoke_ai(self, ctx: ChatCtx) -> Result:
        result = self._invoke(ctx, _model(ctx), json.dumps(anthropic_body(ctx.params, ctx.config)), ctx.params.timeout)
        data = drop_none({"message": result.data["completion"].strip(), "usage": result.data.get("usage")})
        return Result.ok(data, usage=result.usage)

    @sub_action(
        "invokeAIRaw", InvokeAIRawParams, "Send Messages API messages as given; get the raw response.",
        example=_EXAMPLE_CHAT,
    )
    def invoke_ai_raw(self, ctx: RawCtx) -> Result:
        return self._invoke(ctx, _model(ctx), json.dumps(raw_anthropic_body(ctx.params)), ctx.params.timeout, raw=True)

    @sub_action(
        "invokeStream", InvokeAIParams, "Like invokeAI, streaming the answer as it is written.", example=_EXAMPLE_CHAT
    )
    def invoke_stream(self, ctx: ChatCtx) -> Generator[str, None, Result]:
        model = _model(ctx)
        body = anthropic_body(ctx.params, ctx.config)
        return (yield from self._stream(ctx, model, "invoke-with-response-stream", body, converse=False))

    @sub_action("converse", ConverseParams, "Call the Converse API.", example=_EXAMPLE_CONVERSE)
    def converse(self, ctx: ConverseCtx) -> Result:
        model = _model(ctx)
        body = json.dumps(converse_body(ctx.params, ctx.config, model)).encode()
        data = json_object(self._post(ctx, model, "converse", body, ctx.params.timeout))
        return Result.ok(data, usage=converse_usage(data.get("usage")))

    @sub_action(
        "converseStream", ConverseParams, "Call the ConverseStream API, streaming the answer.",
        example=_EXAMPLE_CONVERSE,
    )
    def converse_stream(self, ctx: ConverseCtx) -> Generator[str, None, Result]:
        model = _model(ctx)
        body = converse_body(ctx.params, ctx.config, model)
        return (yield from self._stream(ctx, model, "converse-stream", body, converse=True))

    @lookup("models", description="The text models and inference profiles the account can invoke.")
    def list_models(self, ctx: LookupCtx) -> Result:
        summaries = _list_of(self._get(ctx, "/foundation-models", {"byOutputModality": "TEXT"}), "modelSummaries")
        profiles: list = []
        token: Any = None
        for _ in range(MAX_PROFILE_PAGES):
            query = {"maxResults": str(PROFILE_PAGE_SIZE), **({"nextToken": token} if token else {})}
            page = self._get(ctx, "/inference-profiles", query)
            profiles += _list_of(page, "inferenceProfileSummaries")
            token = page.get("nextToken")
            if not isinstance(token, str) or not token:
                break
        return Result.ok(model_choices(summaries, profiles))

    # ------------------------------------------------------------- the calls

    def _get(self, ctx: Context, path: str, query: dict[str, str]) -> dict:
        url, headers = sign_get(ctx.config, ctx.secrets, path, query)
        return json_object(call_api(ctx.http, "GET", url, headers=headers, error_text=error_text))

    def _post(self, ctx: Context, model: str, operation: str, body: bytes, timeout_ms: int | None,
              *, stream: bool = False) -> OutboundResponse:
        url, headers = sign(ctx.config, ctx.secrets, f"/model/{encode_model(model)}/{operation}", body, stream=stream)
        read_timeout = timeout_ms / 1000 if timeout_ms else self.read_timeout
        return call_api(ctx.http, "POST", url, headers=headers, data=body, read_timeout=read_timeout, stream=stream,
                        error_text=error_text)

    def _invoke(self, ctx: Context, model: str, body: str, timeout_ms: int | None, *, raw: bool = False) -> Result:
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

    def _stream(self, ctx: Context, model: str, operation: str, body: dict, *, converse: bool
                ) -> Generator[str, None, Result]:
        """Yield each text delta as its frame arrives; return the whole answer with token usage."""
        from botocore.eventstream import EventStreamBuffer, ParserError  # only streamed Bedrock runs need it

        response = self._post(ctx, model, operation, json.dumps(body).encode(), ctx.params.timeout, stream=True)
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


def _model(ctx: Context[BedrockConfig, BedrockSecrets, Schema]) -> str:
    """The requested model, else the connector's default; ends the run when there is neither."""
    requested = getattr(ctx.params, "model", None)
    model = (requested or "").strip() or (ctx.config.defaultModel or "").strip()
    if not model:
        raise Failed(Result.error(NO_MODEL))
    return model


def _list_of(data: dict, key: str) -> list:
    found = data.get(key, [])
    if not isinstance(found, list):
        raise Failed(invalid_response(f"[{key}]: expected value of type [array]"))
    return found


def model_choices(summaries: list, profiles: list) -> list[dict[str, str]]:
    """What the Default model field offers: `{id, name, provider}`, by provider then name.

    A foundation model is offered by its id when it answers on demand; one that answers only through an
    inference profile (newer Claude, Llama) or only with provisioned throughput is not, since invoking
    its bare id fails. Inference profiles are offered when a model they route to writes text. LEGACY
    models, and profiles that route only to them, are left out: they still run, but are being retired.
    """
    text_models: dict[str, tuple[dict, bool]] = {}
    choices: list[dict[str, str]] = []
    for s in summaries:
        if not isinstance(s, dict) or not isinstance(s.get("modelId"), str):
            continue
        # The query asks for text models; a gateway that ignores the filter is filtered here, and one
        # that leaves fields out is taken at its word that the model writes text on demand.
        if "TEXT" not in _strings(s.get("outputModalities", ["TEXT"])):
            continue
        lifecycle = s.get("modelLifecycle")
        active = not (isinstance(lifecycle, dict) and lifecycle.get("status") == "LEGACY")
        text_models[s["modelId"]] = (s, active)
        if active and "ON_DEMAND" in _strings(s.get("inferenceTypesSupported", ["ON_DEMAND"])):
            choices.append(_choice(s["modelId"], s.get("modelName"), s.get("providerName")))
    for p in profiles:
        if not isinstance(p, dict) or p.get("status", "ACTIVE") != "ACTIVE":
            continue
        # Application profiles are invoked by ARN; system-defined ones by their id (`us.anthropic…`).
        key = "inferenceProfileArn" if p.get("type") == "APPLICATION" else "inferenceProfileId"
        if not isinstance(p.get(key), str):
            continue
        models = p.get("models")
        arns = [m.get("modelArn") for m in models if isinstance(m, dict)] if isinstance(models, list) else []
        routed = [text_models.get(a.rsplit("/", 1)[-1]) for a in arns if isinstance(a, str)]
        live = [found[0] for found in routed if found and found[1]]
        if live:
            choices.append(_choice(p[key], p.get("inferenceProfileName"), live[0].get("providerName")))
    unique = {c["id"]: c for c in choices}
    return sorted(unique.values(), key=lambda c: (c["provider"].lower(), c["name"].lower(), c["id"]))


def _strings(value: Any) -> list:
    return value if isinstance(value, list) else []


def _choice(model_id: str, name: Any, provider: Any) -> dict[str, str]:
    return {
        "id": model_id,
        "name": name if isinstance(name, str) and name else model_id,
        "provider": provider if isinstance(provider, str) else "",
    }
