"""Amazon Bedrock from the pages: the test pane, streamed output, token usage in the event log."""

from __future__ import annotations

import html
import json

import pytest

from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, STREAM_ERROR_MODEL, FakeBedrock, reply_for
from tests.helpers import create_via_form, events


@pytest.fixture
def bedrock(monkeypatch):
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    with FakeBedrock() as fake:
        yield fake


def fields(url: str, **extra) -> dict:
    return {"name": "claude", "config.apiUrl": url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
            **extra}


def sse_events(body: str) -> list[tuple[str, str]]:
    out = []
    for frame in body.strip().split("\n\n"):
        name = next(line[7:] for line in frame.split("\n") if line.startswith("event: "))
        data = "\n".join(line[6:] for line in frame.split("\n") if line.startswith("data: "))
        out.append((name, data))
    return out


def stream_test(web, cid: str, prompt: str):
    """What static/app.js sends for a streaming sub-action."""
    return web.post(
        f"/connectors/{cid}/test",
        data={"params.__present": "1", "params.subAction": "invokeStream",
              "params.sub.messages": json.dumps([{"role": "user", "content": prompt}])},
        headers={"Accept": "text/event-stream"},
        htmx=True,
    )


def test_form_prefills_kibanas_default_test_body(web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    page = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '"anthropic_version": "bedrock-2023-05-31"' in page and '"max_tokens": 8191' in page
    assert '<option value="test" selected>' in page


def test_test_pane_shows_the_models_reply_and_records_tokens(app, web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    body = detail.split('name="params.sub.body"')[1].split(">", 1)[1].split("</textarea>")[0]
    response = web.post(
        f"/connectors/{cid}/test",
        data={"params.__present": "1", "params.subAction": "test", "params.sub.body": body},
        htmx=True,
    )
    page = html.unescape(response.get_data(as_text=True))
    assert 'data-status="ok"' in page
    assert reply_for("Hello world") in page
    assert bedrock.last_request.signature_ok
    assert "Authorization" in page and SECRET_KEY not in page and ACCESS_KEY not in page
    (event,) = events(app)
    assert event.status == "ok" and event.sub_action == "test" and event.http_status == 200
    assert event.prompt_tokens > 0 and event.total_tokens == event.prompt_tokens + event.completion_tokens
    log = web.get("/events").get_data(as_text=True)
    assert f"{event.total_tokens} tokens" in log


def test_unsaved_values_can_be_tested_before_saving(app, web, bedrock):
    response = web.post(
        "/connectors/new/.bedrock/test",
        data={**fields(bedrock.url), "params.__present": "1", "params.subAction": "invokeAI",
              "params.sub.messages": '[{"role": "user", "content": "ping"}]'},
        htmx=True,
    )
    page = html.unescape(response.get_data(as_text=True))
    assert 'data-status="ok"' in page and reply_for("ping") in page
    assert events(app)[-1].connector_name == "claude"


def test_edit_form_tests_with_stored_secrets_when_left_blank(web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    response = web.post(
        f"/connectors/{cid}/edit/test",
        data={**fields(bedrock.url, **{"secrets.accessKey": "", "secrets.secret": ""}), "params.__present": "1",
              "params.subAction": "invokeAI", "params.sub.messages": '[{"role": "user", "content": "hi"}]'},
        htmx=True,
    )
    assert reply_for("hi") in html.unescape(response.get_data(as_text=True))
    assert bedrock.last_request.signature_ok


def test_wrong_secret_shows_the_403_from_the_service(web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url, **{"secrets.secret": "wrong-secret-value"}))
    response = web.post(
        f"/connectors/{cid}/test",
        data={"params.__present": "1", "params.subAction": "invokeAI",
              "params.sub.messages": '[{"role": "user", "content": "hi"}]'},
        htmx=True,
    )
    page = html.unescape(response.get_data(as_text=True))
    assert "an error occurred while running the action" in page and "Status code: 403" in page
    assert "403 FORBIDDEN" in page or "403 Forbidden" in page


def test_invoke_stream_sends_text_as_it_arrives_then_the_result(app, web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    response = stream_test(web, cid, "tell me a story")
    assert response.mimetype == "text/event-stream"
    frames = sse_events(response.get_data(as_text=True))
    deltas = [json.loads(data) for name, data in frames if name == "delta"]
    assert len(deltas) > 2
    assert "".join(deltas) == reply_for("tell me a story")
    name, result_html = frames[-1]
    assert name == "result" and 'data-status="ok"' in result_html
    assert events(app)[-1].completion_tokens > 0


def test_stream_that_fails_midway_ends_in_an_error_result(app, web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url, **{"config.defaultModel": STREAM_ERROR_MODEL}))
    response = stream_test(web, cid, "tell me a story")
    frames = sse_events(response.get_data(as_text=True))
    assert any(name == "delta" for name, _ in frames)
    assert 'data-status="error"' in frames[-1][1] and "throttlingException" in html.unescape(frames[-1][1])
    assert events(app)[-1].status == "error"


def test_picking_a_sub_action_swaps_in_its_fields(web):
    page = html.unescape(web.get("/types/.bedrock/params?params.subAction=invokeStream", htmx=True).get_data(as_text=True))
    assert 'data-streams="true"' in page and 'name="params.sub.messages"' in page
    assert '"content": "Hello world"' in page  # the sub-action's example
    test = web.get("/types/.bedrock/params?params.subAction=test", htmx=True).get_data(as_text=True)
    assert 'data-streams="false"' in test and 'name="params.sub.body"' in test


def test_params_that_do_not_validate_are_a_failed_run_that_is_logged_like_any_other(app, web, bedrock):
    cid = create_via_form(web, ".bedrock", fields(bedrock.url))
    asked = len(bedrock.requests)

    bad_json = web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "run", "params.sub.body": "{not json"})
    page = html.unescape(bad_json.get_data(as_text=True))
    assert 'data-status="error"' in page and "error validating action params: [body]: Invalid JSON" in page

    event = events(app)[-1]
    assert (event.connector_id, event.status, event.source) == (cid, "error", "test_pane")
    assert event.message.startswith("error validating action params: [body]: Invalid JSON")
    assert len(bedrock.requests) == asked  # nothing was sent


def test_an_empty_server_log_message_is_the_same_kind_of_failed_run(app, web):
    cid = create_via_form(web, ".server-log", {"name": "audit"})
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": ""}, htmx=True)
    event = events(app)[-1]
    assert (event.status, event.message.split(":")[0]) == ("error", "error validating action params")
