"""Cases in a real browser, against the app under gunicorn and the fake ticketing services: create a case,
push it, see the external link; comment, push again, and see the comment arrive once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import browser_test, post_create
from tests.fakes.jira import API_TOKEN, EMAIL, PROJECT, FakeJira
from tests.fakes.servicenow import PASSWORD, USERNAME, FakeServiceNow
from tests.live_server import LiveServer
from tests.test_security_headers import _violations, _watch

pytestmark = browser_test
CASE_PAGE = re.compile(r"/cases/[0-9a-f-]{36}$")


@pytest.fixture
def jira():
    with FakeJira() as fake:
        yield fake


@pytest.fixture
def servicenow():
    with FakeServiceNow() as fake:
        yield fake


def create_case(page: Page, live: LiveServer, title: str) -> None:
    page.goto(f"{live.url}/cases")
    page.get_by_role("button", name="Create case").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("Logins from 203.0.113.7 for three accounts.")
    page.get_by_label("Severity").select_option("high")
    page.get_by_label("Tags").fill("soc, vpn")
    page.get_by_role("button", name="Create case").click()
    expect(page).to_have_url(CASE_PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def settled(page: Page) -> None:
    """htmx has finished swapping and wiring what came back (a select swapped in a moment ago would miss a
    change made before htmx processed it, which no person is fast enough to do)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")


def comment(page: Page, text: str) -> None:
    page.get_by_label("Add a comment").fill(text)
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator("article.comment").last).to_contain_text(text)


def test_create_a_case_push_it_to_jira_and_servicenow_and_push_a_comment_once(
        page: Page, live: LiveServer, jira: FakeJira, servicenow: FakeServiceNow):
    console = _watch(page)  # the Cases pages and their swaps work under the Content-Security-Policy
    post_create(page, live, ".jira", {"name": "SOC Jira", "config.apiUrl": jira.url, "config.projectKey": PROJECT,
                                      "secrets.email": EMAIL, "secrets.apiToken": API_TOKEN})
    sn_id = post_create(page, live, ".servicenow", {
        "name": "SOC ServiceNow", "config.apiUrl": servicenow.url, "config.isOAuth": "false",
        "config.usesTableApi": "false", "secrets.username": USERNAME, "secrets.password": PASSWORD})
    create_case(page, live, "Credential stuffing on vpn-1")

    expect(page.get_by_label("Connector", exact=True).locator("option:checked")).to_have_text("SOC Jira (Jira)")
    issue_type = page.locator("[data-field='fields.issueType']")
    issue_type.get_by_role("button", name="List choices").click()
    expect(issue_type.get_by_role("status")).to_have_text("3 issue types listed; type to filter.")
    page.get_by_label("Issue type").fill("10002")
    page.get_by_role("button", name="Push", exact=True).click()

    link = page.locator("#push-result").get_by_role("link", name="SEC-3")
    expect(link).to_have_text("SEC-3")
    expect(link).to_have_attribute("href", f"{jira.url}/browse/SEC-3")
    expect(page.locator("table.externals a.external-link")).to_have_attribute("href", f"{jira.url}/browse/SEC-3")
    issue = jira.issue_by_key("SEC-3")
    assert issue["fields"]["summary"] == "Credential stuffing on vpn-1"
    assert issue["fields"]["issuetype"]["name"] == "Bug"

    comment(page, "Reset the three passwords.")
    page.get_by_role("button", name="Push", exact=True).click()
    expect(page.locator("#push-result")).to_contain_text("(1 new comment sent)")
    page.get_by_role("button", name="Push", exact=True).click()
    expect(page.locator("#push-result")).to_contain_text("(0 new comments sent)")
    settled(page)

    assert [c["body"] for c in jira.comments[issue["id"]]] == ["Reset the three passwords."]
    assert len([r for r in jira.received if r.method == "POST" and r.path == "/rest/api/2/issue"]) == 1

    # The same case to ServiceNow: its own incident, and the comment it has not had yet, once.
    page.get_by_label("Connector", exact=True).select_option(sn_id)
    expect(page.locator("#push-fields")).to_contain_text("Creates a new incident in SOC ServiceNow.")
    urgency = page.locator("[data-field='fields.urgency']")
    urgency.get_by_role("button", name="List choices").click()
    expect(urgency.get_by_role("status")).to_have_text("3 choices listed.")
    urgency.locator("select").select_option("2")
    page.get_by_role("button", name="Push", exact=True).click()
    expect(page.locator("#push-result")).to_contain_text("Pushed to SOC ServiceNow")
    [incident] = servicenow.records["incident"].values()
    link = page.locator("#push-result").get_by_role("link", name=incident["number"])
    expect(link).to_have_attribute("href", re.compile(re.escape(servicenow.url) + ".*" + incident["sys_id"]))
    assert (incident["short_description"], incident["urgency"]) == ("Credential stuffing on vpn-1", "2")
    page.get_by_role("button", name="Push", exact=True).click()
    expect(page.locator("#push-result")).to_contain_text("(0 new comments sent)")
    notes = [r.json["u_work_notes"] for r in servicenow.received if r.method == "POST" and "u_work_notes" in (r.json or {})]
    assert notes == ["Reset the three passwords."]
    expect(page.locator("table.externals tbody tr")).to_have_count(2)
    assert _violations(page, console) == []


def test_a_viewer_sees_the_case_but_no_push_or_comment_controls(page: Page, viewer_page: Page, live: LiveServer):
    create_case(page, live, "Printer on fire")
    viewer_page.goto(page.url)
    expect(viewer_page.get_by_role("heading", level=1)).to_have_text("Printer on fire")
    expect(viewer_page.get_by_role("button", name="Push", exact=True)).to_have_count(0)
    expect(viewer_page.get_by_label("Add a comment")).to_have_count(0)
    expect(viewer_page.get_by_role("button", name="Edit")).to_have_count(0)
