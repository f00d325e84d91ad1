"""The `.tines` type end to end, against the fake Tines tenant: `stories` and `webhooks` list one page of
Kibana's 500 with the user's `x-user-email` / `x-user-token`, `run` and `test` look the picked webhook's path
and secret up in the API and post the body there (or to `webhookUrl`), and failures come back in the
sub-action framework's words. The test pane's story → webhook picker is driven here too, with the client
and in a real browser."""

from __future__ import annotations

import html
import json
import logging
import re
import socket

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import GENERIC_ERROR
from app.types.tines import NO_WEBHOOK
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.tines import (
    EMAIL,
    LATE_STORY,
    PHISHING_WEBHOOK,
    TOKEN,
    TRIAGE_PATH,
    TRIAGE_SECRET,
    TRIAGE_STORY,
    TRIAGE_WEBHOOK,
    WEBHOOK_AGENT,
    FakeTines,
)
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

TINES = get_type(".tines")
TRIAGE = {"id": TRIAGE_WEBHOOK, "name": "Elastic Security Webhook", "storyId": TRIAGE_STORY}
BODY = '{"alert": {"id": "a-1"}}'


@pytest.fixture
def tines():
    with FakeTines() as fake:
        yield fake


def tines_fields(url: str, email: str = EMAIL, token: str = TOKEN, name: str = "tines") -> dict:
    return {"name": name, "config.url": url, "secrets.email": email, "secrets.token": token}


def run_test_pane(web, connector_id: str, webhook: dict | None = TRIAGE, **params) -> str:
    """What the test pane posts for `test` once a webhook is picked; other fields keep the form's defaults."""
    data = {"params.__present": "1", "params.subAction": "test", "params.sub.body": BODY,
            "params.sub.webhook": json.dumps(webhook) if webhook else "",
            **{f"params.sub.{k}": v for k, v in params.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def api_connector(api: Api, url: str, token: str = TOKEN) -> str:
    body = {"name": "tines", "connector_type_id": ".tines", "config": {"url": url},
            "secrets": {"email": EMAIL, "token": token}}
    return api.created(body)["id"]


def run_api(app, url: str, sub_action: str, token: str = TOKEN, **params) -> tuple[str, dict]:
    api = Api.with_key(app)
    cid = api_connector(api, url, token)
    return cid, api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- listing stories and webhook actions ------------------------------------------------------------------


def test_stories_are_one_page_of_500_with_the_user_headers_and_flagged_incomplete(app, tines):
    _, result = run_api(app, tines.url, "stories")

    assert result["status"] == "ok"
    stories = result["data"]["stories"]
    assert len(stories) == 500 and result["data"]["incompleteResponse"] is True  # 520 stories: a second page
    assert stories[0] == {"id": TRIAGE_STORY, "name": "Elastic alerts triage", "published": True}  # team_id… dropped
    assert LATE_STORY not in {s["id"] for s in stories}
    (got,) = tines.received
    assert (got.method, got.path) == ("GET", "/api/v1/stories")
    assert got.headers["x-user-email"] == EMAIL and got.headers["x-user-token"] == TOKEN
    assert got.headers["Content-Type"] == "application/json"


def test_webhooks_lists_the_storys_webhook_actions_only(app, tines):
    _, result = run_api(app, tines.url, "webhooks", storyId=str(TRIAGE_STORY))  # Kibana coerces it to a number

    assert result["data"] == {"incompleteResponse": False, "webhooks": [
        TRIAGE, {"id": PHISHING_WEBHOOK, "name": "Phishing intake", "storyId": TRIAGE_STORY}]}
    got = tines.received[-1]
    assert got.path == "/api/v1/agents"
    assert got.query == {"story_id": str(TRIAGE_STORY), "action_type": WEBHOOK_AGENT, "per_page": "500"}
    assert TRIAGE_SECRET not in json.dumps(result)  # a listed webhook carries no path or secret


def test_a_full_page_of_actions_is_flagged_incomplete(app, tines):
    tines.agents.update({n: tines.agents[TRIAGE_WEBHOOK].__class__(n, f"Hook {n}", WEBHOOK_AGENT, TRIAGE_STORY)
                         for n in range(1, 502)})

    _, result = run_api(app, tines.url, "webhooks", storyId=TRIAGE_STORY)

    assert result["data"]["incompleteResponse"] is True and len(result["data"]["webhooks"]) <= 500


# ---- running a webhook -------------------------------------------------------------------------------------


def test_run_reads_the_webhooks_path_and_secret_then_posts_the_body_there(app, tines):
    _, result = run_api(app, tines.url, "run", webhook=TRIAGE, body=BODY)

    assert result["status"] == "ok" and result["data"] == {"status": "ok"}
    lookup, post = tines.received
    assert (lookup.method, lookup.path) == ("GET", f"/api/v1/actions/{TRIAGE_WEBHOOK}")
    assert lookup.headers["x-user-token"] == TOKEN
    assert (post.method, post.path) == ("POST", f"/webhook/{TRIAGE_PATH}/{TRIAGE_SECRET}")
    assert post.body.decode() == BODY  # the body as given, not re-encoded
    assert post.headers["Content-Type"] == "application/json"
    assert "x-user-token" not in post.headers and "x-user-email" not in post.headers


def test_a_webhook_url_wins_over_the_picked_webhook(app, tines):
    url = tines.webhook_url("phishing-intake", "5d1c0f7e9b2a4c6e8f0a1b3c5d7e9f11")

    _, result = run_api(app, tines.url, "run", webhook=TRIAGE, webhookUrl=url, body="[]")

    assert result["status"] == "ok"
    assert [(r.method, r.path) for r in tines.received] == [
        ("POST", "/webhook/phishing-intake/5d1c0f7e9b2a4c6e8f0a1b3c5d7e9f11")]


def test_older_params_with_path_and_secret_still_run_from_the_looked_up_values(app, tines):
    old = {**TRIAGE, "path": "stale-path", "secret": "stale-secret"}  # Kibana's schema strips them

    _, result = run_api(app, tines.url, "run", webhook=old, body="{}")

    assert result["status"] == "ok"
    assert tines.webhook_posts[-1].path == f"/webhook/{TRIAGE_PATH}/{TRIAGE_SECRET}"


def test_neither_webhook_nor_url_is_refused_before_any_request(app, tines):
    _, result = run_api(app, tines.url, "run", body="{}")

    assert (result["status"], result["message"], result["service_message"]) == ("error", GENERIC_ERROR, NO_WEBHOOK)
    assert tines.received == []


@pytest.mark.parametrize(
    "webhook",
    [
        {**TRIAGE, "storyId": LATE_STORY},  # moved to another story
        {"id": 941614, "name": "Enrich alert", "storyId": TRIAGE_STORY},  # not a webhook action
    ],
)
def test_a_webhook_that_no_longer_matches_tines_is_not_posted_to(app, tines, webhook):
    _, result = run_api(app, tines.url, "run", webhook=webhook, body="{}")

    assert result["message"] == GENERIC_ERROR
    assert result["service_message"] == (
        f"Invalid configuration for webhook id: {webhook['id']}. Verify webhook exists in Tines.")
    assert tines.webhook_posts == []


def test_a_deleted_webhook_is_a_not_found_api_error(app, tines):
    _, result = run_api(app, tines.url, "run", webhook={**TRIAGE, "id": 1}, body="{}")

    assert result["service_message"] == "Status code: 404. Message: API Error: Not Found"
    assert result["retry"] is False and tines.webhook_posts == []


# ---- the test pane, the form and the event log ------------------------------------------------------------


def test_test_pane_runs_the_picked_webhook_and_the_event_log_records_it(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))

    page = run_test_pane(web, cid)

    post = tines.webhook_posts[-1]
    assert (post.method, post.path, post.json) == ("POST", f"/webhook/{TRIAGE_PATH}/{TRIAGE_SECRET}",
                                                    {"alert": {"id": "a-1"}})
    assert 'data-status="ok"' in page and "201 Created" in page
    assert "x-user-token" in page  # header names are shown, never their values
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status, event.http_status, event.source) == (
        ".tines", "test", "ok", 201, "test_pane")


def test_the_test_pane_checks_the_body_is_json(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))

    response = web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "test", "params.sub.body": "{not json",
        "params.sub.webhook": json.dumps(TRIAGE)})

    assert response.status_code == 422 and "Invalid JSON" in response.get_data(as_text=True)
    assert tines.received == []


def test_the_prefilled_test_params_ask_for_a_webhook(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '<option value="test" selected>' in detail and "Test from Switchboard" in detail
    assert "Select a story first" in detail and "List stories" in detail

    result = Api.with_key(app).execute(cid, TINES.test_params).get_json()

    assert result["service_message"] == NO_WEBHOOK  # Kibana's test params pick no webhook either


def test_connector_is_created_through_the_form_with_its_credentials_as_secrets(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url, name="SOC Tines"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "SOC Tines", ".tines")
    assert connector.config == {"url": tines.url}
    assert connector.secret_fields == {"email": True, "token": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"url": tines.url} and "secrets" not in shown


def test_blank_credentials_on_edit_keep_the_stored_ones(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=tines_fields(tines.url, email="", token="", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    lookup = tines.api_calls[-1]
    assert (lookup.headers["x-user-email"], lookup.headers["x-user-token"]) == (EMAIL, TOKEN)
    assert connectors(app)[0].name == "renamed"


# ---- errors: the sub-action framework's words -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "reason", "retry"),
    [
        ("wrong token", 401, "Unauthorized", False),
        ("forbid", 403, "Forbidden", False),
        ("outage", 500, "Internal Server Error", True),
    ],
)
def test_an_api_error_names_the_status_and_its_text(app, tines, fault, status, reason, retry):
    token = "not-the-token" if fault == "wrong token" else TOKEN
    if fault != "wrong token":
        getattr(tines, fault)()

    _, result = run_api(app, tines.url, "stories", token=token)

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": retry,
                      "service_message": f"Status code: {status}. Message: API Error: {reason}"}


def test_throttling_asks_for_a_retry_without_reading_retry_after(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))
    tines.throttle(retry_after="30")

    page = run_test_pane(web, cid)

    # Kibana's sub-action framework reads no Retry-After: the task's own backoff decides when.
    assert "Status code: 429. Message: API Error: Too Many Requests" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", 429)
    assert tines.webhook_posts == []


def test_a_wrong_webhook_url_is_not_found(app, tines):
    _, result = run_api(app, tines.url, "run", webhookUrl=tines.webhook_url(TRIAGE_PATH, "wrong"), body="{}")

    assert result["service_message"] == "Status code: 404. Message: API Error: Not Found"
    assert result["retry"] is False


def test_a_refused_connection_shows_the_error_and_is_worth_retrying(app, web):
    url = f"http://127.0.0.1:{free_port()}"
    cid = create_via_form(web, ".tines", tines_fields(url))

    page = run_test_pane(web, cid)

    assert GENERIC_ERROR in page
    assert "Status code: undefined. Message: Error: connection to http://127.0.0.1:" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", None)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"stories": []}, "[meta]: Field required"),
        ({"stories": [{"id": 1, "name": "x"}], "meta": {"pages": 1}}, "[stories.0.published]: Field required"),
        ("<html>Maintenance</html>", "Response is not a valid JSON"),
    ],
)
def test_a_stories_answer_of_another_shape_fails_response_validation(app, tines, answer, detail):
    tines.answer_next(200, answer)

    _, result = run_api(app, tines.url, "stories")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, False)
    assert result["service_message"] == f"Response validation failed ({detail})"


def test_a_webhook_answering_plain_text_fails_response_validation_as_in_kibana(app, tines):
    tines.webhook_answer = (201, "Ok", "text/plain")  # Tines' default webhook response

    _, result = run_api(app, tines.url, "run", webhook=TRIAGE, body="{}")

    assert result["service_message"] == "Response validation failed (Response is not a valid JSON)"
    assert len(tines.webhook_posts) == 1


# ---- params --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "message"),
    [
        ("webhooks", {}, "Request validation failed ([storyId]: Field required)"),
        ("webhooks", {"storyId": "latest"}, "Request validation failed ([storyId]: Input should be a valid integer"),
        ("run", {"webhook": TRIAGE}, "Request validation failed ([body]: Field required)"),
        ("stories", {"page": 2}, "Request validation failed ([page]: Extra inputs are not permitted)"),
        ("pushToService", {}, 'Sub action "pushToService" is not registered.'),
    ],
)
def test_bad_params_are_refused_with_kibanas_text(app, tines, sub_action, params, message):
    _, result = run_api(app, tines.url, sub_action, **params)

    assert result["status"] == "error" and result["message"].startswith(message)
    assert tines.received == []


# ---- the URL -------------------------------------------------------------------------------------------------


def test_a_tenant_outside_the_allowed_hosts_is_refused_with_the_frameworks_prefix(tmp_path, tines):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("example.tines.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.tines", data=tines_fields(tines.url))

    assert response.status_code == 422
    assert ('error validating url: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert tines.received == []


# ---- secrets -------------------------------------------------------------------------------------------------


def test_the_token_is_sent_but_never_shown_in_pages_logs_or_events(app, web, tines, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".tines", tines_fields(tines.url))
    tines.answer_next(500, {"error": f"token {TOKEN} is locked"})  # a service that echoes the secret

    page = run_test_pane(web, cid)
    picker = web.post("/types/.tines/stories", data={"tines.connector": cid}, htmx=True).get_data(as_text=True)
    unsaved = web.post("/connectors/new/.tines/test", htmx=True, data={
        **tines_fields(tines.url), "params.__present": "1", "params.subAction": "test", "params.sub.body": "{}",
        "params.sub.webhook": json.dumps(TRIAGE)}).get_data(as_text=True)

    assert [r.headers["x-user-token"] for r in tines.api_calls] == [TOKEN] * 3
    assert "token •••••• is locked" in page
    assert_secret_kept_out(app, web, TOKEN, cid, page, picker, unsaved, log=caplog.text)


# ---- the story → webhook picker ------------------------------------------------------------------------------


def words(response) -> str:
    """The answer's text with its line breaks and indents read as single spaces, as a browser shows it."""
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def options(page: str, select_id: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select id="{select_id}".*?</select>', page, re.S).group(0)
    return [(html.unescape(v), label.strip()) for v, label in
            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)]


def test_the_picker_lists_a_saved_connectors_stories_and_says_when_there_are_more(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))

    page = words(web.post("/types/.tines/stories", data={"tines.connector": cid}, htmx=True))

    listed = options(page, "tines-story")
    assert listed[0] == ("", "Select a Tines story") and len(listed) == 501
    assert listed[1] == (str(TRIAGE_STORY), "Elastic alerts triage (Published)")
    assert "Tines API results limit reached" in page and "more than 500 results" in page
    event = events(app)[-1]
    assert (event.sub_action, event.status, event.source) == ("stories", "ok", "form")


def test_picking_a_story_lists_its_webhooks_as_the_params_value(app, viewer, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url))

    page = viewer.post("/types/.tines/webhooks", data={"tines.connector": cid, "tines.storyId": str(TRIAGE_STORY)},
                       htmx=True).get_data(as_text=True)  # viewers may test, so they may pick

    listed = options(page, "params-sub-webhook")
    assert listed[0] == ("", "Select a webhook action")
    assert [json.loads(v) for v, _ in listed[1:]] == [
        TRIAGE, {"id": PHISHING_WEBHOOK, "name": "Phishing intake", "storyId": TRIAGE_STORY}]
    assert "2 webhook actions listed." in page
    assert tines.received[-1].query["story_id"] == str(TRIAGE_STORY)


def test_the_picker_on_the_edit_form_uses_the_forms_url_and_the_stored_token(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields("https://example.tines.com"))

    page = web.post("/types/.tines/stories", htmx=True, data={
        **tines_fields(tines.url, email="", token=""), "connector_id": cid}).get_data(as_text=True)

    assert "500 stories listed." in page
    assert tines.received[-1].headers["x-user-token"] == TOKEN


def test_a_picker_error_is_shown_with_the_webhook_url_fallback(app, web, tines):
    cid = create_via_form(web, ".tines", tines_fields(tines.url, token="wrong"))

    page = words(web.post("/types/.tines/stories", data={"tines.connector": cid}, htmx=True))

    assert "Error retrieving stories from Tines." in page
    assert "Status code: 401. Message: API Error: Unauthorized" in page
    assert "set the Tines Webhook URL in the input below" in page


def test_a_picker_that_names_no_tines_connector_says_so(web):
    page = web.post("/types/.tines/stories", data={"tines.connector": "nope"}, htmx=True)

    assert page.status_code == 200 and "does not name a Tines connector" in page.get_data(as_text=True)


@drives_browser
def test_pick_a_story_and_a_webhook_then_run_the_test(page: Page, live: LiveServer, tines: FakeTines):
    cid = post_create(page, live, ".tines", tines_fields(tines.url, name="Tines e2e"))
    page.goto(f"{live.url}/connectors/{cid}")
    expect(page.get_by_label("Sub-action")).to_have_value("test")

    page.get_by_role("button", name="List stories").click()
    expect(page.locator("#tines-stories")).to_contain_text("Tines API results limit reached")
    story = page.get_by_label("Tines Story")
    expect(story.locator("option")).to_have_count(501)  # the first of the tenant's two pages
    story.select_option(label="Elastic alerts triage (Published)")
    webhook = page.get_by_label("Tines Webhook action")
    expect(webhook.locator("option")).to_have_count(3)
    webhook.select_option(label="Phishing intake")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    post = tines.webhook_posts[-1]
    assert post.path == "/webhook/phishing-intake/5d1c0f7e9b2a4c6e8f0a1b3c5d7e9f11"
    assert post.json["alerts"][0]["rule"]["name"] == "Test from Switchboard"
    recent = page.locator("#recent-runs tbody tr").first  # reloaded after the run
    expect(recent).to_contain_text("test")
    expect(recent).to_have_attribute("data-event-status", "ok")
    expect(recent).to_contain_text("201")


def test_the_webhooks_secret_learned_during_a_run_is_never_shown(app, web, tines, caplog):
    caplog.set_level(logging.INFO)
    cid = create_via_form(web, ".tines", tines_fields(tines.url))

    page = run_test_pane(web, cid)  # reads the secret from the API, then posts to a URL holding it

    assert tines.webhook_posts[-1].path == f"/webhook/{TRIAGE_PATH}/{TRIAGE_SECRET}"  # it was really used
    assert f"/webhook/{TRIAGE_PATH}/••••••" in html.unescape(page)  # shown masked in the POST's URL
    assert_secret_kept_out(app, web, TRIAGE_SECRET, cid, page, log=caplog.text)
