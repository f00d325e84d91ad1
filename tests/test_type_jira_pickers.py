"""Jira's own part of the test pane and a case's Jira fields: issue types, an issue type's fields and
priorities, and the parent search come from the project through the type's sub-actions; the picks become
the pushed issue's. Checked through the views and in a real browser."""

from __future__ import annotations

import html
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import drives_browser, post_create
from tests.fakes.jira import API_TOKEN, EMAIL, PROJECT, FakeJira
from tests.helpers import create_via_form, events
from tests.live_server import LiveServer

PICKERS = "/types/.jira"


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


def jira_fields(url: str, *, token: str = API_TOKEN, name: str = "jira") -> dict:
    return {"name": name, "config.apiUrl": url, "config.projectKey": PROJECT, "secrets.email": EMAIL,
            "secrets.apiToken": token}


def ask(web, picker: str, connector_id: str, **form) -> str:
    response = web.post(f"{PICKERS}/{picker}", data={"jira.connector": connector_id, **form}, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return html.unescape(response.get_data(as_text=True))


def options(page: str, name: str) -> list[tuple[str, str, bool]]:
    """The (value, text, selected) of the options of the select named `name` in an HTML fragment."""
    select = re.search(rf'<select[^>]*name="{re.escape(name)}".*?</select>', page, re.S)
    assert select, f"no select named {name}"
    return [(v, re.sub(r"\s+", " ", t).strip(), bool(s))
            for v, s, t in re.findall(r'<option value="([^"]*)"\s*(selected)?>(.*?)</option>', select.group(0), re.S)]


# ---- the test pane ----------------------------------------------------------------------------------------


def test_the_test_pane_draws_the_issue_with_its_pickers(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))

    assert '<option value="pushToService" selected>' in page
    assert f'name="jira.connector" value="{cid}"' in page
    assert 'name="params.sub.incident.summary" value="Switchboard test issue"' in page
    assert "Load issue types" in page and 'name="jira.parentQuery"' in page
    assert jira.received == []  # nothing is asked of Jira until a person asks


def test_issue_types_fill_the_select_and_the_first_is_picked(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "issue-types", cid)

    assert options(page, "params.sub.incident.issueType") == [
        ("10001", "Task", True), ("10002", "Bug", False), ("10003", "Sub-task", False)]
    assert 'hx-trigger="load, change"' in page  # its arrival loads the picked type's fields
    assert "3 issue types listed." in page
    event = events(app)[-1]
    assert (event.sub_action, event.source, event.status) == ("issueTypes", "form", "ok")


def test_a_picked_issue_type_is_kept_when_the_project_has_it(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "issue-types", cid, **{"params.sub.incident.issueType": "10002"})

    assert ("10002", "Bug", True) in options(page, "params.sub.incident.issueType")


def test_an_issue_types_fields_are_listed_with_required_ones_marked_and_its_priorities(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "fields", cid, **{"params.sub.incident.issueType": "10001", "params.sub.incident.priority": "Low"})

    required = re.findall(r'<li data-field-id="(\w+)" data-required="true">', page)
    assert sorted(required) == ["issuetype", "project", "summary"]
    assert "8 fields for this issue type" in page
    assert options(page, "params.sub.incident.priority") == [("High", "High", False), ("Medium", "Medium", False),
                                                             ("Low", "Low", True)]
    assert 'name="jira.parentQuery"' in page  # a Task may have a parent
    assert jira.received[-1].path == f"/rest/api/2/issue/createmeta/{PROJECT}/issuetypes/10001"


def test_a_priority_the_issue_type_lacks_gives_way_to_its_first(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "fields", cid, **{"params.sub.incident.issueType": "10002", "params.sub.incident.priority": "Low!"})

    assert options(page, "params.sub.incident.priority")[0] == ("Highest", "Highest", True)
    assert 'name="jira.parentQuery"' not in page  # a Bug has no parent field


def test_an_issue_type_without_priorities_says_so_and_needs_a_parent(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "fields", cid, **{"params.sub.incident.issueType": "10003"})

    assert "This issue type has no priority field." in page
    assert 'name="params.sub.incident.priority"' not in page
    assert '<li data-field-id="parent" data-required="true">' in page


def test_parents_are_searched_by_summary(app, web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "issues", cid, **{"jira.parentQuery": "login"})

    assert options(page, "params.sub.incident.parent") == [
        ("", "No parent", False), ("SEC-1", "SEC-1 — Login page is slow for some users", False),
        ("SEC-2", "SEC-2 — Suspicious login from a new country", False)]
    assert jira.searches == [f'project="{PROJECT}" and summary ~"login"']
    assert events(app)[-1].sub_action == "issues"


def test_the_picks_are_the_pushed_issues(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))
    data = {"params.__present": "1", "params.subAction": "pushToService", "jira.connector": cid,
            "params.sub.incident.summary": "Phishing mail reported", "params.sub.incident.issueType": "10001",
            "params.sub.incident.priority": "High", "params.sub.incident.parent": "SEC-2",
            "params.sub.incident.labels": "phishing, mail", "params.sub.incident.otherFields": '{"environment": "mail"}',
            "params.sub.comments": "Reported by 3 users", "jira.parentQuery": "login"}

    page = html.unescape(web.post(f"/connectors/{cid}/test", data=data, htmx=True).get_data(as_text=True))

    assert 'data-status="ok"' in page
    created = next(r for r in jira.received if (r.method, r.path) == ("POST", "/rest/api/2/issue"))
    assert created.json["fields"] == {
        "summary": "Phishing mail reported", "project": {"key": PROJECT}, "issuetype": {"id": "10001"},
        "labels": ["phishing", "mail"], "priority": {"name": "High"}, "parent": {"key": "SEC-2"},
        "environment": "mail"}
    assert jira.received[-1].json == {"body": "Reported by 3 users"}


def test_additional_fields_that_are_not_json_are_refused_at_the_field(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))
    data = {"params.__present": "1", "params.subAction": "pushToService", "params.sub.incident.summary": "x",
            "params.sub.incident.otherFields": "{nope"}

    response = web.post(f"/connectors/{cid}/test", data=data, htmx=True)

    assert response.status_code == 422
    assert "Additional fields: Invalid JSON" in html.unescape(response.get_data(as_text=True))
    assert jira.received == []


def test_a_picker_shows_jiras_refusal(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url, token="wrong-token"))

    page = ask(web, "issue-types", cid)

    assert "Error retrieving issue types from Jira." in page
    assert "Unable to get issue types. Error: Request failed with status code 401" in page


def test_a_picker_asked_from_a_connectors_page_finds_that_connector(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))
    # The pane's fields redrawn for another sub-action (and back) carry no hidden connector field.
    redrawn = web.get("/types/.jira/params?params.subAction=pushToService", htmx=True).get_data(as_text=True)
    assert 'name="jira.connector"' not in redrawn

    response = web.post(f"{PICKERS}/issue-types", data={}, htmx=True,
                        headers={"HX-Current-URL": f"http://localhost/connectors/{cid}"})

    assert "3 issue types listed." in response.get_data(as_text=True)


def test_a_picker_that_names_no_jira_connector_says_so(web):
    page = ask(web, "issue-types", "nope")

    assert "This form names no Jira connector" in page


def test_on_the_create_form_the_pickers_use_the_typed_values_for_admins_only(app, web, viewer, jira):
    form = {**jira_fields(jira.url)}

    page = html.unescape(web.post(f"{PICKERS}/issue-types", data=form, htmx=True).get_data(as_text=True))
    refused = viewer.post(f"{PICKERS}/issue-types", data=form, htmx=True)

    assert "3 issue types listed." in page
    assert refused.status_code == 403
    assert len(jira.received) == 1


def test_viewers_may_use_the_pickers_of_a_saved_connector(web, viewer, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = html.unescape(viewer.post(f"{PICKERS}/issue-types", data={"jira.connector": cid}, htmx=True)
                         .get_data(as_text=True))

    assert "3 issue types listed." in page


# ---- a case's Jira fields (suggest widgets) ----------------------------------------------------------------


def test_a_cases_issue_type_is_suggested_from_the_project(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "choices/issue-types", cid, choices_for="fields-issueType")

    assert '<option value="10002">Bug</option>' in page and "3 issue types listed" in page


def test_a_cases_priority_is_suggested_from_its_issue_type(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "choices/priorities", cid, **{"fields.issueType": "10002", "choices_for": "fields-priority"})
    first = ask(web, "choices/priorities", cid, choices_for="fields-priority")

    assert re.findall(r'<option value="(\w+)">', page) == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert "Pick the issue type first" in first


def test_a_cases_parent_is_suggested_from_a_search(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "choices/parents", cid, **{"fields.parent": "slow", "choices_for": "fields-parent"})

    assert '<option value="SEC-1">SEC-1 — Login page is slow for some users</option>' in page


def test_a_suggest_answer_only_targets_a_plain_field_id(web, jira):
    cid = create_via_form(web, ".jira", jira_fields(jira.url))

    page = ask(web, "choices/issue-types", cid, choices_for='x" onmouseover="alert(1)')

    assert 'id="fields-issueType-choices-box"' in page and "onmouseover" not in page


# ---- in a browser ----------------------------------------------------------------------------------------


@drives_browser
def test_pick_an_issue_type_and_a_priority_then_push(page: Page, live: LiveServer, jira: FakeJira):
    cid = post_create(page, live, ".jira", jira_fields(jira.url, name="Jira e2e"))
    page.goto(f"{live.url}/connectors/{cid}")
    expect(page.get_by_label("Sub-action")).to_have_value("pushToService")

    page.get_by_role("button", name="Load issue types").click()
    issue_type = page.get_by_label("Issue type")
    expect(issue_type.locator("option")).to_have_count(3)
    issue_type.select_option(label="Bug")
    priority = page.get_by_label("Priority")
    expect(priority.locator("option")).to_have_count(5)  # Bug's priorities, filled from Jira
    expect(page.locator("#jira-issue-fields li[data-required]")).to_have_count(3)
    priority.select_option("Highest")
    page.get_by_label("Summary").fill("Malware on laptop-42")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result).to_contain_text(f"{jira.url}/browse/SEC-3")
    created = jira.issue_by_key("SEC-3")["fields"]
    assert (created["summary"], created["issuetype"]["id"], created["priority"]["name"]) == (
        "Malware on laptop-42", "10002", "Highest")
    recent = page.locator("#recent-runs tbody tr").first  # reloaded after the run
    expect(recent).to_contain_text("pushToService")
    expect(recent).to_have_attribute("data-event-status", "ok")


@drives_browser
def test_search_a_parent_by_its_summary_and_push_under_it(page: Page, live: LiveServer, jira: FakeJira):
    cid = post_create(page, live, ".jira", jira_fields(jira.url, name="Jira parent e2e"))
    page.goto(f"{live.url}/connectors/{cid}")

    page.get_by_role("button", name="Load issue types").click()
    expect(page.get_by_label("Issue type")).to_have_value("10001")  # Task, the project's first
    expect(page.get_by_label("Priority").locator("option")).to_have_count(3)
    page.get_by_role("searchbox", name="Parent issue").fill("slow")
    parent = page.get_by_label("Pick the parent issue")
    expect(parent.locator("option")).to_have_count(2)
    parent.select_option("SEC-1")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    assert jira.issue_by_key("SEC-3")["fields"]["parent"]["key"] == "SEC-1"
