"""The `.jira` type end to end, against the fake Jira Cloud site: issues are created, updated and commented
as Kibana's Jira connector does it, with Basic auth; the form's lookups answer from the project; failures
come back in Kibana's words ("[Action][Jira]: Unable to … Error: … Reason: <Jira's errors>") with a retry
flag that says whether trying again can help."""

from __future__ import annotations

import base64
import html
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
import requests

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import GENERIC_ERROR, CaseView
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.jira import API_TOKEN, EMAIL, NO_ISSUE, PROJECT, SEARCH_REMOVED, UNAUTHENTICATED, FakeJira
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events

JIRA = get_type(".jira")
BASIC = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
ISSUE = "/rest/api/2/issue"
ISSUE_TYPES = f"/rest/api/2/issue/createmeta/{PROJECT}/issuetypes"


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


def jira_fields(url: str, *, token: str = API_TOKEN, name: str = "jira", project: str = PROJECT) -> dict:
    return {"name": name, "config.apiUrl": url, "config.projectKey": project, "secrets.email": EMAIL,
            "secrets.apiToken": token}


def jira_body(url: str, *, token: str = API_TOKEN, email: str = EMAIL, project: str = PROJECT) -> dict:
    return {"name": "jira", "connector_type_id": ".jira", "config": {"apiUrl": url, "projectKey": project},
            "secrets": {"email": email, "apiToken": token}}


def run_test_pane(web, connector_id: str, comment: str = "", **incident) -> str:
    """What the test pane posts for pushToService: the issue's parts as separate inputs."""
    data = {"params.__present": "1", "params.subAction": "pushToService", "params.sub.comments": comment,
            "params.sub.incident.summary": "Suspicious login", **{f"params.sub.incident.{k}": v
                                                                   for k, v in incident.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code in (200, 422)
    return html.unescape(response.get_data(as_text=True))


def execute(app, url: str, sub_action: str, params: dict, **connector) -> dict:
    api = Api.with_key(app)
    cid = api.created(jira_body(url, **connector))["id"]
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def push(app, url: str, comments=None, **incident) -> dict:
    return execute(app, url, "pushToService", {"incident": {"summary": "Suspicious login", **incident},
                                               "comments": comments})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def calls(fake: FakeJira) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.received]


# ---- pushToService: create ----------------------------------------------------------------------------


def test_test_pane_creates_an_issue_in_the_projects_first_issue_type(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = run_test_pane(web, cid, description="Seen from 203.0.113.7", labels="soc, login")

    assert calls(jira) == [("GET", ISSUE_TYPES), ("POST", ISSUE), ("GET", f"{ISSUE}/10002")]
    created = jira.received[1]
    assert all(r.headers["Authorization"] == BASIC for r in jira.received)
    assert created.headers["Content-Type"] == "application/json"
    assert created.json == {"fields": {
        "summary": "Suspicious login", "project": {"key": PROJECT}, "issuetype": {"id": "10001"},
        "description": "Seen from 203.0.113.7", "labels": ["soc", "login"]}}
    assert 'data-status="ok"' in page and "201 CREATED" in page.upper()
    assert f"{jira.url}/browse/SEC-3" in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status) == (".jira", "pushToService", "ok")


def test_push_answers_the_issue_its_link_and_each_comment(app, jira):
    result = push(app, jira.url, issueType="10002", priority="Highest", labels=["soc"],
                  otherFields={"environment": "prod"},
                  comments=[{"commentId": "c-1", "comment": "First look"}, {"commentId": "c-2", "comment": ""},
                            {"commentId": "c-3", "comment": "Escalated"}])

    assert result["status"] == "ok", result
    assert result["data"] == {
        "id": "10002", "title": "SEC-3", "pushedDate": "2026-12-07T09:32:00.000Z", "url": f"{jira.url}/browse/SEC-3",
        "comments": [{"commentId": "c-1", "pushedDate": "2026-12-07T09:33:00.000Z"},
                     {"commentId": "c-3", "pushedDate": "2026-12-07T09:34:00.000Z"}],
    }
    created = next(r for r in jira.received if (r.method, r.path) == ("POST", ISSUE))
    assert created.json["fields"] == {
        "summary": "Suspicious login", "project": {"key": PROJECT}, "issuetype": {"id": "10002"},
        "labels": ["soc"], "priority": {"name": "Highest"}, "environment": "prod"}
    # The empty comment is skipped, as Kibana skips it.
    assert [(r.path, r.json) for r in jira.received if r.path.endswith("/comment")] == [
        (f"{ISSUE}/10002/comment", {"body": "First look"}), (f"{ISSUE}/10002/comment", {"body": "Escalated"})]
    assert ("GET", ISSUE_TYPES) not in calls(jira)  # an issue type was given: none is looked up


def test_a_sub_task_names_its_parent_by_key(app, jira):
    result = push(app, jira.url, issueType="10003", parent="SEC-1")

    assert result["status"] == "ok", result
    assert jira.received[0].json["fields"]["parent"] == {"key": "SEC-1"}
    assert jira.issue_by_key("SEC-3")["fields"]["parent"]["key"] == "SEC-1"


def test_a_summary_on_several_lines_becomes_one(app, jira):
    push(app, jira.url, summary="  Suspicious login \n\n from a new country\r\n", issueType="10001")

    assert jira.received[0].json["fields"]["summary"] == "Suspicious login, from a new country"


def test_no_comments_answer_an_empty_comment_list(app, jira):
    result = push(app, jira.url, issueType="10001")

    assert result["data"]["comments"] == []
    assert not any(r.path.endswith("/comment") for r in jira.received)


def test_additional_fields_may_be_sent_as_json_text(app, jira):
    result = push(app, jira.url, issueType="10001", otherFields='{"environment": "staging"}')

    assert result["status"] == "ok"
    assert jira.received[0].json["fields"]["environment"] == "staging"


# ---- pushToService: update ----------------------------------------------------------------------------


def test_an_external_id_updates_that_issue_with_the_fields_given(app, jira):
    result = push(app, jira.url, externalId="SEC-1", summary="Login page is slow (confirmed)", priority="Low",
                  comments=[{"commentId": "c-9", "comment": "Confirmed on web-01"}])

    assert calls(jira) == [("PUT", f"{ISSUE}/SEC-1"), ("GET", f"{ISSUE}/SEC-1"),
                           ("POST", f"{ISSUE}/10000/comment")]
    assert jira.received[0].json == {"fields": {
        "summary": "Login page is slow (confirmed)", "project": {"key": PROJECT}, "priority": {"name": "Low"}}}
    assert result["data"] == {
        "id": "10000", "title": "SEC-1", "url": f"{jira.url}/browse/SEC-1",
        "pushedDate": "2026-12-07T09:32:00.000Z",  # the issue's `updated`, not its `created`
        "comments": [{"commentId": "c-9", "pushedDate": "2026-12-07T09:33:00.000Z"}],
    }
    assert jira.issue_by_key("SEC-1")["fields"]["priority"]["name"] == "Low"


def test_updating_an_issue_that_is_gone_names_it(app, jira):
    result = push(app, jira.url, externalId="SEC-404")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, False)
    assert result["service_message"] == (
        "[Action][Jira]: Unable to update incident with id SEC-404. Error: Request failed with status code 404. "
        f"Reason: {NO_ISSUE}")


# ---- params ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "detail"),
    [
        ({"labels": ["needs triage"]}, "[incident.labels]: The label needs triage cannot contain spaces"),
        ({"otherFields": {"summary": "x"}},
         "[incident.otherFields]: The following properties cannot be defined inside otherFields: summary."),
        ({"otherFields": {f"customfield_{n}": n for n in range(21)}},
         "[incident.otherFields]: A maximum of 20 fields in otherFields can be defined at a time."),
        ({"otherFields": "{not json"}, "[incident.otherFields]: Expecting property name enclosed in double quotes"),
    ],
)
def test_params_jira_would_refuse_are_refused_before_sending(app, jira, incident, detail):
    result = push(app, jira.url, **incident)

    assert result["status"] == "error"
    assert result["message"].startswith(f"Request validation failed ({detail}")
    assert jira.received == []


def test_a_summary_is_required(app, jira):
    result = execute(app, jira.url, "pushToService", {"incident": {"description": "no summary"}})

    assert result["message"].startswith("Request validation failed ([incident.summary]: Field required")
    assert jira.received == []


def test_the_test_pane_asks_for_a_summary(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = run_test_pane(web, cid, summary=" ")

    assert "Summary is required." in page
    assert jira.received == []


def test_empty_credentials_through_the_api_are_kibanas_wrong_configuration(app, jira):
    result = execute(app, jira.url, "issueTypes", {}, email="")

    assert (result["message"], result["service_message"]) == (GENERIC_ERROR, "[Action]Jira: Wrong configuration.")
    assert jira.received == []


# ---- the other sub-actions ----------------------------------------------------------------------------


def test_get_incident_answers_the_issue_and_its_fields(app, jira):
    result = execute(app, jira.url, "getIncident", {"externalId": "SEC-2"})

    data = result["data"]
    assert (data["id"], data["key"], data["summary"]) == ("10001", "SEC-2", "Suspicious login from a new country")
    assert data["created"] == data["updated"] == "2026-12-07T09:31:00.000+0000"
    assert calls(jira) == [("GET", f"{ISSUE}/SEC-2")]


def test_issue_types_are_the_projects(app, jira):
    result = execute(app, jira.url, "issueTypes", {})

    assert result["data"] == [{"id": "10001", "name": "Task"}, {"id": "10002", "name": "Bug"},
                              {"id": "10003", "name": "Sub-task"}]


@pytest.mark.parametrize("data_center", [False, True], ids=["cloud", "data-center"])
def test_fields_by_issue_type_read_cloud_and_data_center_answers(app, data_center):
    with FakeJira(data_center=data_center) as jira:
        result = execute(app, jira.url, "fieldsByIssueType", {"id": "10001"})

    fields = result["data"]
    assert calls(jira) == [("GET", f"{ISSUE_TYPES}/10001")]
    assert set(fields) == {"summary", "issuetype", "project", "description", "labels", "environment", "priority",
                           "parent"}
    assert fields["summary"] == {"required": True, "allowedValues": [], "defaultValue": {},
                                 "schema": {"type": "string", "system": "summary"}, "name": "Summary"}
    assert [p["name"] for p in fields["priority"]["allowedValues"]] == ["High", "Medium", "Low"]
    assert fields["priority"]["defaultValue"]["name"] == "Medium"


def test_get_fields_keeps_the_fields_every_issue_type_has(app, jira):
    result = execute(app, jira.url, "getFields", {"anything": "ignored"})

    # Bug has no parent and Sub-task no priority: neither is common to all three.
    assert set(result["data"]) == {"summary", "issuetype", "project", "description", "labels"}
    assert calls(jira)[0] == ("GET", ISSUE_TYPES) and len(calls(jira)) == 4


def test_issues_are_searched_by_summary_with_kibanas_jql(app, jira):
    result = execute(app, jira.url, "issues", {"title": 'login "new" (country)'})

    assert result["data"] == [{"id": "10001", "key": "SEC-2", "title": "Suspicious login from a new country"}]
    path = jira.received[0].path
    assert path == "/rest/api/2/search/jql"
    # Quotes dropped, JQL's operators escaped with two backslashes, as Kibana's escapeJqlSpecialCharacters.
    assert jira.searches == [f'project="{PROJECT}" and summary ~"login new \\\\(country\\\\)"']


def test_issue_answers_id_key_and_title(app, jira):
    result = execute(app, jira.url, "issue", {"id": "SEC-1"})

    assert result["data"] == {"id": "10000", "key": "SEC-1", "title": "Login page is slow for some users"}


def test_the_old_search_endpoint_is_not_used(jira):
    # Jira Cloud removed GET /rest/api/2/search; Kibana moved to /search/jql, and so does this type.
    answer = requests.get(f"{jira.url}/rest/api/2/search", headers={"Authorization": BASIC}, timeout=5)
    assert answer.status_code == 410 and answer.json()["errorMessages"] == [SEARCH_REMOVED]


# ---- errors ---------------------------------------------------------------------------------------------


def test_a_wrong_api_token_is_refused_and_final(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url, token="not-the-token"))

    page = run_test_pane(web, cid, issueType="10001")

    assert GENERIC_ERROR in page
    # Jira Cloud's 401 is text, so Kibana's reading of `errors` finds none.
    assert ("[Action][Jira]: Unable to create incident. Error: Request failed with status code 401. "
            "Reason: unknown: errorResponse.errors was null") in page
    event = events(app)[-1]
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)
    assert UNAUTHENTICATED in page  # Jira's own answer, in the exchange


def test_jiras_field_errors_are_the_reason(app, jira):
    result = push(app, jira.url, issueType="10002", priority="P1", labels=["soc"], parent="SEC-1")

    assert result["status"] == "error" and result["retry"] is False
    assert result["service_message"] == (
        "[Action][Jira]: Unable to create incident. Error: Request failed with status code 400. "
        "Reason: Field 'parent' cannot be set. It is not on the appropriate screen, or unknown. "
        "Specify a valid 'id' or 'name' for Priority")


def test_jiras_error_messages_are_the_reason(app, jira):
    jira.answer_next(403, {"errorMessages": ["You do not have permission to create issues in this project."],
                           "errors": {}})

    result = push(app, jira.url, issueType="10001")

    assert result["service_message"].endswith(
        "Request failed with status code 403. Reason: You do not have permission to create issues in this project.")
    assert result["retry"] is False


def test_an_unknown_issue_is_not_found(app, jira):
    result = execute(app, jira.url, "getIncident", {"externalId": "SEC-99"})

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": False, "service_message": (
        "[Action][Jira]: Unable to get incident with id SEC-99. Error: Request failed with status code 404. "
        f"Reason: {NO_ISSUE}")}


def test_throttling_asks_for_a_retry_at_jiras_time(app, web, jira):
    jira.throttle(retry_after="30")
    before = datetime.now(UTC)

    result = execute(app, jira.url, "issueTypes", {})

    assert result["service_message"] == ("[Action][Jira]: Unable to get issue types. Error: Request failed with "
                                         "status code 429. Reason: Rate limit exceeded.")
    retry_at = datetime.fromisoformat(result["retry"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=29) <= retry_at <= datetime.now(UTC) + timedelta(seconds=31)
    assert events(app)[-1].http_status == 429


def test_a_server_error_asks_for_a_retry(app, jira):
    jira.outage(503)

    result = execute(app, jira.url, "issue", {"id": "SEC-1"})

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == ("[Action][Jira]: Unable to get issue with id SEC-1. Error: Request failed "
                                         "with status code 503. Reason: Internal server error")


def test_a_refused_connection_is_worth_retrying(app, web):
    url = f"http://127.0.0.1:{free_port()}"

    result = execute(app, url, "issueTypes", {})

    assert result["retry"] is True
    assert result["service_message"] == (f"[Action][Jira]: Unable to get issue types. Error: connection to {url} "
                                         "was refused. Reason: unknown: errorResponse was null")


def test_an_issue_that_cannot_be_read_back_fails_the_create_in_kibanas_nested_words(app, jira):
    jira.answer_next(201, {"id": "10009", "key": "SEC-9"})
    jira.answer_next(404, {"errorMessages": [NO_ISSUE], "errors": {}})

    result = push(app, jira.url, issueType="10001")

    assert result["service_message"] == (
        "[Action][Jira]: Unable to create incident. Error: [Action][Jira]: Unable to get incident with id 10009. "
        f"Error: Request failed with status code 404. Reason: {NO_ISSUE}. Reason: unknown: errorResponse was null")


@pytest.mark.parametrize(
    ("status", "answer", "detail"),
    [
        (201, "<html>Created</html>", "Unsupported content type: text/plain;charset=UTF-8 in post {url}/rest/api/2/issue. "
                                      "Supported content types: application/json"),
        (201, {"key": "SEC-9"}, "Response is missing at least one of the expected fields: id"),
    ],
)
def test_a_create_answer_without_an_issue_id_fails(app, jira, status, answer, detail):
    jira.answer_next(status, answer)

    result = push(app, jira.url, issueType="10001")

    assert result["service_message"] == ("[Action][Jira]: Unable to create incident. Error: "
                                         f"{detail.format(url=jira.url)}. Reason: unknown: errorResponse was null")
    assert result["retry"] is False


def test_a_failed_comment_names_the_issue(app, jira):
    result = push(app, jira.url, externalId="SEC-1", comments=[{"commentId": "c-1", "comment": "x"}])
    assert result["status"] == "ok"
    jira.answer_next(204, "")  # the PUT
    jira.answer_next(200, {**jira.issue_by_key("SEC-1")})  # the read back
    jira.answer_next(400, {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}})

    result = push(app, jira.url, externalId="SEC-1", comments=[{"commentId": "c-1", "comment": "x"}])

    assert result["service_message"] == (
        "[Action][Jira]: Unable to create comment at incident with id 10000. Error: Request failed with status "
        "code 400. Reason: Comment body can not be empty!")


# ---- the connector form -------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_with_its_secrets_apart(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url, name="SOC Jira"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "SOC Jira", ".jira")
    assert connector.config == {"apiUrl": jira.url, "projectKey": PROJECT}
    assert connector.secret_fields == {"email": True, "apiToken": True}


def test_the_form_requires_every_field(web):
    response = web.post("/connectors/new/.jira", data={"name": "jira", "config.apiUrl": "https://x.atlassian.net"})

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert page.count("Required.") >= 3  # project key, email, API token


def test_a_url_outside_the_allowed_hosts_is_refused_in_kibanas_words(tmp_path, jira):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("example.atlassian.net",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.jira", data=jira_fields(jira.url))

    assert response.status_code == 422
    assert ('error configuring connector action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))


def test_a_blank_api_token_on_edit_keeps_the_stored_one(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))
    assert API_TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=jira_fields(jira.url, token="", name="renamed"))
    run_test_pane(web, cid, issueType="10001")

    assert edit.status_code == 303
    assert jira.received[-1].headers["Authorization"] == BASIC
    assert connectors(app)[0].name == "renamed"


def test_the_api_token_never_shows_in_pages_logs_or_events(app, web, jira, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".jira", jira_fields(jira.url))
    jira.answer_next(400, {"errorMessages": [f"API token {API_TOKEN} is revoked"], "errors": {}})  # echoed back

    page = run_test_pane(web, cid, issueType="10001")

    assert "API token •••••• is revoked" in page
    assert "Authorization" in page  # the header's name is shown, never its value
    assert_secret_kept_out(app, web, API_TOKEN, cid, page, log=caplog.text)
    assert_secret_kept_out(app, web, BASIC.removeprefix("Basic "), cid, page, log=caplog.text)


def test_jira_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".jira"] == {**types[".jira"], "name": "Jira", "minimum_license_required": "gold",
                              "supported_feature_ids": ["alerting", "cases", "uptime", "siem"]}


# ---- cases ----------------------------------------------------------------------------------------------


def test_a_case_becomes_an_issue_with_its_tags_as_labels(app, jira):
    case = CaseView(id="case-7", title="Brute force on vpn-01", description="Many failed logins.",
                    tags=("brute force", "vpn"))
    incident = JIRA.case_incident(case, JIRA.case_fields(issueType="10002", priority="High"))

    result = push(app, jira.url, **incident)

    assert result["status"] == "ok", result
    assert jira.received[0].json["fields"] == {
        "summary": "Brute force on vpn-01", "project": {"key": PROJECT}, "issuetype": {"id": "10002"},
        "description": "Many failed logins.", "labels": ["brute-force", "vpn"], "priority": {"name": "High"}}
