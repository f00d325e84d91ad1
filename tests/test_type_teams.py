"""The `.teams` type end to end, against a fake Teams webhook of both kinds (Workflows and the older Office
365 connector): the test pane and `_execute` post `{"text": message}` to the secret webhook URL; failures
come back in Kibana's words with what Teams said beside them, and the throttling an Office 365 connector
reports inside a 200 is retried at Retry-After."""

from __future__ import annotations

import html
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from tests.api_client import Api
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.teams import CONNECTOR_PATH, SIGNATURE, THROTTLED_TEXT, WORKFLOW_PATH, FakeTeams
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

TEAMS = get_type(".teams")
UNPARSEABLE = "error configuring teams action: unable to parse host name from webhookUrl"
INVALID = "error posting to Microsoft Teams, invalid response"


@pytest.fixture
def teams():
    with FakeTeams() as fake:
        yield fake


def teams_fields(url: str, name: str = "teams") -> dict:
    return {"name": name, "secrets.webhookUrl": url}


def run_test_pane(web, connector_id: str, message: str = "Disk is 91% full on web-01") -> str:
    response = web.post(f"/connectors/{connector_id}/test",
                        data={"params.__present": "1", "params.message": message}, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str):
    cid = create_via_form(web, ".teams", teams_fields(url))
    return run_test_pane(web, cid), events(app)[-1]


def run_api(app, url: str, message: str = "Disk is 91% full on web-01") -> tuple[str, dict]:
    api = Api.with_key(app)
    cid = api.created({"name": "teams", "connector_type_id": ".teams", "secrets": {"webhookUrl": url}})["id"]
    return cid, api.execute(cid, {"message": message}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_posts_the_message_to_a_workflows_webhook(app, web, teams):
    cid = create_via_form(web, ".teams", teams_fields(teams.workflow_url))

    page = run_test_pane(web, cid, "Deploy **finished** on web-01")

    got = teams.received[-1]
    assert (got.method, got.path) == ("POST", WORKFLOW_PATH)
    assert teams.queries[-1] == {"api-version": "2016-06-01", "sp": "/triggers/manual/run", "sv": "1.0",
                                 "sig": SIGNATURE}
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"text": "Deploy **finished** on web-01"}
    assert 'data-status="ok"' in page and "202 Accepted" in page
    assert "Result data: the message that was sent" in page
    assert f"{WORKFLOW_PATH}?api-version=2016-06-01" in page and "sig=••••••" in page  # only the signature hidden
    event = events(app)[-1]
    assert (event.connector_type_id, event.status, event.http_status) == (".teams", "ok", 202)


def test_execute_returns_the_text_that_was_sent(app, teams):
    cid, result = run_api(app, teams.workflow_url, TEAMS.test_params["message"])

    assert result == {"connector_id": cid, "status": "ok", "data": {"text": "Test message from Switchboard"}}


def test_an_office_365_connector_webhook_takes_the_same_message(app, teams):
    _, result = run_api(app, teams.connector_url, "from the old connector")

    assert (result["status"], result["data"]) == ("ok", {"text": "from the old connector"})
    assert (teams.received[-1].path, teams.received[-1].json) == (CONNECTOR_PATH, {"text": "from the old connector"})


# ---- errors, with Kibana's words and what Teams said ------------------------------------------------------------


def test_a_wrong_signature_is_an_invalid_response_and_final(app, web, teams):
    page, event = run_stored(app, web, teams.workflow_url_signed("not-the-signature"))

    assert INVALID in page
    assert "[401] Unauthorized: The provided authorization signature is not valid." in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_a_url_without_its_signature_is_refused(app, teams):
    cid, result = run_api(app, teams.workflow_url_signed(None))

    assert result == {
        "connector_id": cid, "status": "error", "message": INVALID,
        "service_message": "[401] Unauthorized: The request must be authenticated only by Shared Access scheme.",
        "retry": False,
    }


def test_an_unknown_workflow_is_not_found(app, teams):
    _, result = run_api(app, teams.url + "/workflows/00000000000000000000000000000000/triggers/manual/paths/invoke"
                        f"?sig={SIGNATURE}")

    assert result["message"] == INVALID
    assert result["service_message"] == ("[404] Not Found: The workflow '00000000000000000000000000000000' could not "
                                         "be found.")


def test_an_office_365_connector_refusal_shows_its_text(app, teams):
    teams.answer_next(400, "Summary or Text is required.")

    _, result = run_api(app, teams.connector_url)

    assert (result["message"], result["retry"]) == (INVALID, False)
    assert result["service_message"] == "[400] Bad Request: Summary or Text is required."


def test_throttling_reported_in_a_200_says_when_to_retry(app, web, teams):
    teams.throttle_in_a_200(retry_after="60")
    before = datetime.now(UTC)

    page, event = run_stored(app, web, teams.connector_url)

    assert "error posting a Microsoft Teams message, retry at " + event.retry in page
    assert THROTTLED_TEXT in page
    when = datetime.fromisoformat(event.retry.replace("Z", "+00:00"))
    assert before + timedelta(seconds=55) <= when <= datetime.now(UTC) + timedelta(seconds=65)
    assert (event.status, event.http_status) == ("error", 200)


def test_throttling_in_a_200_without_retry_after_retries_later(app, teams):
    teams.throttle_in_a_200(retry_after=None)

    _, result = run_api(app, teams.connector_url)

    assert (result["status"], result["message"]) == ("error", "error posting a Microsoft Teams message, retry later")
    assert (result["service_message"], result["retry"]) == (THROTTLED_TEXT, True)


def test_an_http_429_is_final_as_in_kibana(app, teams):
    # Kibana retries only the throttling reported in a 200; a Workflows 429 falls under "invalid response".
    teams.throttle(retry_after="60")

    _, result = run_api(app, teams.workflow_url)

    assert (result["message"], result["retry"]) == (INVALID, False)
    assert result["service_message"] == "[429] Too Many Requests: Number of requests exceeded the limit. Retry later."


def test_a_server_error_retries_later(app, web, teams):
    teams.outage(503)

    page, event = run_stored(app, web, teams.workflow_url)

    assert "error posting a Microsoft Teams message, retry later" in page
    assert "[503] Service Unavailable: The service is temporarily unavailable." in page
    assert (event.retry, event.http_status) == ("true", 503)


def test_a_refused_connection_is_an_unexpected_error(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}{WORKFLOW_PATH}?sig={SIGNATURE}")

    assert "error posting to Microsoft Teams, unexpected error" in page
    assert "[connection_refused] connection to http://127.0.0.1:" in page
    assert (event.retry, event.http_status) == ("false", None)


# ---- params and settings ------------------------------------------------------------------------------------


def test_an_empty_message_is_refused_before_calling_teams(app, teams):
    _, result = run_api(app, teams.workflow_url, message="")

    assert result["status"] == "error"
    assert result["message"] == "error validating action params: [message]: String should have at least 1 character"
    assert teams.received == []


def test_an_unparseable_url_is_refused_in_kibanas_words_without_echoing_it(web):
    response = web.post("/connectors/new/.teams", data=teams_fields(f"logic.azure.com{WORKFLOW_PATH}?sig={SIGNATURE}"))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert UNPARSEABLE in page
    assert SIGNATURE not in page


def test_a_host_outside_the_allowed_hosts_is_refused_with_teams_prefix(tmp_path, teams):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("prod-00.westus.logic.azure.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.teams", data=teams_fields(teams.workflow_url))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'error configuring teams action: target hostname "127.0.0.1" is not in the allowed hosts list' in page
    assert teams.received == []


# ---- the secret webhook URL --------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_with_nothing_in_config(app, web, teams):
    cid = create_via_form(web, ".teams", teams_fields(teams.workflow_url, name="Ops channel"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "Ops channel", ".teams")
    assert connector.config == {}
    assert connector.secret_fields == {"webhookUrl": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {} and "secrets" not in shown


def test_a_blank_webhook_url_on_edit_keeps_the_stored_one(app, web, teams):
    cid = create_via_form(web, ".teams", teams_fields(teams.workflow_url))
    assert SIGNATURE not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=teams_fields("", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    assert teams.queries[-1]["sig"] == SIGNATURE
    assert connectors(app)[0].name == "renamed"


def test_the_webhook_url_is_never_shown_in_pages_logs_or_events(app, web, teams, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="urllib3")  # the app's level; urllib3's DEBUG lines carry the query
    cid = create_via_form(web, ".teams", teams_fields(teams.workflow_url))
    teams.answer_next(401, {"error": {"code": "DirectApiInvalidAuthorizationSignature",
                                      "message": f"{teams.workflow_url} is not signed right"}})  # echoes the secret

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.teams/test",
                       data={**teams_fields(teams.workflow_url), "params.__present": "1", "params.message": "hi"},
                       htmx=True).get_data(as_text=True)

    assert len(teams.received) == 2 and [q["sig"] for q in teams.queries] == [SIGNATURE]  # scripted: unread
    assert "[401] Unauthorized: •••••• is not signed right" in page
    assert 'data-status="ok"' in unsaved
    for secret in (teams.workflow_url, SIGNATURE):
        assert_secret_kept_out(app, web, secret, cid, page, unsaved, log=caplog.text)


# ---- the type in the API ----------------------------------------------------------------------------------


def test_teams_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".teams"] == {
        **types[".teams"], "name": "Microsoft Teams", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "uptime", "siem", "workflows", "agentBuilder"],
        "is_system_action_type": False,
    }


# ---- in the browser -----------------------------------------------------------------------------------------


@drives_browser
def test_create_a_teams_connector_post_a_message_and_keep_the_url_on_edit(page: Page, live: LiveServer, teams):
    page.goto(live.url + "/connectors/new/.teams")
    expect(page.get_by_role("heading", name="New Microsoft Teams connector")).to_be_visible()
    page.get_by_label("Name").fill("Teams in the browser")
    page.get_by_label("Webhook URL").fill(teams.workflow_url)
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    cid = page.url.rsplit("/", 1)[1]
    page.get_by_label("Message").fill("Deploy finished on web-01")
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("202 Accepted")
    assert teams.received[-1].json == {"text": "Deploy finished on web-01"}
    assert SIGNATURE not in page.content()

    # Renamed with the URL left blank: the stored, signed URL still reaches the workflow.
    page.goto(f"{live.url}/connectors/{cid}/edit")
    expect(page.get_by_label("Webhook URL")).to_have_value("")
    page.get_by_label("Name").fill("Teams renamed")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(f"{live.url}/connectors/{cid}")
    shown = page.request.get(f"{live.url}/api/actions/connector/{cid}").json()
    assert (shown["name"], shown["connector_type_id"], shown["config"]) == ("Teams renamed", ".teams", {})
    page.get_by_role("button", name="Run test").click()
    expect(result).to_have_attribute("data-status", "ok")
    assert [q["sig"] for q in teams.queries] == [SIGNATURE, SIGNATURE]
