"""The `.slack` type end to end, against the fake Slack incoming webhook: the test pane and `_execute` post
`{"text": message}` to the secret webhook URL; Slack's plain-text errors come back beside Kibana's words,
with the retry Kibana gives (429 at Retry-After, 5xx later, the rest final)."""

from __future__ import annotations

import html
import logging
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from tests.api_client import Api
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.slack import HOOK_PATH, TOKEN, FakeSlack
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

SLACK = get_type(".slack")
UNPARSEABLE = "error configuring slack action: unable to parse host name from webhookUrl"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def slack_fields(url: str, name: str = "slack") -> dict:
    return {"name": name, "secrets.webhookUrl": url}


def run_test_pane(web, connector_id: str, message: str = "Disk is 91% full on web-01") -> str:
    response = web.post(f"/connectors/{connector_id}/test",
                        data={"params.__present": "1", "params.message": message}, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str):
    cid = create_via_form(web, ".slack", slack_fields(url))
    return run_test_pane(web, cid), events(app)[-1]


def run_api(app, url: str, message: str = "Disk is 91% full on web-01") -> tuple[str, dict]:
    api = Api.with_key(app)
    cid = api.created({"name": "slack", "connector_type_id": ".slack", "secrets": {"webhookUrl": url}})["id"]
    return cid, api.execute(cid, {"message": message}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_posts_the_message_as_slack_text(app, web, slack):
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))

    page = run_test_pane(web, cid, "Disk is *91%* full on `web-01`")

    got = slack.received[-1]
    assert (got.method, got.path) == ("POST", HOOK_PATH)
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"text": "Disk is *91%* full on `web-01`"}
    assert 'data-status="ok"' in page and "200 OK" in page
    assert "<code>POST ••••••</code>" in page  # the whole URL is the secret
    event = events(app)[-1]
    assert (event.connector_type_id, event.status, event.http_status) == (".slack", "ok", 200)


def test_execute_returns_slacks_answer_as_data(app, slack):
    cid, result = run_api(app, slack.webhook_url, SLACK.test_params["message"])

    assert result == {"connector_id": cid, "status": "ok", "data": {"text": "ok"}}
    assert slack.received[-1].json == {"text": "Test message from Switchboard"}


def test_the_test_pane_is_prefilled_with_a_message(web, slack):
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))

    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))

    assert "Test message from Switchboard" in detail


# ---- errors, with Kibana's words and Slack's own -------------------------------------------------------------


def test_a_wrong_token_is_forbidden_and_final(app, web, slack):
    page, event = run_stored(app, web, slack.webhook_url.replace(TOKEN, "not-the-token"))

    assert "unexpected http response from slack: 403 Forbidden" in page
    assert "invalid_token" in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 403)


def test_a_removed_webhook_is_no_service(app, slack):
    cid, result = run_api(app, slack.url + "/services/T0SWITCHB/B0GONE000/" + TOKEN)

    assert result == {"connector_id": cid, "status": "error", "message": "unexpected http response from slack: "
                      "404 Not Found", "service_message": "no_service", "retry": False}


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (400, "invalid_payload", "Bad Request"),
        (400, "user_not_found", "Bad Request"),
        (403, "action_prohibited", "Forbidden"),
        (404, "channel_not_found", "Not Found"),
        (410, "channel_is_archived", "Gone"),
    ],
)
def test_slacks_refusals_are_final_with_its_error_string(app, slack, status, error, reason):
    slack.refuse(status, error)

    _, result = run_api(app, slack.webhook_url)

    assert result["message"] == f"unexpected http response from slack: {status} {reason}"
    assert (result["service_message"], result["retry"]) == (error, False)


def test_throttling_says_when_to_retry(app, web, slack):
    slack.throttle(retry_after="30")
    before = datetime.now(UTC)

    page, event = run_stored(app, web, slack.webhook_url)

    assert "error posting a slack message, retry at " + event.retry in page
    assert "[429] Too Many Requests: rate_limited" in page
    when = datetime.fromisoformat(event.retry.replace("Z", "+00:00"))
    assert before + timedelta(seconds=25) <= when <= datetime.now(UTC) + timedelta(seconds=35)


def test_throttling_without_retry_after_retries_later(app, slack):
    slack.throttle(retry_after=None)

    _, result = run_api(app, slack.webhook_url)

    assert (result["message"], result["retry"]) == ("error posting a slack message, retry later", True)


def test_a_server_error_retries_later_with_slacks_text(app, web, slack):
    slack.outage()

    page, event = run_stored(app, web, slack.webhook_url)

    assert "error posting a slack message, retry later" in page
    assert "[500] Internal Server Error: rollup_error" in page
    assert (event.retry, event.http_status) == ("true", 500)


def test_an_answer_other_than_ok_is_not_a_success(app, slack):
    slack.answer_next(200, "missing_text_or_fallback_or_attachments")

    _, result = run_api(app, slack.webhook_url)

    assert (result["status"], result["message"]) == ("error", "error posting slack message")
    assert (result["service_message"], result["retry"]) == ("missing_text_or_fallback_or_attachments", False)


def test_a_refused_connection_is_an_error_posting(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}{HOOK_PATH}")

    assert "error posting slack message" in page
    assert "[connection_refused] connection to http://127.0.0.1:" in page
    assert (event.retry, event.http_status) == ("false", None)


# ---- params and settings ------------------------------------------------------------------------------------


def test_an_empty_message_is_refused_before_calling_slack(app, slack):
    _, result = run_api(app, slack.webhook_url, message="")

    assert result["status"] == "error"
    assert result["message"] == "error validating action params: [message]: String should have at least 1 character"
    assert slack.received == []


def test_params_other_than_message_are_refused(app, slack):
    api = Api.with_key(app)
    cid = api.created({"name": "s", "connector_type_id": ".slack", "secrets": {"webhookUrl": slack.webhook_url}})["id"]

    result = api.execute(cid, {"message": "hi", "channel": "#ops"}).get_json()

    assert result["message"].startswith("error validating action params: [channel]: Extra inputs")
    assert slack.received == []


def test_an_unparseable_url_is_refused_in_kibanas_words_without_echoing_it(web):
    response = web.post("/connectors/new/.slack", data=slack_fields(f"hooks.slack.com{HOOK_PATH}"))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert UNPARSEABLE in page
    assert TOKEN not in page


def test_the_api_refuses_an_unparseable_url_in_kibanas_words(app):
    api = Api.with_key(app)
    response = api.create({"name": "s", "connector_type_id": ".slack", "secrets": {"webhookUrl": "fee-fi-fo-fum"}})

    assert response.status_code == 400
    assert UNPARSEABLE in response.get_json()["message"]
    assert "fee-fi-fo-fum" not in response.get_json()["message"]


def test_a_host_outside_the_allowed_hosts_is_refused_with_slacks_prefix(tmp_path, slack):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("hooks.slack.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.slack", data=slack_fields(slack.webhook_url))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'error configuring slack action: target hostname "127.0.0.1" is not in the allowed hosts list' in page
    assert slack.received == []


def test_a_webhook_url_is_required(web):
    response = web.post("/connectors/new/.slack", data=slack_fields(""))

    assert response.status_code == 422


# ---- the secret webhook URL --------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_with_nothing_in_config(app, web, slack):
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url, name="#ops alerts"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "#ops alerts", ".slack")
    assert connector.config == {}
    assert connector.secret_fields == {"webhookUrl": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {} and "secrets" not in shown


def test_a_blank_webhook_url_on_edit_keeps_the_stored_one(app, web, slack):
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=slack_fields("", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    assert slack.received[-1].path == HOOK_PATH
    assert connectors(app)[0].name == "renamed"


def test_the_webhook_url_is_never_shown_in_pages_logs_or_events(app, web, slack, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="urllib3")  # the app's level; its DEBUG lines: see the next test
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))
    slack.refuse(403, f"invalid_token for {slack.webhook_url}")  # a service that echoes the secret

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.slack/test",
                       data={**slack_fields(slack.webhook_url), "params.__present": "1", "params.message": "hi"},
                       htmx=True).get_data(as_text=True)

    assert [r.path for r in slack.received] == [HOOK_PATH, HOOK_PATH]
    assert "invalid_token for ••••••" in page
    assert 'data-status="ok"' in unsaved
    for secret in (slack.webhook_url, TOKEN):
        assert_secret_kept_out(app, web, secret, cid, page, unsaved, log=caplog.text)


def test_the_webhook_token_stays_out_of_debug_logs(app, web, slack, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))

    run_test_pane(web, cid)

    assert TOKEN not in caplog.text


# ---- the type in the API ----------------------------------------------------------------------------------


def test_slack_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".slack"] == {
        **types[".slack"], "name": "Slack", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "uptime", "siem"], "is_system_action_type": False,
    }


# ---- in the browser -----------------------------------------------------------------------------------------


@drives_browser
def test_create_a_slack_connector_post_a_message_and_keep_the_url_on_edit(page: Page, live: LiveServer, slack):
    page.goto(live.url + "/connectors/new")
    page.get_by_role("searchbox", name="Filter connector types").press_sequentially("slack")
    page.locator("#type-cards .type-card", has_text=re.compile(r"^\s*Slack\b")).first.click()
    expect(page.get_by_role("heading", name="New Slack connector")).to_be_visible()
    page.get_by_label("Name").fill("Slack in the browser")
    page.get_by_label("Webhook URL").fill(slack.webhook_url)
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    cid = page.url.rsplit("/", 1)[1]
    expect(page.locator(".secret-list")).to_contain_text("webhookUrl stored")
    page.get_by_label("Message").fill("Deploy finished on web-01")
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    assert slack.received[-1].json == {"text": "Deploy finished on web-01"}
    assert slack.webhook_url not in page.content() and TOKEN not in page.content()

    # Renamed with the URL left blank: the stored URL still reaches the same webhook.
    page.goto(f"{live.url}/connectors/{cid}/edit")
    expect(page.get_by_label("Webhook URL")).to_have_value("")
    page.get_by_label("Name").fill("Slack renamed")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(f"{live.url}/connectors/{cid}")
    shown = page.request.get(f"{live.url}/api/actions/connector/{cid}").json()
    assert (shown["name"], shown["connector_type_id"], shown["config"]) == ("Slack renamed", ".slack", {})
    page.get_by_role("button", name="Run test").click()
    expect(result).to_have_attribute("data-status", "ok")
    assert [r.path for r in slack.received] == [HOOK_PATH, HOOK_PATH]


def test_a_service_that_echoes_only_the_token_still_shows_it_masked(app, web, slack):
    cid = create_via_form(web, ".slack", slack_fields(slack.webhook_url))
    slack.refuse(403, f"invalid_token {TOKEN}")  # the token alone, not the whole URL

    page = run_test_pane(web, cid)

    assert "invalid_token ••••••" in page and TOKEN not in page
    assert all(TOKEN not in repr(vars(event)) for event in events(app))
