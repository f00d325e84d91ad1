"""The webhook type end to end: the test pane sends what the form configured; faults become clear errors."""

from __future__ import annotations

import base64
import html
import json
import socket

import pytest
from playwright.sync_api import expect

from app.settings import OutboundSettings
from app.types.webhook import BASIC
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.receiver import Receiver
from tests.helpers import create_via_form, events, webhook_fields


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def run_test_pane(web, connector_id: str, body: str = '{"text": "hi"}') -> str:
    response = web.post(f"/connectors/{connector_id}/test", data={"params.__present": "1", "params.body": body}, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_sends_configured_method_headers_basic_auth_and_body(web, receiver):
    url = receiver.reply("/hook", status=200, body=b'{"accepted": true}')
    cid = create_via_form(
        web,
        ".webhook",
        webhook_fields(
            url,
            **{
                "config.method": "put",
                "config.headers.name": ["X-Team", "Content-Type"],
                "config.headers.value": ["ops", "application/json; charset=utf-8"],
                "config.hasAuth": ["false", "true"],
                "config.authType": "webhook-authentication-basic",
                "secrets.user": "alice",
                "secrets.password": "pa55word-xyz",
            },
        ),
    )
    page = run_test_pane(web, cid, '{"text": "deploy finished"}')

    got = receiver.received[-1]
    assert got.method == "PUT"
    assert got.headers["X-Team"] == "ops"
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:pa55word-xyz").decode()
    assert json.loads(got.body) == {"text": "deploy finished"}
    assert 'data-status="ok"' in page
    assert "200 OK" in page
    assert '"accepted": true' in page  # the response body, pretty-printed
    assert "pa55word-xyz" not in page


def test_bearer_token_and_secret_headers_are_sent_but_never_shown(web, receiver):
    url = receiver.reply("/hook")
    cid = create_via_form(
        web,
        ".webhook",
        webhook_fields(
            url,
            **{
                "config.hasAuth": ["false", "true"],
                "config.authType": "webhook-authentication-bearer",
                "secrets.token": "tok-SECRET-123",
                "secrets.secretHeaders.name": ["X-Api-Key"],
                "secrets.secretHeaders.value": ["key-SECRET-456"],
            },
        ),
    )
    html = run_test_pane(web, cid)
    got = receiver.received[-1]
    assert got.headers["Authorization"] == "Bearer tok-SECRET-123"
    assert got.headers["X-Api-Key"] == "key-SECRET-456"
    assert "X-Api-Key" in html and "Authorization" in html  # header names are shown
    assert "SECRET-123" not in html and "SECRET-456" not in html


def test_get_sends_no_body(web, receiver):
    url = receiver.reply("/hook")
    cid = create_via_form(web, ".webhook", webhook_fields(url, **{"config.method": "get"}))
    run_test_pane(web, cid, '{"ignored": true}')
    assert receiver.received[-1].method == "GET"
    assert receiver.received[-1].body == b""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_stored(app, web, url: str) -> tuple[str, object]:
    cid = create_via_form(web, ".webhook", webhook_fields(url))
    html = run_test_pane(web, cid)
    return html, events(app)[-1]


def test_500_is_a_retryable_error_with_the_service_message(app, web, receiver):
    html, event = run_stored(app, web, receiver.reply("/hook", status=500, body=b'{"message": "database down"}'))
    assert "error calling webhook, retry later" in html
    assert "[500] INTERNAL SERVER ERROR: database down" in html
    assert event.status == "error" and event.retry == "true" and event.http_status == 500


def test_429_with_retry_after_says_when_to_retry(app, web, receiver):
    html, event = run_stored(
        app, web, receiver.reply("/hook", status=429, body=b"slow down", headers={"Retry-After": "120"})
    )
    assert "error calling webhook, retry at 20" in html  # an ISO date follows
    assert event.retry.endswith("Z") and event.retry.startswith("20")
    assert "slow down" in html


def test_404_is_final_and_names_the_status(app, web, receiver):
    html, event = run_stored(app, web, receiver.url + "/missing")
    assert "error calling webhook, invalid response" in html
    assert "[404] NOT FOUND: no such hook" in html
    assert event.retry == "false"


def test_connection_refused_is_retryable(app, web):
    html, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}/hook")
    assert "error calling webhook, request failed" in html
    assert "[connection_refused]" in html
    assert event.retry == "true" and event.http_status is None


def test_read_timeout_is_retryable(tmp_path, receiver):
    app = make_app(tmp_path, OutboundSettings(read_timeout=0.3))
    web = Browserish(app.test_client())
    html, event = run_stored(app, web, receiver.reply("/slow", delay=1.5))
    assert "[read_timeout]" in html and "did not answer in time" in html
    assert event.retry == "true"


def test_oversized_response_names_the_cap(tmp_path, receiver):
    app = make_app(tmp_path, OutboundSettings(max_response_bytes=1000))
    web = Browserish(app.test_client())
    html, event = run_stored(app, web, receiver.reply("/big", body=b"x" * 5000))
    assert "exceeds the maximum size of 1000 bytes" in html
    assert event.status == "error" and event.retry == "false"


def test_disallowed_host_is_refused_at_save_and_at_run(tmp_path, receiver):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("localhost",)))
    web = Browserish(app.test_client())
    response = web.post("/connectors/new/.webhook", data=webhook_fields(receiver.url + "/hook"))
    assert response.status_code == 422
    assert "not in the allowed hosts list" in response.get_data(as_text=True)
    # Testing unsaved values goes through the same client, which refuses the host too.
    response = web.post(
        "/connectors/new/.webhook/test",
        data={**webhook_fields(receiver.url + "/hook"), "params.__present": "1", "params.body": "{}"},
        htmx=True,
    )
    assert "host_not_allowed" in response.get_data(as_text=True)
    assert receiver.received == []


def test_redirect_to_a_disallowed_host_is_not_followed(tmp_path):
    with Receiver() as allowed_one, Receiver() as other:
        # Both listen on 127.0.0.1; "localhost" is the disallowed name the redirect points at.
        app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
        web = Browserish(app.test_client())
        url = allowed_one.reply("/hook", status=302, body=b"", headers={"Location": f"http://localhost:{other.port}/x"})
        html, event = run_stored(app, web, url)
        assert '[host_not_allowed] target hostname "localhost"' in html
        assert other.received == []
        assert event.retry == "false"


def test_redirect_to_an_allowed_host_is_followed_and_shown(app, web, receiver):
    receiver.reply("/final", status=200)
    url = receiver.reply("/hook", status=307, body=b"", headers={"Location": "/final"})
    html, event = run_stored(app, web, url)
    assert [r.path for r in receiver.received] == ["/hook", "/final"]
    assert receiver.received[-1].method == "POST"  # 307 keeps the method and body
    assert "307 TEMPORARY REDIRECT" in html and "200 OK" in html
    assert event.status == "ok"


@drives_browser
def test_the_credential_fields_follow_the_chosen_authentication(page, live, receiver):
    hook = receiver.reply("/follow", status=200)
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("Bearer hook")
    page.get_by_label("URL").fill(hook)
    user, password, token = page.get_by_label("User"), page.get_by_label("Password"), page.get_by_label("Bearer token")
    authentication = page.get_by_label("Authentication", exact=True)

    # A new form starts without authentication, so a URL alone is valid: no credential fields.
    switch = page.get_by_role("switch", name="Requires authentication")
    expect(switch).not_to_be_checked()
    expect(authentication).to_be_hidden()
    expect(user).to_be_hidden()
    switch.check()
    # Authentication on and no type chosen is basic, as in Kibana: user and password, no token.
    expect(authentication).to_have_value("")
    expect(page.locator("#config-authType option:checked")).to_have_text("—")
    expect(user).to_be_visible()
    expect(password).to_be_visible()
    expect(token).to_be_hidden()
    authentication.select_option(label="Bearer token")  # people read names, not ids
    expect(token).to_be_visible()
    expect(user).to_be_hidden()
    page.get_by_role("switch", name="Requires authentication").uncheck()
    expect(authentication).to_be_hidden()
    expect(token).to_be_hidden()
    page.get_by_role("switch", name="Requires authentication").check()
    token.fill("follow-token-1234")
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    assert receiver.received[-1].headers["Authorization"] == "Bearer follow-token-1234"
    connector = page.request.get(f"{live.url}/api/actions/connector/{page.url.rsplit('/', 1)[1]}").json()
    assert connector["config"]["authType"] == "webhook-authentication-bearer"


@drives_browser
def test_testing_unsaved_values_applies_the_same_checks_as_saving(page, live, receiver):
    hook = receiver.reply("/unsaved", status=200)
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("No token yet")
    page.get_by_label("URL").fill(hook)
    page.get_by_role("switch", name="Requires authentication").check()
    page.get_by_label("Authentication", exact=True).select_option(label="Bearer token")
    page.get_by_text("Test these settings before saving").click()
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "error")
    expect(result).to_contain_text("[secrets.token]: required for bearer authentication")
    assert receiver.received == []  # nothing was sent without the token

    page.get_by_role("button", name="Create connector").click()  # saving refuses the same values
    expect(page.locator("#secrets-token-help")).to_contain_text("required for bearer authentication")


def test_a_header_row_with_a_value_but_no_name_is_refused_at_the_field(app, web):
    fields = webhook_fields("http://127.0.0.1:9/hook", **{"config.headers.name": ["X-Team", ""],
                                                          "config.headers.value": ["ops", "orphan value"]})
    response = web.post("/connectors/new/.webhook", data=fields)

    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "A headers row has a value but no name: name it, or clear the value." in page
    assert 'value="orphan value"' in page or "orphan value" in page  # what was typed is still there
    assert events(app) == [] and not web.get("/connectors").get_data(as_text=True).count("data-connector-id")


@drives_browser
def test_a_url_alone_makes_a_valid_webhook_from_the_new_form(page, live):
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("Just a URL")
    page.get_by_label("URL").fill("https://hooks.example.com/just-a-url")
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    saved = page.request.get(f"{live.url}/api/actions/connector/{page.url.rsplit('/', 1)[1]}").json()
    assert saved["config"]["hasAuth"] is False and saved["is_missing_secrets"] is False


def test_the_pane_says_the_result_data_is_the_body_that_was_sent_beside_the_response(web, receiver):
    cid = create_via_form(web, ".webhook", webhook_fields(receiver.reply("/labelled", body='{"answer": 42}')))
    page = run_test_pane(web, cid, body='{"question": "six by nine"}')

    data = page.split("<summary>")[1]
    assert data.startswith("Result data: the request body that was sent")
    assert '"question": "six by nine"' in data.split("</details>")[0]  # the body sent, under its label
    assert "Response body" in page and '"answer": 42' in page  # and the service's answer beside it


def test_removing_a_password_basic_auth_needs_says_so_once_and_keeps_the_box_ticked(app, web, receiver):
    url = receiver.reply("/basic")
    fields = webhook_fields(url, **{"config.hasAuth": ["false", "true"], "config.authType": BASIC,
                                    "secrets.user": "ops", "secrets.password": "s3cret-pass"})
    cid = create_via_form(web, ".webhook", fields)

    edit = web.post(f"/connectors/{cid}/edit", data={**fields, "secrets.user": "", "secrets.password": "",
                                                     "secrets.password.__clear": "1"})
    page = html.unescape(edit.get_data(as_text=True))
    password = page.split('data-field="secrets.password"')[1].split('data-field=')[0]

    assert edit.status_code == 422
    assert "The stored password was not removed: the settings above need it." in password
    assert "required for basic authentication" not in password and "Stored." not in password
    assert 'name="secrets.password.__clear" value="1" checked' in password  # what was asked stays asked
    run_test_pane(web, cid)
    assert receiver.received[-1].headers["Authorization"] == "Basic " + base64.b64encode(b"ops:s3cret-pass").decode()
