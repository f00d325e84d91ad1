"""A fake Amazon Bedrock (runtime and control plane) on 127.0.0.1 that checks SigV4 signatures like AWS does.

    with FakeBedrock() as bedrock:
        config = {"apiUrl": bedrock.url}
        secrets = {"accessKey": ACCESS_KEY, "secret": SECRET_KEY}

Runtime routes (POST): /model/{id}/invoke, /converse, /invoke-with-response-stream, /converse-stream.
Control-plane routes (GET), which AWS serves from `bedrock.<region>` and this fake from the same port:
/foundation-models (ListFoundationModels: `FOUNDATION_MODELS`, filtered by byOutputModality, byProvider,
byInferenceType) and /inference-profiles (ListInferenceProfiles: `INFERENCE_PROFILES`, paged by
maxResults/nextToken, at most `profile_page_size` a page). `control_errors[path] = (status, kind, message)`
makes a control-plane route fail, e.g. `THROTTLING` or `access_denied("ListInferenceProfiles")`.
Anything else answers 400 "The requested operation is not recognized by the service.", as AWS does
for a URL that is not a bedrock-runtime endpoint. Replies echo the last user text (`reply_for`).

Model ids that trigger failures (substring match):
  "stream-error"  streams start, then a mid-stream throttlingException frame
  "throttle"      429 ThrottlingException
  "server-error"  500 InternalServerException
  "invalid-model" 400 ValidationException "The provided model identifier is invalid."
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from tests.fakes.eventstream import CONTENT_TYPE as EVENT_STREAM
from tests.fakes.eventstream import chunk_frame, event_frame, exception_frame
from tests.fakes.server import FakeServer

ACCESS_KEY = "AKIAFAKEBEDROCK00001"
SECRET_KEY = "fake/bedrock+secret+key/0123456789abcdefXYZ"
STREAM_ERROR_MODEL = "anthropic.stream-error-v1:0"
NOT_RECOGNIZED = "The requested operation is not recognized by the service."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
THROTTLED = "Too many tokens, please wait before trying again."
ACCOUNT = "123456789012"
THROTTLING = (429, "ThrottlingException", "Too many requests, please wait before trying again.")


def access_denied(action: str) -> tuple[int, str, str]:
    """The 403 an IAM policy without `bedrock:<action>` gets."""
    return (
        403,
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/switchboard is not authorized to perform: bedrock:{action} "
        f"because no identity-based policy allows the bedrock:{action} action",
    )


def _model(model_id: str, name: str, provider: str, *, inputs=("TEXT",), outputs=("TEXT",),
           inference=("ON_DEMAND",), status="ACTIVE", streaming=True, customizations=()) -> dict:
    """A FoundationModelSummary as ListFoundationModels writes it (`modelArn` is filled in per region)."""
    return {
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": list(inputs),
        "outputModalities": list(outputs),
        "responseStreamingSupported": streaming,
        "customizationsSupported": list(customizations),
        "inferenceTypesSupported": list(inference),
        "modelLifecycle": {"status": status},
    }


# What a us-east-1 account sees, cut down: on-demand and profile-only text models, a provisioned-only
# context-window variant, a LEGACY model, and image and embedding models that a TEXT filter drops.
FOUNDATION_MODELS = [
    _model("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic", inputs=("TEXT", "IMAGE")),
    _model("anthropic.claude-3-haiku-20240307-v1:0:200k", "Claude 3 Haiku", "Anthropic", inputs=("TEXT", "IMAGE"),
           inference=("PROVISIONED",)),
    _model("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet v2", "Anthropic",
           inputs=("TEXT", "IMAGE"), inference=("INFERENCE_PROFILE",)),
    _model("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "Anthropic", inputs=("TEXT", "IMAGE"),
           inference=("INFERENCE_PROFILE",)),
    _model("anthropic.claude-v2:1", "Claude", "Anthropic", status="LEGACY"),
    _model("amazon.titan-text-express-v1", "Titan Text G1 - Express", "Amazon",
           customizations=("FINE_TUNING", "CONTINUED_PRE_TRAINING")),
    _model("amazon.titan-text-premier-v1:0", "Titan Text G1 - Premier", "Amazon"),
    _model("amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "Amazon", outputs=("EMBEDDING",),
           streaming=False),
    _model("amazon.titan-image-generator-v2:0", "Titan Image Generator G1 v2", "Amazon", inputs=("TEXT", "IMAGE"),
           outputs=("IMAGE",), streaming=False),
    _model("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct", "Meta"),
    _model("meta.llama3-3-70b-instruct-v1:0", "Llama 3.3 70B Instruct", "Meta", inference=("INFERENCE_PROFILE",)),
    _model("cohere.embed-v4:0", "Embed v4", "Cohere", inputs=("TEXT", "IMAGE"), outputs=("EMBEDDING",),
           streaming=False, inference=("INFERENCE_PROFILE",)),
]
US_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
# (id, name, description, foundation model): SYSTEM_DEFINED cross-region profiles, plus one of the
# account's own APPLICATION profiles, which is invoked by its ARN.
INFERENCE_PROFILES = [
    ("us.anthropic.claude-3-haiku-20240307-v1:0", "US Anthropic Claude 3 Haiku",
     "Routes requests to Anthropic Claude 3 Haiku in us-east-1, us-east-2 and us-west-2.",
     "anthropic.claude-3-haiku-20240307-v1:0"),
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "US Anthropic Claude 3.5 Sonnet v2",
     "Routes requests to Anthropic Claude 3.5 Sonnet v2 in us-east-1, us-east-2 and us-west-2.",
     "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "US Claude Sonnet 4.5",
     "Routes requests to Claude Sonnet 4.5 in us-east-1, us-east-2 and us-west-2.",
     "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("us.meta.llama3-3-70b-instruct-v1:0", "US Meta Llama 3.3 70B Instruct",
     "Routes requests to Meta Llama 3.3 70B Instruct in us-east-1, us-east-2 and us-west-2.",
     "meta.llama3-3-70b-instruct-v1:0"),
    ("us.cohere.embed-v4:0", "US Cohere Embed v4",
     "Routes requests to Cohere Embed v4 in us-east-1, us-east-2 and us-west-2.", "cohere.embed-v4:0"),
    ("k3v9xq2m7p1z", "support-bot-haiku", "Claude 3 Haiku for the support team's bot, tagged for cost.",
     "anthropic.claude-3-haiku-20240307-v1:0"),
]
APPLICATION_PROFILE_ID = "k3v9xq2m7p1z"
_MODALITIES = ("TEXT", "IMAGE", "EMBEDDING")
_INFERENCE_TYPES = ("ON_DEMAND", "PROVISIONED")


def application_profile_arn(region: str) -> str:
    return f"arn:aws:bedrock:{region}:{ACCOUNT}:application-inference-profile/{APPLICATION_PROFILE_ID}"

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})"
)
_ROUTE = re.compile(r"^/model/([^/]+)/(invoke|invoke-with-response-stream|converse|converse-stream)$")


def reply_for(prompt: str) -> str:
    """What the fake model answers to a prompt."""
    return f"Fake Bedrock heard: {prompt}"


def count_tokens(text: str) -> int:
    """The fake's token count: one per word."""
    return len(text.split())


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


@dataclass
class RecordedRequest:
    method: str
    path: str  # decoded
    raw_path: str  # as sent on the wire, e.g. /model/x%3A0/invoke
    headers: dict[str, str]
    body: bytes
    signature_ok: bool = False
    model: str | None = None  # decoded model id from the path
    region: str | None = None  # from the signature's credential scope
    access_key: str | None = None
    service: str | None = None  # the signing name in the credential scope
    raw_query: str = ""  # as sent on the wire, e.g. nextToken=eyJ...%3D%3D
    query: dict[str, list[str]] = field(default_factory=dict)  # decoded

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class FakeBedrock:
    """The fake service. `requests` lists every request received, in order."""

    credentials: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY: SECRET_KEY})
    frame_delay: float = 0.01
    region: str | None = None  # when set, signatures scoped to another region are refused
    requests: list[RecordedRequest] = field(default_factory=list)
    stream_frames_sent: int = 0
    profile_page_size: int = 1000  # ListInferenceProfiles' page, whatever maxResults asks for
    control_errors: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # path -> (status, kind, message)

    def __post_init__(self) -> None:
        self._server = FakeServer(self._wsgi)
        self.url = self._server.url
        self.port = self._server.port
        self._lock = threading.Lock()

    def start(self) -> FakeBedrock:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # --- HTTP ---------------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path, _, raw_query = raw.partition("?")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=raw_path,
            headers=dict(request.headers.items()),
            body=request.get_data(),
            raw_query=raw_query,
            query=parse_qs(raw_query, keep_blank_values=True),
        )
        self.requests.append(recorded)
        refusal = self._check_signature(request, raw, recorded)
        if refusal is not None:
            return refusal
        if request.method == "GET" and raw_path in ("/foundation-models", "/inference-profiles"):
            return self._control_plane(raw_path, recorded)
        route = _ROUTE.match(raw_path)
        if request.method != "POST" or route is None:
            return _error(400, "UnknownOperationException", NOT_RECOGNIZED)
        model, operation = unquote(route.group(1)), route.group(2)
        recorded.model = model
        try:
            body = json.loads(recorded.body)
        except ValueError:
            return _error(400, "ValidationException", "Malformed input request, please reformat your input and try again.")
        if "throttle" in model:
            return _error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        if "server-error" in model:
            return _error(500, "InternalServerException", "The server encountered an internal error.")
        if "invalid-model" in model:
            return _error(400, "ValidationException", "The provided model identifier is invalid.")
        if operation.startswith("converse"):
            problem = _check_converse(body)
        else:
            problem = _check_anthropic(body)
        if problem:
            return _error(400, "ValidationException", problem)
        if operation == "invoke":
            return _json(200, _invoke_reply(model, body))
        if operation == "converse":
            return _json(200, _converse_reply(body))
        frames = _invoke_stream(model, body) if operation == "invoke-with-response-stream" else _converse_stream(body)
        return Response(self._paced(frames), status="200 OK", content_type=EVENT_STREAM, direct_passthrough=True)

    def _paced(self, frames):
        for i, frame in enumerate(frames):
            if i:
                time.sleep(self.frame_delay)
            with self._lock:
                self.stream_frames_sent += 1
            yield frame

    def _check_signature(self, request: Request, raw: str, recorded: RecordedRequest) -> Response | None:
        match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
        if match is None:
            return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        ak, _date, region, service, signed, signature = match.groups()
        recorded.access_key, recorded.region, recorded.service = ak, region, service
        if ak not in self.credentials:
            return _error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if service != "bedrock":
            return _error(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'.")
        if self.region and region != self.region:
            return _error(
                403, "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{region}'."
            )
        names = signed.split(";")
        if "host" not in names or any(n not in request.headers for n in names):
            return _error(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        headers = {n: request.headers[n] for n in names}
        path, _, query = raw.partition("?")
        # Rebuild from the raw path: the canonical URI must see %3A, not the decoded ':'.
        aws = AWSRequest(
            method=request.method,
            url=f"https://{headers['host']}{path}" + (f"?{query}" if query else ""),
            data=recorded.body,
            headers=headers,
        )
        aws.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(ak, self.credentials[ak]), service, region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if not hmac.compare_digest(expected, signature):
            return _error(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        recorded.signature_ok = True
        return None


    # --- control plane ------------------------------------------------------------------------------

    def _control_plane(self, path: str, recorded: RecordedRequest) -> Response:
        if path in self.control_errors:
            return _error(*self.control_errors[path])
        query = {k: v[-1] for k, v in recorded.query.items()}
        region = recorded.region or "us-east-1"
        if path == "/foundation-models":
            return _list_foundation_models(query, region)
        return self._list_inference_profiles(query, region)

    def _list_inference_profiles(self, query: dict[str, str], region: str) -> Response:
        try:
            asked = int(query.get("maxResults", "1000"))
        except ValueError:
            asked = 0
        if not 1 <= asked <= 1000:
            return _validation("maxResults", query.get("maxResults"), "Member must have value between 1 and 1000")
        start = 0
        if "nextToken" in query:
            try:
                start = json.loads(base64.b64decode(query["nextToken"], validate=True))["offset"]
            except (binascii.Error, ValueError, KeyError, TypeError):
                return _error(400, "ValidationException", "The provided pagination token is invalid.")
        profiles = [_profile(p, region) for p in INFERENCE_PROFILES]
        wanted = query.get("type")
        if wanted:
            profiles = [p for p in profiles if p["type"] == wanted]
        end = start + min(asked, self.profile_page_size)
        body: dict = {"inferenceProfileSummaries": profiles[start:end]}
        if end < len(profiles):
            # Standard base64 with padding: a token with '+' and '=' in it tests the query's encoding.
            body["nextToken"] = base64.b64encode(json.dumps({"offset": end, "pad": "?>"}).encode()).decode()
        return _json(200, body)


def _validation(name: str, value, constraint: str) -> Response:
    message = f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: {constraint}"
    return _error(400, "ValidationException", message)


def _list_foundation_models(query: dict[str, str], region: str) -> Response:
    models = [{**m, "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{m['modelId']}"} for m in FOUNDATION_MODELS]
    for name, allowed, key in (
        ("byOutputModality", _MODALITIES, "outputModalities"),
        ("byInferenceType", _INFERENCE_TYPES, "inferenceTypesSupported"),
    ):
        if name in query:
            if query[name] not in allowed:
                return _validation(name, query[name], f"Member must satisfy enum value set: [{', '.join(allowed)}]")
            models = [m for m in models if query[name] in m[key]]
    if "byProvider" in query:
        models = [m for m in models if m["providerName"].lower() == query["byProvider"].lower()]
    return _json(200, {"modelSummaries": models})


def _profile(entry: tuple[str, str, str, str], region: str) -> dict:
    profile_id, name, description, model_id = entry
    application = profile_id == APPLICATION_PROFILE_ID
    regions = (region,) if application else US_REGIONS
    arn = application_profile_arn(region) if application else (
        f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{profile_id}"
    )
    return {
        "inferenceProfileName": name,
        "description": description,
        "createdAt": "2024-08-27T00:00:00+00:00",
        "updatedAt": "2025-09-29T00:00:00+00:00",
        "inferenceProfileArn": arn,
        "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model_id}"} for r in regions],
        "inferenceProfileId": profile_id,
        "status": "ACTIVE",
        "type": "APPLICATION" if application else "SYSTEM_DEFINED",
    }


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=f"{status} {HTTP_STATUS_CODES[status]}",
        content_type="application/json",
        headers={"x-amzn-RequestId": "00000000-fake-4bed-rock-000000000000", **(headers or {})},
    )


def _error(status: int, kind: str, message: str) -> Response:
    return _json(status, {"message": message}, {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/"})


# --- Anthropic Messages API (InvokeModel) -------------------------------------------------------------


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _check_anthropic(body: dict) -> str | None:
    if "prompt" in body:
        return None  # legacy Claude 2 text completion
    if "anthropic_version" not in body:
        return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
    if "max_tokens" not in body:
        return "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Malformed input request: #/messages: expected minimum item count: 1, please reformat your input and try again."
    for before, after in itertools.pairwise(messages):
        if before.get("role") == after.get("role"):
            role = after.get("role")
            return f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
    if any(m.get("role") not in ("user", "assistant") for m in messages):
        return "messages: Unexpected role. Allowed roles are \"user\" or \"assistant\""
    return None


def _last_user_text(messages: list) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text_of(m.get("content"))
    return ""


def _prompt_tokens(body: dict) -> int:
    system = body.get("system")
    text = " ".join(_text_of(m.get("content")) for m in body.get("messages", []) if isinstance(m, dict))
    return count_tokens(text) + count_tokens(_text_of(system) if system else "")


def _invoke_reply(model: str, body: dict) -> dict:
    if "prompt" in body:
        prompt = body["prompt"].rsplit("Human:", 1)[-1].split("Assistant:", 1)[0].strip()
        return {"completion": " " + reply_for(prompt), "stop_reason": "stop_sequence", "stop": "\n\nHuman:"}
    text = reply_for(_last_user_text(body["messages"]))
    return {
        "id": "msg_bdrk_fake0001",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": _prompt_tokens(body), "output_tokens": count_tokens(text)},
    }


def _invoke_stream(model: str, body: dict):
    text = reply_for(_last_user_text(body["messages"]))
    prompt_tokens, output_tokens = _prompt_tokens(body), count_tokens(text)
    yield chunk_frame(
        {
            "type": "message_start",
            "message": {
                "id": "msg_bdrk_fake0002",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
            },
        }
    )
    yield chunk_frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for n, piece in enumerate(_words(text)):
        if "stream-error" in model and n == 2:
            yield exception_frame("throttlingException", THROTTLED)
            return
        yield chunk_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
    yield chunk_frame({"type": "content_block_stop", "index": 0})
    yield chunk_frame(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
    )
    yield chunk_frame(
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": prompt_tokens,
                "outputTokenCount": output_tokens,
                "invocationLatency": 42,
                "firstByteLatency": 7,
            },
        }
    )


# --- Converse API -------------------------------------------------------------------------------------


def _check_converse(body: dict) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "The model returned the following errors: messages must not be empty"
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), list):
            return "1 validation error detected: Value at 'messages.1.member.content' failed to satisfy constraint: Member must not be null"
    return None


def _converse_usage(body: dict, text: str) -> dict:
    system = _text_of(body.get("system") or [])
    prompt = " ".join(_text_of(m["content"]) for m in body["messages"])
    prompt_tokens = count_tokens(prompt) + count_tokens(system)
    out = count_tokens(text)
    return {"inputTokens": prompt_tokens, "outputTokens": out, "totalTokens": prompt_tokens + out}


def _converse_reply(body: dict) -> dict:
    text = reply_for(_last_user_text(body["messages"]))
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": _converse_usage(body, text),
        "metrics": {"latencyMs": 42},
    }


def _converse_stream(body: dict):
    text = reply_for(_last_user_text(body["messages"]))
    yield event_frame("messageStart", {"role": "assistant", "p": "abcd"})
    for piece in _words(text):
        yield event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}, "p": "abcd"})
    yield event_frame("contentBlockStop", {"contentBlockIndex": 0, "p": "abcd"})
    yield event_frame("messageStop", {"stopReason": "end_turn", "p": "abcd"})
    yield event_frame("metadata", {"usage": _converse_usage(body, text), "metrics": {"latencyMs": 42}, "p": "abcd"})
