"""Amazon Bedrock's Default model choices: the `models` lookup, through the form's "List choices" button.

The lookup asks the fake's control plane (ListFoundationModels, ListInferenceProfiles), signed as AWS
expects; the page gets a datalist for the field, or the service's error in words.
"""

from __future__ import annotations

import html
import re

import pytest

from app.db import db
from app.settings import OutboundSettings
from app.types.bedrock import model_choices
from app.types.bedrock.wire import control_url
from tests.conftest import Browserish, make_app
from tests.fakes.bedrock import (
    ACCESS_KEY,
    SECRET_KEY,
    SIGNATURE_MISMATCH,
    THROTTLING,
    FakeBedrock,
    access_denied,
    application_profile_arn,
)
from tests.helpers import create_via_form, events

MODELS_URL = "/types/.bedrock/models"
FIELD_ID = "config-defaultModel"
OPTION = re.compile(r'<option value="([^"]*)">([^<]*)</option>')
# What the fake's account can invoke, as the lookup should offer it: on-demand text models by id,
# text models' inference profiles (the application one by ARN), sorted by provider then name.
EXPECTED = [
    ("amazon.titan-text-express-v1", "Titan Text G1 - Express — Amazon"),
    ("amazon.titan-text-premier-v1:0", "Titan Text G1 - Premier — Amazon"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku — Anthropic"),
    (application_profile_arn("us-east-1"), "support-bot-haiku — Anthropic"),
    ("us.anthropic.claude-3-haiku-20240307-v1:0", "US Anthropic Claude 3 Haiku — Anthropic"),
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "US Anthropic Claude 3.5 Sonnet v2 — Anthropic"),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "US Claude Sonnet 4.5 — Anthropic"),
    ("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct — Meta"),
    ("us.meta.llama3-3-70b-instruct-v1:0", "US Meta Llama 3.3 70B Instruct — Meta"),
]


@pytest.fixture
def bedrock(monkeypatch):
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    with FakeBedrock() as fake:
        yield fake


def fields(url: str, **extra) -> dict:
    return {"name": "claude", "config.apiUrl": url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
            **extra}


def list_choices(web, form: dict):
    """What the Default model field's "List choices" button sends: the whole form and the input's id."""
    return web.post(MODELS_URL, data={**form, "choices_for": FIELD_ID}, htmx=True)


def options(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(v), html.unescape(label)) for v, label in OPTION.findall(page)]


def test_lists_the_text_models_and_profiles_the_account_can_invoke(app, web, bedrock):
    response = list_choices(web, fields(bedrock.url))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.startswith(f'<div id="{FIELD_ID}-choices-box">') and f'<datalist id="{FIELD_ID}-choices">' in page
    assert options(page) == EXPECTED
    assert f"{len(EXPECTED)} models listed; type to filter." in page
    offered = {model_id for model_id, _ in EXPECTED}
    # Left out: LEGACY, provisioned-only, embedding and image models, and a profile of an embedding model.
    for model_id in ("anthropic.claude-v2:1", "anthropic.claude-3-haiku-20240307-v1:0:200k", "amazon.titan-embed-text-v2:0",
                     "amazon.titan-image-generator-v2:0", "us.cohere.embed-v4:0"):
        assert model_id not in offered and f'value="{model_id}"' not in page
    # Profile-only models are offered through their profiles, never by the bare id that would fail.
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" not in offered

    models_call, profiles_call = bedrock.requests
    for call in (models_call, profiles_call):
        assert call.method == "GET" and call.signature_ok
        assert call.service == "bedrock" and call.region == "us-east-1" and call.access_key == ACCESS_KEY
        assert call.body == b"" and "host" in call.headers["Authorization"].split("SignedHeaders=")[1]
    assert models_call.path == "/foundation-models" and models_call.raw_query == "byOutputModality=TEXT"
    assert profiles_call.path == "/inference-profiles" and profiles_call.query == {"maxResults": ["1000"]}


def test_every_page_of_inference_profiles_is_read_with_its_token_signed(web, bedrock):
    bedrock.profile_page_size = 4
    page = list_choices(web, fields(bedrock.url)).get_data(as_text=True)
    assert options(page) == EXPECTED
    _models, *pages = bedrock.requests
    assert len(pages) == 2 and all(p.signature_ok for p in pages)
    token = pages[1].query["nextToken"][0]
    assert "+" in token and token.endswith("=")  # sent encoded, so the service reads the token it gave
    assert "%2B" in pages[1].raw_query and "%3D" in pages[1].raw_query


def test_the_connectors_region_scopes_the_signature(web, bedrock):
    bedrock.region = "eu-central-1"
    page = list_choices(web, fields(bedrock.url, **{"config.region": "eu-central-1"})).get_data(as_text=True)
    assert (application_profile_arn("eu-central-1"), "support-bot-haiku — Anthropic") in options(page)
    assert {r.region for r in bedrock.requests} == {"eu-central-1"}


def test_a_wrong_secret_shows_the_signature_error_and_never_the_secret(app, web, bedrock):
    wrong = "wrong/secret+value/0123456789abcdefXYZ"
    response = list_choices(web, fields(bedrock.url, **{"secrets.secret": wrong}))
    assert response.status_code == 200  # htmx swaps only 2xx: the error is the answer
    page = html.unescape(response.get_data(as_text=True))
    assert "an error occurred while running the action" in page
    assert f"Status code: 403. Message: API Error: Forbidden - {SIGNATURE_MISMATCH}" in page
    assert 'class="error-text"' in page and "<option" not in page
    assert wrong not in page and SECRET_KEY not in page
    assert [r.path for r in bedrock.requests] == ["/foundation-models"]  # no second call after a refusal
    (event,) = events(app)
    assert event.status == "error" and event.http_status == 403 and event.sub_action == "models"
    assert wrong not in (event.message or "")


def test_the_lookup_is_recorded_in_the_event_log(app, web, bedrock):
    page = list_choices(web, fields(bedrock.url)).get_data(as_text=True)
    assert SECRET_KEY not in page and ACCESS_KEY not in page
    (event,) = events(app)
    assert (event.sub_action, event.source, event.actor) == ("models", "form", "admin")
    assert event.status == "ok" and event.http_status == 200
    assert event.connector_type_id == ".bedrock" and event.connector_name == "claude"
    assert SECRET_KEY not in (event.message or "")


@pytest.mark.parametrize(
    ("path", "failure", "expected", "retry"),
    [
        ("/foundation-models", THROTTLING,
         "Status code: 429. Message: API Error: Too Many Requests - Too many requests, please wait", "true"),
        ("/inference-profiles", access_denied("ListInferenceProfiles"),
         "Status code: 403. Message: API Error: Forbidden - User: arn:aws:iam::123456789012:user/switchboard "
         "is not authorized to perform: bedrock:ListInferenceProfiles", "false"),
    ],
)
def test_service_errors_show_in_kibanas_words(app, web, bedrock, path, failure, expected, retry):
    bedrock.control_errors[path] = failure
    page = html.unescape(list_choices(web, fields(bedrock.url)).get_data(as_text=True))
    assert expected in page and "<option" not in page
    assert events(app)[-1].retry == retry


def test_a_viewer_cannot_list_choices(viewer, bedrock):
    response = list_choices(viewer, fields(bedrock.url))
    assert response.status_code == 403
    assert bedrock.requests == []


def test_the_edit_form_uses_the_stored_secret_when_left_blank(app, web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    edit = web.get(f"/connectors/{cid}/edit").get_data(as_text=True)
    assert f'name="connector_id" value="{cid}"' in edit
    assert f'hx-post="{MODELS_URL}"' in edit and f'list="{FIELD_ID}-choices"' in edit  # the button and its datalist

    blank = fields(bedrock.url, **{"secrets.accessKey": "", "secrets.secret": "", "connector_id": cid})
    page = list_choices(web, blank).get_data(as_text=True)
    assert options(page) == EXPECTED
    assert all(r.signature_ok and r.access_key == ACCESS_KEY for r in bedrock.requests)
    assert events(app)[-1].connector_id == cid


def test_a_new_form_without_secrets_says_what_is_missing(web, bedrock):
    page = html.unescape(list_choices(web, fields(bedrock.url, **{"secrets.secret": ""})).get_data(as_text=True))
    assert "error validating connector config or secrets" in page and "secrets.secret" in page
    assert bedrock.requests == []


def test_aws_urls_list_from_the_control_plane_host(tmp_path, bedrock):
    """The runtime host serves no listings: the lookup goes to `bedrock.<region>`. Only 127.0.0.1 is
    allowed here, so the refusal names the host the lookup chose and nothing leaves the machine."""
    app = make_app(tmp_path, outbound=OutboundSettings(allowed_hosts=("127.0.0.1",)))
    web = Browserish(app.test_client())
    page = html.unescape(list_choices(web, fields("https://bedrock-runtime.eu-west-3.amazonaws.com"))
                         .get_data(as_text=True))
    assert "bedrock.eu-west-3.amazonaws.com" in page and "bedrock-runtime" not in page.split("Unexpected API Error")[1]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "https://bedrock.us-east-1.amazonaws.com"),
        ("https://bedrock-runtime.eu-west-3.amazonaws.com/", "https://bedrock.eu-west-3.amazonaws.com"),
        ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com", "https://bedrock-fips.us-gov-west-1.amazonaws.com"),
        ("https://bedrock-runtime.cn-north-1.amazonaws.com.cn", "https://bedrock.cn-north-1.amazonaws.com.cn"),
        ("https://BEDROCK-RUNTIME.us-west-2.amazonaws.com:443", "https://bedrock.us-west-2.amazonaws.com:443"),
        # Anything else serves both planes itself: a gateway keeps its path prefix, the fake its port.
        ("https://llm-gateway.internal:8443/aws/", "https://llm-gateway.internal:8443/aws"),
        ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
        ("https://bedrock-runtime.example.com", "https://bedrock-runtime.example.com"),
    ],
)
def test_control_plane_url(api_url, expected):
    assert control_url(api_url) == expected


def test_sparse_or_odd_summaries_from_a_gateway_are_read_without_failing():
    summaries = [
        {"modelId": "gateway.model-a"},  # no modalities, inference types or lifecycle: taken as text, on demand
        {"modelId": "gateway.model-b", "modelName": "B", "providerName": "Gateway", "outputModalities": None},
        "not a summary",
        {"modelName": "no id"},
    ]
    profiles = [{"inferenceProfileId": "eu.gateway.model-a", "models": "not a list"}, None]
    assert model_choices(summaries, profiles) == [{"id": "gateway.model-a", "name": "gateway.model-a", "provider": ""}]
