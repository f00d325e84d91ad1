"""The `.cases-webhook` type end to end, against a fake REST ticket tracker: a push creates (or updates) the
issue from the connector's templates, reads its title back, adds the comments and answers the URL a person
opens; every failure reads as Kibana's, with a retry flag that says whether trying again can help."""

from __future__ import annotations

import html
import json
import logging
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import EXAMPLE_CASE, GENERIC_ERROR
from tests.api_client import Api, basic
from tests.browser import drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.cases_webhook import PASSWORD, READ_ONLY_USER, USER, FakeTracker
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events, form_data, pane_data
from tests.live_server import LiveServer

CASES_WEBHOOK = get_type(".cases-webhook")
PREFIX = "[Action][Webhook - Case Management]: "
INCIDENT = {"title": 'Login storm on "web-01"', "description": "Five failures,\nthen a success.",
            "tags": ["auth", "web"], "severity": "high", "status": "open", "id": "case-7"}


@pytest.fixture
def tracker():
    with FakeTracker() as fake:
        yield fake


def secrets(user: str = USER, password: str = PASSWORD) -> dict:
    return {"user": user, "password": password}


def create(web, tracker: FakeTracker, name: str = "tracker", config: dict | None = None, **secret_values) -> str:
    return create_via_form(web, ".cases-webhook",
                           form_data(CASES_WEBHOOK, name, config or tracker.config(), secret_values or secrets()))


def api_connector(api: Api, config: dict, secret_values: dict | None = None) -> str:
    body = {"name": "tracker", "connector_type_id": ".cases-webhook", "config": config,
            "secrets": secrets() if secret_values is None else secret_values}
    return api.created(body)["id"]


def push(incident: dict, comments: list | None = None) -> dict:
    return {"subAction": "pushToService", "subActionParams": {"incident": incident, "comments": comments}}


def run_test_pane(web, connector_id: str, params: dict | None = None) -> str:
    response = web.post(f"/connectors/{connector_id}/test", data=pane_data(CASES_WEBHOOK, params), htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- pushing a new case ---------------------------------------------------------------------------------


def test_test_pane_creates_the_issue_reads_its_title_and_adds_the_comment(app, web, tracker):
    cid = create(web, tracker)

    page = run_test_pane(web, cid)

    create_call, get_call, comment_call = tracker.received
    assert (create_call.method, create_call.path) == ("POST", "/api/issues")
    assert create_call.headers["Content-Type"] == "application/json"
    assert create_call.headers["Authorization"].startswith("Basic ")
    incident = CASES_WEBHOOK.test_params["subActionParams"]["incident"]
    assert create_call.json == {"fields": {"summary": incident["title"], "description": incident["description"],
                                           "labels": incident["tags"], "priority": "high"}}
    assert (get_call.method, get_call.path, get_call.body) == ("GET", "/api/issues/SEC-1", b"")
    assert (comment_call.method, comment_call.path) == ("POST", "/api/issues/SEC-1/comments")
    assert comment_call.json == {"body": "Pushed from Switchboard's test pane."}
    assert 'data-status="ok"' in page and f"{tracker.url}/browse/SEC-1" in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.status) == (".cases-webhook", "ok")


def test_push_through_the_api_answers_id_title_url_pushed_date_and_comments(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    before = datetime.now(UTC)

    result = api.execute(cid, push(INCIDENT, [{"commentId": "c-1", "comment": "first"},
                                              {"commentId": "c-2", "comment": ""}])).get_json()

    assert result["status"] == "ok", result
    data = result["data"]
    assert {k: data[k] for k in ("id", "title", "url")} == {
        "id": "SEC-1", "title": 'Login storm on "web-01"', "url": f"{tracker.url}/browse/SEC-1"}
    pushed = datetime.fromisoformat(data["pushedDate"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= pushed <= datetime.now(UTC)
    assert data["pushedDate"].endswith("Z") and len(data["pushedDate"]) == len("2026-01-01T00:00:00.000Z")
    assert data["comments"] == [{"commentId": "c-1", "pushedDate": data["pushedDate"]}]  # an empty comment is skipped
    assert tracker.comments == {"SEC-1": [{"id": "1", "body": "first"}]}


def test_quotes_newlines_and_unicode_in_the_case_stay_valid_json(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tricky = {**INCIDENT, "title": 'He said "hi" \\ {{{case.id}}} ünïcode ✓', "description": "line 1\nline 2\t<b>&</b>"}

    result = api.execute(cid, push(tricky)).get_json()

    assert result["status"] == "ok", result
    fields = tracker.received[0].json["fields"]
    assert (fields["summary"], fields["description"]) == (tricky["title"], tricky["description"])
    assert result["data"]["title"] == tricky["title"]


def test_a_partial_in_a_template_reads_no_file(app, tracker, tmp_path, monkeypatch):
    (tmp_path / "leak.mustache").write_text("local file contents")
    monkeypatch.chdir(tmp_path)
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(createIncidentJson=(
        '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}, "p": "{{> leak}}"}}')))

    api.execute(cid, push(INCIDENT))

    assert tracker.received[0].json["fields"]["p"] == ""


def test_a_push_without_comments_answers_an_empty_comment_list_and_sends_none(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())

    result = api.execute(cid, push({"title": "Only a title"})).get_json()

    assert result["data"]["comments"] == []
    assert [r.method for r in tracker.received] == ["POST", "GET"]
    assert tracker.received[0].json["fields"] == {"summary": "Only a title", "description": "", "labels": [],
                                                  "priority": ""}


def test_the_view_url_holds_the_id_and_title_url_encoded(app, tracker):
    config = tracker.config(viewIncidentUrl=f"{tracker.url}/browse/{{{{{{external.system.id}}}}}}?title="
                                            "{{{external.system.title}}}")
    api = Api.with_key(app)
    cid = api_connector(api, config)

    result = api.execute(cid, push({**INCIDENT, "title": "a/b c&d?"})).get_json()

    assert result["data"]["url"] == f"{tracker.url}/browse/SEC-1?title=a%2Fb%20c%26d%3F"


def test_a_numeric_id_is_read_as_text_and_sent_json_encoded_to_a_get_by_post(app, tracker):
    config = tracker.config(createIncidentResponseKey="id", getIncidentUrl=f"{tracker.api}/search",
                            getIncidentMethod="post", getIncidentJson='{"key": {{{external.system.id}}}}')
    api = Api.with_key(app)
    cid = api_connector(api, config)
    tracker.answer_next(201, {"id": 10001, "key": "SEC-1"})
    tracker.add_issue("Remote title")  # SEC-1, found by the key the get's JSON names

    result = api.execute(cid, push({**INCIDENT, "title": "Remote title"})).get_json()

    # the id read is the number as text, and the get is a POST with it JSON-encoded
    get_call = tracker.received[1]
    assert (get_call.method, get_call.path, get_call.json) == ("POST", "/api/issues/search", {"key": "10001"})
    assert result["status"] == "error"  # the tracker knows no issue "10001": the get says so, with its id
    assert result["service_message"].startswith(
        f"{PREFIX}Unable to create case. Error: {PREFIX}Unable to get case with id 10001. "
        "Error: Request failed with status code 404.")


def test_getincident_with_post_reads_the_title_by_a_dotted_path(app, tracker):
    config = tracker.config(getIncidentUrl=f"{tracker.api}/search", getIncidentMethod="post",
                            getIncidentJson='{"key": {{{external.system.id}}}}')
    api = Api.with_key(app)
    cid = api_connector(api, config)

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["status"] == "ok", result
    assert tracker.received[1].json == {"key": "SEC-1"}
    assert result["data"]["title"] == INCIDENT["title"]


# ---- pushing an update ----------------------------------------------------------------------------------


def test_an_external_id_updates_that_issue_then_reads_it_back(app, tracker):
    key = tracker.add_issue("Old title")
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())

    result = api.execute(cid, push({**INCIDENT, "externalId": key, "status": "closed"},
                                   [{"commentId": "c-9", "comment": "closing"}])).get_json()

    update, get_call, comment = tracker.received
    assert (update.method, update.path) == ("PUT", f"/api/issues/{key}")
    assert update.json == {"fields": {"summary": INCIDENT["title"], "description": INCIDENT["description"],
                                      "status": "closed", "ref": key}}
    assert (get_call.method, comment.method) == ("GET", "POST")
    assert result["status"] == "ok", result
    assert result["data"]["id"] == key and result["data"]["title"] == INCIDENT["title"]
    assert result["data"]["comments"] == [{"commentId": "c-9", "pushedDate": result["data"]["pushedDate"]}]


def test_an_external_id_is_url_encoded_in_urls_and_json_encoded_in_bodies(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())

    result = api.execute(cid, push({**INCIDENT, "externalId": 'SEC 1/"2"'})).get_json()

    assert tracker.raw_paths[0] == "/api/issues/SEC%201%2F%222%22"
    assert tracker.received[0].json["fields"]["ref"] == 'SEC 1/"2"'
    assert result["service_message"].startswith(f'{PREFIX}Unable to update case with id SEC 1/"2". '
                                                "Error: Request failed with status code 404.")


def test_an_update_answered_204_with_no_body_is_fine(app, tracker):
    key = tracker.add_issue("t")
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())

    result = api.execute(cid, push({**INCIDENT, "externalId": key})).get_json()

    assert result["status"] == "ok"
    assert tracker.received[0].method == "PUT"


# ---- cases ---------------------------------------------------------------------------------------------


def test_a_case_becomes_the_incident_the_templates_read(app, tracker):
    incident = CASES_WEBHOOK.case_incident(EXAMPLE_CASE, CASES_WEBHOOK.case_fields())
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(createIncidentJson=(
        '{"t": {{{case.title}}}, "d": {{{case.description}}}, "tags": {{{case.tags}}}, "sev": {{{case.severity}}}, '
        '"st": {{{case.status}}}, "id": {{{case.id}}}}')))

    result = api.execute(cid, push({**incident, "externalId": None})).get_json()

    assert result["status"] == "ok", result
    assert tracker.received[0].json == {"t": EXAMPLE_CASE.title, "d": EXAMPLE_CASE.description,
                                        "tags": list(EXAMPLE_CASE.tags), "sev": "high", "st": "open", "id": "case-1"}


# ---- errors: Kibana's words, a retry flag that helps ----------------------------------------------------


def test_a_wrong_password_is_refused_with_the_trackers_body_and_not_retried(app, web, tracker):
    cid = create(web, tracker, **secrets(password="not-the-password"))

    page = run_test_pane(web, cid)

    assert GENERIC_ERROR in page
    assert (f'{PREFIX}Unable to create case. Error: Request failed with status code 401. '
            '{"errorMessages":["You are not authenticated. Authentication required to perform this operation."],'
            '"errors":{}} Reason: Unauthorized') in page
    event = events(app)[-1]
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_a_user_without_write_access_is_forbidden(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(), secrets(user=READ_ONLY_USER))

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result == {
        "connector_id": cid, "status": "error", "message": GENERIC_ERROR, "retry": False,
        "service_message": f"{PREFIX}Unable to create case. Error: Request failed with status code 403. "
                           '{"errorMessages":["You do not have permission to edit issues in this project."],'
                           '"errors":{}} Reason: Forbidden',
    }


def test_an_issue_the_get_cannot_find_fails_the_create_with_both_steps_named(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(getIncidentUrl=f"{tracker.api}/X-{{{{{{external.system.id}}}}}}"))

    result = api.execute(cid, push(INCIDENT)).get_json()

    body = '{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}'
    assert result["service_message"] == (
        f"{PREFIX}Unable to create case. Error: {PREFIX}Unable to get case with id SEC-1. Error: Request failed "
        f"with status code 404. {body} Reason: Not Found. {body} Reason: Not Found")
    assert result["retry"] is False


def test_throttling_with_retry_after_says_when_to_retry(app, web, tracker):
    cid = create(web, tracker)
    tracker.throttle(retry_after="120")
    before = datetime.now(UTC)

    page = run_test_pane(web, cid)

    event = events(app)[-1]
    assert "Request failed with status code 429." in page and "Reason: Too Many Requests" in page
    when = datetime.fromisoformat(event.retry.replace("Z", "+00:00"))
    assert before + timedelta(seconds=115) <= when <= datetime.now(UTC) + timedelta(seconds=125)


def test_throttling_without_retry_after_retries_later(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tracker.throttle(retry_after=None)

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["retry"] is True


def test_an_outage_is_worth_retrying(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tracker.outage(503)

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == (
        f"{PREFIX}Unable to create case. Error: Request failed with status code 503. "
        '{"errorMessages":["The tracker is down for maintenance."],"errors":{}} Reason: Service Unavailable')
    assert result["retry"] is True


def test_a_refused_connection_is_worth_retrying(app, web, tracker):
    config = tracker.config(createIncidentUrl=f"http://127.0.0.1:{free_port()}/api/issues")
    cid = create(web, tracker, config=config)

    page = run_test_pane(web, cid)

    assert f"{PREFIX}Unable to create case. Error: [connection_refused]" in page
    event = events(app)[-1]
    assert (event.retry, event.http_status) == ("true", None)


def test_a_create_answer_without_the_response_key_names_the_missing_field(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(createIncidentResponseKey="data.issue.key"))

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == (
        f"{PREFIX}Unable to create case. Error: Response is missing the expected field: data.issue.key.")
    assert result["retry"] is False
    assert len(tracker.received) == 1  # nothing after the create


def test_an_answer_that_is_a_web_page_is_an_unsupported_content_type(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tracker.answer_raw(200, "<html>Sign in</html>", "text/html; charset=utf-8")

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == (
        f"{PREFIX}Unable to create case. Error: Unsupported content type: text/html; charset=utf-8 in post "
        f"{tracker.api}. Supported content types: application/json.")


def test_an_answer_without_a_content_type_says_so(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tracker.answer_raw(201, '{"key": "SEC-1"}', None)

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == (
        f"{PREFIX}Unable to create case. Error: Missing content type header in post {tracker.api}. "
        "Supported content types: application/json.")


def test_json_content_type_with_a_body_that_is_not_json_must_be_valid_json(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())
    tracker.answer_raw(201, "created SEC-1", "application/json")

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == f"{PREFIX}Unable to create case. Error: Response is not a valid JSON."


def test_a_failed_comment_names_the_case(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(createCommentUrl=f"{tracker.api}/{{{{{{external.system.id}}}}}}/notes"))

    result = api.execute(cid, push(INCIDENT, [{"commentId": "c", "comment": "hello"}])).get_json()

    assert result["service_message"].startswith(
        f"{PREFIX}Unable to create comment at case with id SEC-1. Error: Request failed with status code 404.")
    assert tracker.issues["SEC-1"]  # the issue itself was made


def test_a_params_without_title_is_refused_before_any_request(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config())

    result = api.execute(cid, push({"description": "no title"})).get_json()

    assert result["status"] == "error"
    assert "incident.title" in result["message"] and "Field required" in result["message"]
    assert tracker.received == []


def test_a_url_no_longer_in_the_allowed_hosts_is_refused_before_sending(tmp_path, tracker):
    config = tracker.config(hasAuth=False, authType=None)
    key = Fernet.generate_key().decode()  # the same database, opened again with narrower allowed hosts
    cid = api_connector(Api.with_key(make_app(tmp_path, keys=[key])), config, {})
    narrowed = make_app(tmp_path, OutboundSettings(allowed_hosts=("tracker.example.com",)), keys=[key])

    result = Api.with_key(narrowed).execute(cid, push(INCIDENT)).get_json()

    assert result["service_message"] == (
        f'{PREFIX}Unable to create case. Error: Invalid Create case URL: Error: target hostname "127.0.0.1" is not '
        "in the allowed hosts list ([outbound] allowed_hosts).")
    assert result["retry"] is False
    assert tracker.received == []


def test_a_title_cannot_move_the_view_url_to_another_host(tmp_path, tracker):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
    api = Api.with_key(app)
    # the view URL's host is fixed; a title that makes its path odd still cannot leave the allowed host
    cid = api_connector(api, tracker.config(viewIncidentUrl="http://127.0.0.1/browse/{{{external.system.title}}}"))

    result = api.execute(cid, push({**INCIDENT, "title": "@evil.example/x"})).get_json()

    assert result["status"] == "ok"
    assert result["data"]["url"] == "http://127.0.0.1/browse/%40evil.example%2Fx"


# ---- the connector: form, validation, secrets -------------------------------------------------------------


def test_connector_is_created_through_the_form_with_its_credentials_as_secrets(app, web, tracker):
    cid = create(web, tracker, name="SecOps tracker")

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "SecOps tracker", ".cases-webhook")
    assert connector.config["createIncidentJson"] == tracker.config()["createIncidentJson"]
    assert connector.config["getIncidentUrl"] == f"{tracker.api}/{{{{{{external.system.id}}}}}}"
    assert {k for k, v in connector.secret_fields.items() if v} == {"user", "password"}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert "secrets" not in shown and PASSWORD not in json.dumps(shown)


def test_a_blank_password_on_edit_keeps_the_stored_one(app, web, tracker):
    cid = create(web, tracker)
    assert PASSWORD not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit",
                    data=form_data(CASES_WEBHOOK, "renamed", tracker.config(), {"user": USER, "password": ""}))
    run_test_pane(web, cid)

    assert edit.status_code == 303, edit.get_data(as_text=True)[:2000]
    assert tracker.received[0].headers["Authorization"] == basic(USER, PASSWORD)
    assert events(app)[-1].status == "ok"
    assert connectors(app)[0].name == "renamed"


def test_the_form_offers_each_templates_variables(web):
    page = html.unescape(web.get("/connectors/new/.cases-webhook").get_data(as_text=True))

    assert 'data-target="config-createIncidentJson"' in page
    assert 'data-insert="{{{case.title}}}" data-target="config-createIncidentJson"' in page
    assert 'data-insert="{{{case.comment}}}" data-target="config-createCommentJson"' in page
    assert 'data-insert="{{{external.system.title}}}" data-target="config-viewIncidentUrl"' in page
    assert 'data-insert="{{{case.title}}}" data-target="config-getIncidentUrl"' not in page
    assert "/types/.cases-webhook/static/template_variables.js" in page


def test_the_variables_script_is_served(web):
    response = web.get("/types/.cases-webhook/static/template_variables.js")
    script = response.get_data(as_text=True)
    response.close()

    assert response.status_code == 200 and "setRangeText" in script


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"createIncidentJson": '{"summary": {{{case.title}}}}'}, "createIncidentJson",
         "Missing required variable: {{{case.description}}}"),
        ({"createIncidentJson": '{"summary": "{{{case.title}}}", "d": {{{case.description}}}}'}, "createIncidentJson",
         "Create case object is required and must be valid JSON."),
        ({"updateIncidentJson": '{"x": 1}'}, "updateIncidentJson",
         "Missing required variables: {{{case.title}}}, {{{case.description}}}"),
        ({"getIncidentMethod": "post", "getIncidentJson": ""}, "getIncidentJson",
         "Get case object is required and must be valid JSON."),
        ({"createCommentJson": '{"body": "fixed"}'}, "createCommentJson", "Missing required variable: {{{case.comment}}}"),
        ({"createCommentJson": "{body: {{{case.comment}}}}"}, "createCommentJson",
         "Create comment object must be valid JSON."),
        ({"createCommentJson": ""}, "createCommentJson", "Create comment Json is required."),
        ({"createCommentUrl": ""}, "createCommentUrl", "Create comment URL is required."),
        ({"authType": "webhook-oauth2-client-credentials"}, "authType",
         "OAuth2 authentication is not supported for cases webhook connector"),
        ({"createIncidentUrl": "not a url"}, "createIncidentUrl",
         'error configuring cases webhook action: unable to parse url "not a url"'),
    ],
)
def test_the_form_refuses_templates_kibanas_form_refuses(web, tracker, overrides, field, message):
    config = {k: v for k, v in tracker.config(**overrides).items() if v != ""}

    response = web.post("/connectors/new/.cases-webhook", data=form_data(CASES_WEBHOOK, "bad", config, secrets()))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert message in page
    assert f'data-field="config.{field}"' in page


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({}, "password", "must specify a secrets configuration"),
        ({"user": USER}, "password", "must specify one of the following schemas: user and password; crt and key"),
        ({"user": USER, "password": PASSWORD, "pfx": "cGZ4"}, "user", "must specify one of the following schemas"),
    ],
)
def test_the_api_refuses_secrets_kibana_refuses(app, tracker, given, field, message):
    response = Api.with_key(app).create({"name": "t", "connector_type_id": ".cases-webhook",
                                         "config": tracker.config(), "secrets": given})

    assert response.status_code == 400
    assert f"error validating action type secrets: [{field}]: {message}" in response.get_json()["message"]


def test_no_authentication_needs_no_secrets_and_sends_no_authorization(app, tracker):
    tracker.accounts = {}
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(hasAuth=False, authType=None), {})

    api.execute(cid, push(INCIDENT))

    assert "Authorization" not in tracker.received[0].headers


def test_headers_and_secret_headers_are_sent(app, tracker):
    api = Api.with_key(app)
    cid = api_connector(api, tracker.config(headers={"X-Team": "secops"}),
                        {**secrets(), "secretHeaders": {"X-Api-Key": "k-123456"}})

    api.execute(cid, push(INCIDENT))

    got = tracker.received[0].headers
    assert (got["X-Team"], got["X-Api-Key"], got["Content-Type"]) == ("secops", "k-123456", "application/json")


def test_a_host_outside_the_allowed_hosts_is_refused_with_the_types_prefix(tmp_path, tracker):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("tracker.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.cases-webhook", data=form_data(CASES_WEBHOOK, "t", tracker.config(), secrets()))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert ('error configuring cases webhook action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in page)


def test_the_password_is_sent_but_never_shown_in_pages_logs_or_events(app, web, tracker, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create(web, tracker)
    tracker.answer_next(401, {"errorMessages": [f"password {PASSWORD} has expired"], "errors": {}})

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.cases-webhook/test",
                       data={**form_data(CASES_WEBHOOK, "u", tracker.config(), secrets()), **pane_data(CASES_WEBHOOK)},
                       htmx=True).get_data(as_text=True)

    assert "has expired" in page and "Authorization" in page
    assert len(tracker.received) >= 2
    assert_secret_kept_out(app, web, PASSWORD, cid, page, unsaved, log=caplog.text)


def test_the_type_is_listed_for_cases_only(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".cases-webhook"] == {
        **types[".cases-webhook"], "name": "Webhook - Case Management", "minimum_license_required": "gold",
        "supported_feature_ids": ["cases"],
    }


# ---- in the browser ----------------------------------------------------------------------------------------


def field(page: Page, label: str):
    """The form field labelled exactly `label` (a required one's label ends in "*")."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


@drives_browser
def test_create_with_clicked_variables_then_push_from_the_test_pane(page: Page, live: LiveServer, tracker):
    page.goto(live.url + "/connectors/new/.cases-webhook")
    field(page, "Name").fill("Tracker e2e")
    field(page, "Create case URL").fill(tracker.api)

    def variables_of(label: str):
        return page.get_by_role("group", name=f"Add variable to {label}")

    create_json = field(page, "Create case object")
    create_json.fill('{"fields": {"summary": ')
    variables_of("Create case object").get_by_role("button", name="case.title").click()
    page.keyboard.type(', "description": ')
    variables_of("Create case object").get_by_role("button", name="case.description").click()
    page.keyboard.type("}}")
    expect(create_json).to_have_value('{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}}}')
    field(page, "Create case response external key").fill("key")
    get_url = field(page, "Get case URL")
    get_url.fill(f"{tracker.api}/")  # never focused again: the click below appends at the end
    variables_of("Get case URL").get_by_role("button", name="external.system.id").click()
    expect(get_url).to_have_value(f"{tracker.api}/{{{{{{external.system.id}}}}}}")
    field(page, "Get case response external title key").fill("fields.summary")
    field(page, "External case view URL").fill(f"{tracker.url}/browse/{{{{{{external.system.id}}}}}}")
    field(page, "Update case URL").fill(f"{tracker.api}/{{{{{{external.system.id}}}}}}")
    field(page, "Update case object").fill(
        '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}}}')
    page.get_by_label("Require authentication for this webhook").check()
    field(page, "Authentication").select_option("webhook-authentication-basic")
    field(page, "Username").fill(USER)
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Create connector").click()

    expect(page.get_by_role("heading", name="Tracker e2e", level=1)).to_be_visible()
    expect(page.get_by_label("Sub-action")).to_have_value("pushToService")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result).to_contain_text(f"{tracker.url}/browse/SEC-1")
    incident = CASES_WEBHOOK.test_params["subActionParams"]["incident"]
    create_call = tracker.received[0]
    assert (create_call.method, create_call.path) == ("POST", "/api/issues")
    assert create_call.json == {"fields": {"summary": incident["title"], "description": incident["description"]}}
    assert create_call.headers["Authorization"] == basic(USER, PASSWORD)
    assert tracker.issues["SEC-1"]["fields"]["summary"] == incident["title"]
