"""Bad input gets a clear message where it belongs and a 4xx; nothing already stored is lost."""

from __future__ import annotations

import html
import json

import pytest

from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, FakeBedrock
from tests.fakes.receiver import Receiver
from tests.helpers import connectors, create_via_form, webhook_fields


@pytest.fixture
def stored(app, web):
    """One connector that every bad request must leave as it was."""
    cid = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/keep", name="keep me"))
    def snapshot():
        return [(c.name, c.config, c.secrets_encrypted, c.updated_at) for c in connectors(app) if c.id == cid]

    before = snapshot()
    yield cid
    assert snapshot() == before


def bedrock_fields(url: str, name: str = "claude") -> dict:
    return {"name": name, "config.apiUrl": url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY}


def test_invalid_json_in_a_test_body_is_refused_before_running(app, web, stored):
    with FakeBedrock() as bedrock:
        cid = create_via_form(web, ".bedrock", bedrock_fields(bedrock.url))
        response = web.post(
            f"/connectors/{cid}/test",
            data={"params.__present": "1", "params.subAction": "test", "params.sub.body": '{"messages": [oops'},
            htmx=True,
        )
        assert bedrock.requests == []
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "body" in page and "Invalid JSON: Expecting value (line 1, column 15)" in page


def test_unknown_sub_action_is_named(web, stored):
    response = web.post(f"/connectors/{stored}/test", data={"params.__present": "1"}, htmx=True)
    assert response.status_code == 200  # a webhook has no sub-actions; its params are just the body
    with FakeBedrock() as bedrock:
        cid = create_via_form(web, ".bedrock", bedrock_fields(bedrock.url))
        response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.subAction": "drop"}, htmx=True)
    assert response.status_code == 422
    assert 'Unknown sub-action "drop"' in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_type_id_is_a_404_with_a_message(web, stored, method):
    response = getattr(web, method)("/connectors/new/.nope")
    assert response.status_code == 404
    assert 'Unknown connector type ".nope"' in html.unescape(response.get_data(as_text=True))


def test_non_url_api_url_is_an_error_at_the_field(web, stored):
    response = web.post("/connectors/new/.bedrock", data=bedrock_fields("bedrock-runtime.us-east-1"))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'id="config-apiUrl-help"' in page and "must be an http(s) URL with a host" in page


def test_megabyte_name_is_refused_at_the_field(web, stored):
    response = web.post("/connectors/new/.webhook", data=webhook_fields("http://127.0.0.1:9/x", name="n" * 1024 * 1024))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Name must be at most 255 characters (got 1048576)" in page
    assert 'value="' + "n" * 255 + '"' in page  # kept, cut to what the field accepts


def test_oversized_request_is_a_413_with_a_clear_message(web, stored):
    response = web.post("/connectors/new/.webhook", data=webhook_fields("http://127.0.0.1:9/x", name="n" * (5 * 1024 * 1024)))
    assert response.status_code == 413
    assert "larger than the 4 MB Switchboard accepts" in response.get_data(as_text=True)
    htmx_response = web.post(f"/connectors/{stored}/edit", data={"name": "n" * (5 * 1024 * 1024)}, htmx=True)
    assert htmx_response.status_code == 413
    assert "larger than the 4 MB" in htmx_response.headers["HX-Trigger"]


def test_bad_edit_keeps_the_stored_connector(web, stored):
    response = web.post(f"/connectors/{stored}/edit", data=webhook_fields("ftp://nowhere", name=""))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Name is required." in page and "must be an http(s) URL" in page


def test_hostile_names_are_escaped(app, web):
    cid = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/x", name='<script>alert("x")</script>'))
    for url in ("/connectors", f"/connectors/{cid}", f"/connectors/{cid}/edit"):
        page = web.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_unknown_connector_is_a_404(web):
    assert web.get("/connectors/nope").status_code == 404
    assert web.post("/connectors/nope/test", data={}).status_code == 404


# --- Deeply nested JSON (issue #7 item 7): refused with a 4xx that says why, before anything runs -----------

DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a": ' * 5000 + "1" + "}" * 5000
TOO_DEEP = "nested more than 64 levels deep is refused"


def _deep_api_refused(response) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body["statusCode"] == 400 and TOO_DEEP in body["message"]


def test_deeply_nested_json_in_api_bodies_is_a_400_before_anything_runs(app, stored):
    from tests.api_client import Api, webhook

    api = Api.with_key(app)
    with Receiver() as receiver:
        url = receiver.reply("/hook")
        created = api.created(webhook(url))
        deep_config = json.dumps(webhook(url, name="deep"))[:-1] + ', "extra": ' + DEEP_OBJECT + "}"
        headers = {"Content-Type": "application/json"}
        _deep_api_refused(api.post("/api/actions/connector", data=deep_config, headers=headers))
        _deep_api_refused(api.put(f"/api/actions/connector/{created['id']}", data=deep_config, headers=headers))
        _deep_api_refused(api.post(f"/api/actions/connector/{created['id']}/_execute",
                                   data='{"params": {"body": "{}", "deep": ' + DEEP + "}}", headers=headers))
        _deep_api_refused(api.post("/s/default/api/actions/connector/" + created["id"] + "/_execute",
                                   data='{"params": ' + DEEP_OBJECT + "}", headers=headers))
        _deep_api_refused(api.post("/api/saved_objects/_export", data='{"type": ["action"], "objects": ' + DEEP + "}",
                                   headers=headers))
        assert receiver.received == []  # the service was never called
        # 64 levels are still fine.
        fine = api.execute(created["id"], {"body": "{}", "nested": json.loads("[" * 62 + "]" * 62)})
        assert fine.status_code == 200, fine.get_data(as_text=True)[:300]
    assert [c.name for c in connectors(app)] == ["hook", "keep me"]
    unauthenticated = app.test_client().post("/api/actions/connector", data=deep_config, headers=headers)
    assert unauthenticated.status_code == 401  # authentication first: a stranger learns nothing more


@pytest.mark.parametrize(("field", "sub_action", "value"), [
    ("params.sub.body", "test", DEEP_OBJECT),  # a JSON text field (jsontext)
    ("params.sub.messages", "invokeAI", DEEP),  # a JSON field (json)
])
def test_deeply_nested_json_in_a_test_pane_field_is_refused_before_running(app, web, stored, field, sub_action, value):
    with FakeBedrock() as bedrock:
        cid = create_via_form(web, ".bedrock", bedrock_fields(bedrock.url))
        response = web.post(f"/connectors/{cid}/test",
                            data={"params.__present": "1", "params.subAction": sub_action, field: value}, htmx=True)
        assert bedrock.requests == []
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert TOO_DEEP in page


def test_a_deeply_nested_body_sent_to_an_echoing_webhook_shows_as_text_not_a_500(app, web):
    from tests.fakes.receiver import Receiver
    from tests.helpers import create_via_form, webhook_fields

    deep = "[" * 5000 + "]" * 5000
    with Receiver() as receiver:
        url = receiver.reply("/echo", body=deep)  # a hostile service answers with it too
        cid = create_via_form(web, ".webhook", webhook_fields(url))
        response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": deep}, htmx=True)
    assert response.status_code == 200
    assert 'data-status="ok"' in response.get_data(as_text=True)
