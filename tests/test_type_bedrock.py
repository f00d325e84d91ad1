"""The `.bedrock` type's executor against the fake Bedrock runtime (SigV4 checked, real event streams)."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from app.outbound import BoundHttp, OutboundClient, Trace
from app.settings import OutboundSettings
from app.types.bedrock import (
    ENDPOINT_HINT,
    EVENT_STREAM,
    GENERIC_ERROR,
    NO_MODEL,
    NOT_RECOGNIZED,
    Bedrock,
    BedrockConfig,
    BedrockSecrets,
    http_error,
    region_of,
)
from app.types.kit import InvalidSettings, ParamsError, Result
from app.types.kit.tokens import MemoryTokenStore
from tests.fakes.bedrock import (
    ACCESS_KEY,
    SECRET_KEY,
    SIGNATURE_MISMATCH,
    STREAM_ERROR_MODEL,
    THROTTLED,
    FakeBedrock,
    count_tokens,
    reply_for,
)

BEDROCK = Bedrock()
CLIENT = OutboundClient(OutboundSettings())
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
PROFILE_ARN_PATH = (
    "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/invoke"
)


@pytest.fixture(autouse=True)
def _sigv4_only(monkeypatch):
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)


@pytest.fixture
def bedrock():
    with FakeBedrock() as fake:
        yield fake


def execute(url, sub_action, params, *, config=None, secrets=None, trace=None):
    """Run like the one execution path does: validated settings, parsed params, a bound client."""
    config = {"apiUrl": url, **(config or {})}
    secrets = {"accessKey": ACCESS_KEY, "secret": SECRET_KEY, **(secrets or {})}
    trace = trace if trace is not None else Trace(secrets=[secrets["accessKey"], secrets["secret"]])
    ctx = BEDROCK.context("c-1", "My Bedrock", config, secrets, {"subAction": sub_action, "subActionParams": params},
                          http=BoundHttp(CLIENT, trace), tokens=MemoryTokenStore())
    return BEDROCK.run(ctx)


def drain(stream, on_delta=None):
    """Every delta a streaming execution yields, and the Result it returns."""
    deltas = []
    for _ in range(10_000):
        try:
            delta = next(stream)
        except StopIteration as stop:
            return deltas, stop.value
        deltas.append(delta)
        if on_delta:
            on_delta(delta)
    raise AssertionError("stream did not end")


def user_says(text):
    return {"messages": [{"role": "user", "content": text}]}


# --- run / test -----------------------------------------------------------------------------------------


def test_test_sub_action_answers_with_completion_text_and_token_usage(bedrock):
    result = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"])

    assert result.status == "ok", result
    answer = reply_for("Hello world")
    assert result.data["completion"] == answer
    assert result.data["stop_reason"] == "end_turn"
    assert result.data["usage"] == {"input_tokens": 2, "output_tokens": count_tokens(answer)}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2, count_tokens(answer))
    assert result.usage.total_tokens == 2 + count_tokens(answer)


def test_requests_are_signed_for_the_api_url_host_with_the_default_model(bedrock):
    execute(bedrock.url, "run", BEDROCK.test_params["subActionParams"])

    sent = bedrock.last_request
    assert sent.signature_ok
    assert sent.headers["Host"] == f"127.0.0.1:{bedrock.port}"
    assert sent.raw_path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "*/*"
    assert sent.region == "us-east-1"
    assert "SignedHeaders=accept;content-type;host;x-amz-date" in sent.headers["Authorization"]


def test_wrong_secret_is_refused_by_the_signature_check(bedrock):
    result = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"], secrets={"secret": "not-the-secret"})

    assert result.status == "error"
    assert result.message == GENERIC_ERROR
    assert result.service_message == f"Status code: 403. Message: API Error: Forbidden - {SIGNATURE_MISMATCH}"
    assert result.retry is False
    assert not bedrock.last_request.signature_ok


def test_unknown_access_key_is_refused(bedrock):
    result = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"], secrets={"accessKey": "AKIANOBODY"})

    assert result.service_message == (
        "Status code: 403. Message: API Error: Forbidden - The security token included in the request is invalid."
    )


def test_url_that_is_not_a_runtime_endpoint_gets_the_reconfigure_hint(bedrock):
    result = execute(f"{bedrock.url}/bedrock/", "test", BEDROCK.test_params["subActionParams"])

    assert result.status == "error"
    assert result.service_message == f"Status code: 400. Message: API Error: {NOT_RECOGNIZED}\n\n{ENDPOINT_HINT}"
    assert "bedrock-runtime" in ENDPOINT_HINT
    assert bedrock.last_request.raw_path.startswith("/bedrock/model/")
    assert bedrock.last_request.signature_ok


def test_legacy_prompt_body_returns_the_claude_2_shape(bedrock):
    body = json.dumps({"prompt": "\n\nHuman: Tell me a joke\n\nAssistant:", "max_tokens_to_sample": 300})

    result = execute(bedrock.url, "run", {"body": body, "model": "anthropic.claude-v2"})

    assert result.status == "ok", result
    assert result.data == {"completion": " " + reply_for("Tell me a joke"), "stop_reason": "stop_sequence"}


def test_raw_run_returns_the_providers_json(bedrock):
    result = execute(bedrock.url, "run", {**BEDROCK.test_params["subActionParams"], "raw": True})

    assert result.data["content"] == [{"type": "text", "text": reply_for("Hello world")}]
    assert result.data["id"] == "msg_bdrk_fake0001"
    assert result.usage.prompt_tokens == 2


@pytest.mark.parametrize(
    ("model", "status_text", "retry"),
    [
        ("throttle-model", "429. Message: API Error: Too Many Requests - Too many requests", True),
        ("server-error-model", "500. Message: API Error: Internal Server Error - The server encountered", True),
        ("invalid-model", "400. Message: API Error: Bad Request - The provided model identifier is invalid.", False),
    ],
)
def test_throttling_and_server_errors_ask_for_a_retry_and_client_errors_do_not(bedrock, model, status_text, retry):
    result = execute(bedrock.url, "run", {**BEDROCK.test_params["subActionParams"], "model": model})

    assert result.service_message.startswith(f"Status code: {status_text}")
    assert result.retry is retry


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "The api key was invalid."}, "Unauthorized API Error: The api key was invalid."),
        ({}, "Unauthorized API Error"),
    ],
)
def test_401_is_reported_as_an_unauthorized_api_error(body, expected):
    response = SimpleNamespace(status_code=401, reason="Unauthorized", json=lambda: body)

    result = http_error(response)

    assert result.service_message == f"Status code: 401. Message: {expected}"
    assert result.retry is False


def test_unreachable_service_is_an_unexpected_api_error_worth_retrying():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    result = execute(f"http://127.0.0.1:{port}", "test", BEDROCK.test_params["subActionParams"])

    assert result.status == "error"
    assert result.service_message.startswith("Unexpected API Error: connection_refused - ")
    assert result.retry is True


# --- models and regions ---------------------------------------------------------------------------------


def test_model_override_replaces_the_default_and_is_encoded_once(bedrock):
    result = execute(bedrock.url, "run", {**BEDROCK.test_params["subActionParams"], "model": HAIKU})

    assert result.status == "ok", result
    assert bedrock.last_request.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    assert bedrock.last_request.model == HAIKU


@pytest.mark.parametrize("model", [PROFILE_ARN, PROFILE_ARN.replace(":", "%3A").replace("/", "%2F")])
def test_inference_profile_arn_is_encoded_exactly_once(bedrock, model):
    result = execute(bedrock.url, "run", {**BEDROCK.test_params["subActionParams"], "model": model})

    assert result.status == "ok", result
    assert bedrock.last_request.raw_path == PROFILE_ARN_PATH
    assert "%25" not in bedrock.last_request.raw_path
    assert bedrock.last_request.model == PROFILE_ARN
    assert bedrock.last_request.signature_ok


def test_no_model_anywhere_gives_kibanas_message_without_calling_bedrock(bedrock):
    result = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"], config={"defaultModel": None})
    deltas, streamed = drain(execute(bedrock.url, "invokeStream", user_says("Hi"), config={"defaultModel": ""}))

    assert result.status == "error" and result.message == NO_MODEL
    assert deltas == [] and streamed.message == NO_MODEL
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("config", "region"),
    [
        ({"apiUrl": "https://bedrock-runtime.eu-west-3.amazonaws.com"}, "eu-west-3"),
        ({"apiUrl": "https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com"}, "us-gov-west-1"),
        ({"apiUrl": "https://vpce-0a1b2c.bedrock-runtime.ap-south-1.vpce.amazonaws.com"}, "ap-south-1"),
        ({"apiUrl": "https://bedrock-runtime.eu-west-3.amazonaws.com", "region": "us-west-2"}, "us-west-2"),
        ({"apiUrl": "https://bedrock-proxy.example.com"}, "us-east-1"),
        ({"apiUrl": "http://127.0.0.1:8080", "region": ""}, "us-east-1"),
    ],
)
def test_region_is_explicit_else_read_from_the_url_host_else_us_east_1(config, region):
    assert region_of(BedrockConfig.model_validate(config)) == region


def test_explicit_region_scopes_the_signature():
    with FakeBedrock(region="eu-central-1") as bedrock:
        scoped = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"], config={"region": "eu-central-1"})
        unscoped = execute(bedrock.url, "test", BEDROCK.test_params["subActionParams"])

    assert scoped.status == "ok", scoped
    assert bedrock.requests[0].region == "eu-central-1"
    assert unscoped.status == "error"
    assert "Credential should be scoped to a valid region" in unscoped.service_message


# --- invokeAI / invokeAIRaw / converse ------------------------------------------------------------------


def test_invoke_ai_merges_system_messages_and_same_role_runs(bedrock):
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "ai", "content": "noted"},
        {"role": "human", "content": "third"},
    ]

    result = execute(bedrock.url, "invokeAI", {"messages": messages, "system": "You are a test."})

    assert result.status == "ok", result
    sent = bedrock.last_request.json
    assert sent["system"] == "You are a test.\nAnswer briefly."
    assert sent["messages"] == [
        {"role": "user", "content": "first\nsecond"},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "third"},
    ]
    assert sent["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["max_tokens"] == 8191
    assert sent["temperature"] == 0
    assert result.data["message"] == reply_for("third")
    assert result.data["usage"]["output_tokens"] == count_tokens(reply_for("third"))
    assert result.usage.prompt_tokens == count_tokens("first second noted third You are a test. Answer briefly.")


def test_invoke_ai_falls_back_to_the_connectors_temperature(bedrock):
    execute(bedrock.url, "invokeAI", user_says("Hi"), config={"temperature": 0.4})
    connector_default = bedrock.last_request.json["temperature"]
    execute(bedrock.url, "invokeAI", {**user_says("Hi"), "temperature": 0.9}, config={"temperature": 0.4})

    assert connector_default == 0.4
    assert bedrock.last_request.json["temperature"] == 0.9


def test_invoke_ai_sends_tools_and_raw_content(bedrock):
    tool = {"name": "lookup", "description": "Look it up", "input_schema": {"type": "object"}}
    messages = [{"role": "user", "rawContent": [{"type": "text", "text": "Use the tool"}]}]

    result = execute(bedrock.url, "invokeAI", {"messages": messages, "tools": [tool], "toolChoice": {"type": "auto"}})

    assert result.status == "ok", result
    sent = bedrock.last_request.json
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Use the tool"}]}]
    assert sent["tools"] == [tool]
    assert sent["tool_choice"] == {"type": "auto"}


def test_invoke_ai_raw_returns_the_providers_response(bedrock):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Raw hello"}]}]

    result = execute(bedrock.url, "invokeAIRaw", {"messages": messages, "maxTokens": 50})

    assert result.status == "ok", result
    assert result.data["content"][0]["text"] == reply_for("Raw hello")
    assert bedrock.last_request.json["max_tokens"] == 50
    assert bedrock.last_request.json["messages"] == messages


def test_converse_returns_the_answer_and_reports_token_usage(bedrock):
    params = {
        "messages": [{"role": "user", "content": [{"text": "Hi there"}]}],
        "system": [{"text": "Be brief"}],
        "maxTokens": 100,
        "model": HAIKU,
    }

    result = execute(bedrock.url, "converse", params)

    assert result.status == "ok", result
    assert result.data["output"]["message"]["content"] == [{"text": reply_for("Hi there")}]
    out = count_tokens(reply_for("Hi there"))
    assert result.data["usage"] == {"inputTokens": 4, "outputTokens": out, "totalTokens": 4 + out}
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (4, out, 4 + out)
    sent = bedrock.last_request
    assert sent.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert sent.json["inferenceConfig"] == {"maxTokens": 100}
    assert sent.json["modelId"] == HAIKU
    assert "toolConfig" not in sent.json


# --- streaming ------------------------------------------------------------------------------------------


def test_invoke_stream_yields_deltas_in_order_then_the_whole_answer_with_usage(bedrock):
    deltas, result = drain(execute(bedrock.url, "invokeStream", user_says("Tell me about streams")))

    answer = reply_for("Tell me about streams")
    assert len(deltas) == count_tokens(answer) > 3
    assert "".join(deltas) == answer
    assert result.status == "ok", result
    assert result.data == {
        "message": answer,
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 4, "output_tokens": count_tokens(answer)},
    }
    assert result.usage.total_tokens == 4 + count_tokens(answer)
    sent = bedrock.last_request
    assert sent.raw_path.endswith("/invoke-with-response-stream")
    assert sent.headers["Accept"] == EVENT_STREAM
    assert sent.signature_ok


def test_invoke_stream_yields_text_before_the_stream_has_ended():
    seen_at_first_delta = []
    with FakeBedrock(frame_delay=0.05) as bedrock:

        def note(_delta):
            if not seen_at_first_delta:
                seen_at_first_delta.append(bedrock.stream_frames_sent)

        _deltas, result = drain(execute(bedrock.url, "invokeStream", user_says("one two three")), note)

    assert result.status == "ok", result
    assert seen_at_first_delta[0] < bedrock.stream_frames_sent


def test_mid_stream_exception_ends_the_run_with_an_error(bedrock):
    params = {**user_says("This will be throttled soon"), "model": STREAM_ERROR_MODEL}

    deltas, result = drain(execute(bedrock.url, "invokeStream", params))

    assert len(deltas) == 2
    assert result.status == "error"
    assert result.message == GENERIC_ERROR
    assert result.service_message == f"throttlingException: {THROTTLED}"
    assert result.retry is True
    assert result.data == {"message": "".join(deltas)}


def test_stream_refused_before_it_starts_yields_nothing(bedrock):
    deltas, result = drain(execute(bedrock.url, "invokeStream", user_says("Hi"), secrets={"secret": "wrong-secret"}))

    assert deltas == []
    assert result.service_message.startswith("Status code: 403. Message: API Error: Forbidden")


def test_converse_stream_yields_deltas_and_reports_usage(bedrock):
    params = {"messages": [{"role": "user", "content": [{"text": "Stream this"}]}]}

    deltas, result = drain(execute(bedrock.url, "converseStream", params))

    answer = reply_for("Stream this")
    assert "".join(deltas) == answer and len(deltas) > 1
    assert result.data["output"]["message"]["content"] == [{"text": answer}]
    assert result.data["stopReason"] == "end_turn"
    assert result.usage.prompt_tokens == 2
    assert bedrock.last_request.raw_path.endswith("/converse-stream")


# --- secrets, params, config ----------------------------------------------------------------------------


@pytest.mark.parametrize("sub_action", ["test", "invokeStream"])
def test_trace_never_contains_the_access_key_or_secret(bedrock, sub_action):
    params = BEDROCK.test_params["subActionParams"] if sub_action == "test" else user_says("Hi")
    trace = Trace(secrets=[ACCESS_KEY, SECRET_KEY])

    outcome = execute(bedrock.url, sub_action, params, trace=trace)
    if not isinstance(outcome, Result):
        drain(outcome)

    recorded = json.dumps([e.as_dict() for e in trace.exchanges])
    assert len(trace.exchanges) == 1
    assert "Authorization" in trace.exchanges[0].request_headers
    assert SECRET_KEY not in recorded
    assert ACCESS_KEY not in recorded


def test_unknown_sub_action_is_refused_with_kibanas_text():
    with pytest.raises(ParamsError) as refused:
        BEDROCK.parse_params({"subAction": "summon", "subActionParams": {}}, "c-1", "My Bedrock")

    assert str(refused.value) == (
        'Sub action "summon" is not registered. Connector id: c-1. Connector name: My Bedrock. '
        "Connector type: .bedrock"
    )


@pytest.mark.parametrize(
    ("sub_action", "params", "expected"),
    [
        ("run", {}, "Request validation failed ([body]: Field required)"),
        ("run", {"body": "not json"}, "[body]: must be valid JSON"),
        (
            "invokeAI",
            {"messages": [{"role": "user", "content": "a", "rawContent": []}]},
            "[messages.0]: content and rawContent can not be used at the same time",
        ),
        ("invokeAI", {"messages": [{"role": "user"}]}, "[messages.0]: Must specify either content or rawContent"),
        ("invokeAI", {"messages": [], "maxTokens": 0}, "[maxTokens]"),
    ],
)
def test_params_validation_error_names_the_field(sub_action, params, expected):
    with pytest.raises(ParamsError) as refused:
        BEDROCK.parse_params({"subAction": sub_action, "subActionParams": params})

    assert expected in str(refused.value)


def test_config_needs_a_valid_url_and_secrets_need_both_keys():
    with pytest.raises(ValidationError):
        BedrockConfig.model_validate({"apiUrl": "bedrock-runtime.us-east-1.amazonaws.com"})
    with pytest.raises(ValidationError):
        BedrockSecrets.model_validate({"accessKey": ACCESS_KEY})
    assert BedrockConfig().apiUrl == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert BedrockConfig().defaultModel == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_connector_check_refuses_an_api_url_outside_the_allowed_hosts():
    config = {}
    secrets = {"accessKey": ACCESS_KEY, "secret": SECRET_KEY}

    with pytest.raises(InvalidSettings) as refused:
        BEDROCK.validate_connector(config, secrets, allowed_hosts=("127.0.0.1",))
    errors = refused.value.errors

    assert errors == {
        "config.apiUrl": 'Error configuring Amazon Bedrock action: target hostname "bedrock-runtime.us-east-1.amazonaws.com" '
        "is not in the allowed hosts list ([outbound] allowed_hosts)"
    }
    assert BEDROCK.validate_connector(config, secrets, allowed_hosts=("bedrock-runtime.us-east-1.amazonaws.com",))


def test_type_declares_kibanas_test_params_license_and_features():
    assert BEDROCK.test_params == {
        "subAction": "test",
        "subActionParams": {
            "body": '{"anthropic_version":"bedrock-2023-05-31","messages":[{"content":"Hello world","role":"user"}],'
            '"max_tokens":8191,"stop_sequences":["\\n\\nHuman:"]}'
        },
    }
    assert BEDROCK.minimum_license_required == "enterprise"
    assert "generativeAIForSecurity" in BEDROCK.supported_feature_ids
    assert BEDROCK.read_timeout == 120
    assert {"run", "test", "invokeAI", "invokeAIRaw", "invokeStream", "converse"} <= set(BEDROCK.sub_actions)
    assert BEDROCK.sub_actions["invokeStream"].streams
