"""Pushing a case to a ticketing connector from its page, against the fake Jira: the first push creates the
issue, later pushes update it and send only new comments; every push is a run in the event log; the case
records the issue's id, key, link and push time; errors are the run's own words; secrets stay out."""

from __future__ import annotations

import html
import re

import pytest

from app.case_models import Case, CaseExternal
from app.db import db
from app.settings import FileConfig, OutboundSettings
from tests.conftest import Browserish, make_app
from tests.fakes.jira import API_TOKEN, EMAIL, PROJECT, FakeJira
from tests.fakes.resilient import KEY_ID, KEY_SECRET, ORG_ID, FakeResilient
from tests.fakes.servicenow import PASSWORD, USERNAME, FakeServiceNow
from tests.helpers import assert_secret_kept_out, create_via_form, events, webhook_fields

ISSUE = "/rest/api/2/issue"
CASE_URL = re.compile(r"/cases/([0-9a-f-]{36})$")


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


def jira_fields(url: str, name: str = "SOC Jira") -> dict:
    return {"name": name, "config.apiUrl": url, "config.projectKey": PROJECT, "secrets.email": EMAIL,
            "secrets.apiToken": API_TOKEN}


def new_case(web, title="Suspicious login on vpn-1", tags="soc, vpn gateway") -> str:
    response = web.post("/cases/new", data={"title": title, "description": "Seen from 203.0.113.7.",
                                            "severity": "high", "tags": tags})
    assert response.status_code == 303
    return CASE_URL.search(response.headers["Location"]).group(1)


def push(web, case_id: str, connector_id: str, **fields):
    data = {"connector_id": connector_id, "connector_saved": "1", **{f"fields.{k}": v for k, v in fields.items()}}
    response = web.post(f"/cases/{case_id}/push", data=data, htmx=True)
    return response.status_code, html.unescape(response.get_data(as_text=True))


def externals(app) -> list[CaseExternal]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(CaseExternal)))
        db.session.expunge_all()
        return rows


def comments_received(jira: FakeJira) -> list[tuple[str, str]]:
    return [(r.path, r.json["body"]) for r in jira.received if r.method == "POST" and r.path.endswith("/comment")]


def test_the_first_push_creates_the_issue_and_the_case_records_it(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)

    status, answer = push(web, case_id, connector_id, issueType="10002", priority="High")

    assert status == 200, answer
    created = next(r for r in jira.received if (r.method, r.path) == ("POST", ISSUE))
    assert created.json == {"fields": {
        "summary": "Suspicious login on vpn-1", "description": "Seen from 203.0.113.7.", "project": {"key": PROJECT},
        "issuetype": {"id": "10002"}, "labels": ["soc", "vpn-gateway"], "priority": {"name": "High"}}}
    [record] = externals(app)
    assert (record.case_id, record.connector_id, record.connector_type_id) == (case_id, connector_id, ".jira")
    assert (record.external_id, record.external_title, record.external_url) == ("10002", "SEC-3",
                                                                               f"{jira.url}/browse/SEC-3")
    assert record.fields == {"issueType": "10002", "priority": "High", "parent": None, "otherFields": None}
    assert record.pushed_at is not None and record.pushed_by == "admin"
    assert "Pushed to SOC Jira" in answer and f'href="{jira.url}/browse/SEC-3"' in answer
    event = events(app)[-1]
    assert (event.connector_id, event.sub_action, event.source, event.status) == (connector_id, "pushToService",
                                                                                  "cases", "ok")
    page = html.unescape(web.get(f"/cases/{case_id}").get_data(as_text=True))
    assert f'href="{jira.url}/browse/SEC-3"' in page and "SEC-3" in page
    # After a push the page reloads its pushes section alone (hx-trigger="casePushed").
    section = web.get(f"/cases/{case_id}", htmx=True, headers={"HX-Target": "externals"})
    assert section.status_code == 200 and f'href="{jira.url}/browse/SEC-3"' in html.unescape(section.get_data(as_text=True))


def test_later_pushes_update_the_issue_and_send_each_comment_once(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    web.post(f"/cases/{case_id}/comments", data={"comment": "Blocked the address."})
    push(web, case_id, connector_id)
    assert comments_received(jira) == [(f"{ISSUE}/10002/comment", "Blocked the address.")]

    web.post(f"/cases/{case_id}/comments", data={"comment": "User confirmed it was not them."})
    web.post(f"/cases/{case_id}/edit", data={"title": "Account takeover on vpn-1", "description": "Confirmed.",
                                             "severity": "critical", "status": "in-progress", "tags": "soc"})
    status, answer = push(web, case_id, connector_id)
    assert status == 200 and "(1 new comment sent)" in answer
    assert comments_received(jira) == [(f"{ISSUE}/10002/comment", "Blocked the address."),
                                       (f"{ISSUE}/10002/comment", "User confirmed it was not them.")]
    [update] = [r for r in jira.received if r.method == "PUT"]
    assert update.path == f"{ISSUE}/10002"
    assert update.json["fields"]["summary"] == "Account takeover on vpn-1"
    assert len([r for r in jira.received if (r.method, r.path) == ("POST", ISSUE)]) == 1

    push(web, case_id, connector_id)  # nothing new: the issue is updated, no comment sent again
    assert len(comments_received(jira)) == 2
    [record] = externals(app)
    assert len(record.pushed_comments) == 2
    assert [e.source for e in events(app)] == ["cases"] * 3


def test_a_push_jira_refuses_shows_its_reason_and_records_nothing(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    status, answer = push(web, case_id, connector_id, issueType="10002", priority="Urgent")
    assert status == 200
    assert ("The push failed: an error occurred while running the action — [Action][Jira]: Unable to create incident. "
            "Error: Request failed with status code 400. Reason: Specify a valid 'id' or 'name' for Priority") in answer
    assert externals(app) == []
    assert events(app)[-1].status == "error"


def test_case_fields_the_type_refuses_are_shown_at_the_field_and_nothing_runs(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    status, answer = push(web, case_id, connector_id, otherFields="{not json")
    assert status == 422 and "Invalid JSON" in answer
    assert events(app) == [] and jira.received == []


def test_only_connectors_that_take_cases_are_offered_and_accepted(app, web, jira):
    jira_id = create_via_form(web, ".jira", jira_fields(jira.url))
    hook_id = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/hook", name="Plain hook"))
    case_id = new_case(web)
    page = web.get(f"/cases/{case_id}").get_data(as_text=True)
    offered = re.findall(r'<option value="([^"]+)"', page.split('id="push-connector"')[1].split("</select>")[0])
    assert offered == [jira_id]
    status, _ = push(web, case_id, hook_id)
    assert status == 400
    assert push(web, case_id, "no-such-connector")[0] == 400
    assert events(app) == []


def test_the_dialog_shows_the_chosen_connectors_case_fields(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    fragment = web.get(f"/cases/{case_id}/push?connector_id={connector_id}", htmx=True).get_data(as_text=True)
    assert 'name="fields.issueType"' in fragment and 'name="fields.priority"' in fragment


def test_a_suggest_field_in_the_dialog_lists_the_saved_connectors_choices(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    response = web.post("/types/.jira/choices/issue-types", htmx=True,
                        data={"connector_id": connector_id, "connector_saved": "1", "choices_for": "fields-issueType"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<option value="10001">Task</option>' in body and "3 issue types listed" in body
    assert events(app)[-1].sub_action == "issueTypes"


def test_the_token_stays_out_of_the_case_pages_and_the_log(app, web, jira, caplog):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    web.post(f"/cases/{case_id}/comments", data={"comment": "note"})
    _, answer = push(web, case_id, connector_id)
    assert_secret_kept_out(app, web, API_TOKEN, connector_id, answer, web.get(f"/cases/{case_id}").get_data(as_text=True),
                           web.get("/cases").get_data(as_text=True), log=caplog.text)


def test_a_viewer_cannot_push(app, web, viewer, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    response = viewer.post(f"/cases/{case_id}/push", data={"connector_id": connector_id}, htmx=True)
    assert response.status_code == 403
    assert jira.received == [] and externals(app) == [] and events(app) == []


def test_a_deleted_connector_leaves_the_record_of_the_push(app, web, jira):
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    push(web, case_id, connector_id)
    web.post(f"/connectors/{connector_id}/delete")
    page = html.unescape(web.get(f"/cases/{case_id}").get_data(as_text=True))
    assert "SEC-3" in page and "SOC Jira" in page
    assert "No connector can receive cases yet" in page


def test_a_type_the_config_file_disables_is_not_offered_or_run(tmp_path, jira):
    app = make_app(tmp_path, file_config=FileConfig(outbound=OutboundSettings(), enabled_types=(".jira",)))
    web = Browserish(app.test_client())
    connector_id = create_via_form(web, ".jira", jira_fields(jira.url))
    case_id = new_case(web)
    app.config["SWITCHBOARD"] = FileConfig(outbound=OutboundSettings(), enabled_types=(".webhook",))
    assert "No connector can receive cases yet" in web.get(f"/cases/{case_id}").get_data(as_text=True)
    assert push(web, case_id, connector_id)[0] == 403
    assert jira.received == []


def test_a_case_pushed_twice_to_two_connectors_keeps_two_incidents(app, web, jira):
    with FakeJira() as other:
        first = create_via_form(web, ".jira", jira_fields(jira.url, "SOC Jira"))
        second = create_via_form(web, ".jira", jira_fields(other.url, "IT Jira"))
        case_id = new_case(web)
        web.post(f"/cases/{case_id}/comments", data={"comment": "shared note"})
        push(web, case_id, first)
        push(web, case_id, second)
        assert comments_received(jira) == comments_received(other) == [(f"{ISSUE}/10002/comment", "shared note")]
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.connector_id == second
        assert sorted(x.connector_name for x in case.externals) == ["IT Jira", "SOC Jira"]


def test_a_push_to_servicenow_creates_then_updates_the_incident_with_the_case_fields(app, web):
    with FakeServiceNow() as sn:
        connector_id = create_via_form(web, ".servicenow", {
            "name": "SOC ServiceNow", "config.apiUrl": sn.url, "config.isOAuth": ["false"],
            "config.usesTableApi": ["false"], "secrets.username": USERNAME, "secrets.password": PASSWORD})
        case_id = new_case(web)
        web.post(f"/cases/{case_id}/comments", data={"comment": "Blocked at the firewall."})
        status, answer = push(web, case_id, connector_id, urgency="1", category="network")
        assert status == 200, answer
        [incident] = sn.records["incident"].values()
        assert (incident["short_description"], incident["urgency"], incident["category"], incident["correlation_id"]) == (
            "Suspicious login on vpn-1", "1", "network", case_id)
        push(web, case_id, connector_id, urgency="2")
        assert len(sn.records["incident"]) == 1 and incident["urgency"] == "2"
        notes = [r.json["u_work_notes"] for r in sn.received if r.method == "POST" and "u_work_notes" in (r.json or {})]
        assert notes == ["Blocked at the firewall."]
    [record] = externals(app)
    assert (record.external_id, record.external_title) == (incident["sys_id"], incident["number"])
    assert record.fields["urgency"] == "2"


def test_a_resilient_picker_in_the_dialog_asks_the_chosen_saved_connector(app, web):
    with FakeResilient() as soar:
        connector_id = create_via_form(web, ".resilient", {
            "name": "SOAR", "config.apiUrl": soar.url, "config.orgId": ORG_ID, "secrets.apiKeyId": KEY_ID,
            "secrets.apiKeySecret": KEY_SECRET})
        case_id = new_case(web)
        response = web.post("/types/.resilient/incident-types", htmx=True, data={
            "connector_id": connector_id, "connector_saved": "1", "choices_for": "fields.incidentTypes"},
            headers={"HX-Current-URL": f"http://localhost/cases/{case_id}"})
        body = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 200 and "Malware" in body and "3 incident types listed." in body
    assert events(app)[-1].sub_action == "incidentTypes"
