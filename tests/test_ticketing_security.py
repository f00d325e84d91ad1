"""An attacker's review of the ticketing types (Jira, ServiceNow ITSM/SecOps/ITOM, TheHive, XSOAR) and their
pickers, through the paths an attacker has: the REST API with a viewer's key, the test pane and the pickers
as a viewer, and a hostile service on 127.0.0.1.

What is kept here: ids given in params never reach another endpoint of the service with the connector's
credentials; values put into a ServiceNow encoded query or a JQL search cannot change the query; service
strings are shown as text; viewers use the pickers only with saved connectors; credentials a service echoes
(Basic pairs, API keys, the JWT assertion, OAuth secrets and tokens) are masked everywhere; hostile answers
(deep, huge, not JSON, slow) end in a clear error with bounded work.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
from html.parser import HTMLParser

import pytest
from werkzeug.wrappers import Response

from app.settings import OutboundSettings
from tests.api_client import Api
from tests.conftest import FORM_CSRF_RE, Browserish, make_app
from tests.fakes import jira as fake_jira
from tests.fakes import servicenow as fake_sn
from tests.fakes import thehive as fake_hive
from tests.fakes import xsoar as fake_xsoar
from tests.fakes.server import FakeServer
from tests.helpers import assert_secret_kept_out, events

JIRA_API = "/rest/api/2"
INCIDENT = "params.sub.incident"


# ---- fixtures and helpers ---------------------------------------------------------------------------------


@pytest.fixture
def jira():
    with fake_jira.FakeJira() as fake:
        yield fake


@pytest.fixture
def hive():
    with fake_hive.FakeTheHive() as fake:
        yield fake


@pytest.fixture
def xsoar():
    with fake_xsoar.FakeXsoar() as fake:
        yield fake


@pytest.fixture(scope="module")
def sn_keys():
    return fake_sn.key_pair()


@pytest.fixture
def sn(sn_keys):
    with fake_sn.FakeServiceNow(public_key=sn_keys[1]) as fake:
        yield fake


def jira_connector(api: Api, url: str) -> str:
    return api.created({"name": "jira", "connector_type_id": ".jira",
                        "config": {"apiUrl": url, "projectKey": fake_jira.PROJECT},
                        "secrets": {"email": fake_jira.EMAIL, "apiToken": fake_jira.API_TOKEN}})["id"]


def hive_connector(api: Api, url: str) -> str:
    return api.created({"name": "hive", "connector_type_id": ".thehive",
                        "config": {"url": url, "organisation": fake_hive.ORGANISATION},
                        "secrets": {"apiKey": fake_hive.API_KEY}})["id"]


def xsoar_connector(api: Api, url: str, key_id: str | None = None) -> str:
    return api.created({"name": "xsoar", "connector_type_id": ".xsoar", "config": {"url": url},
                        "secrets": {"apiKey": fake_xsoar.API_KEY, "apiKeyID": key_id}})["id"]


def sn_connector(api: Api, url: str, type_id: str = ".servicenow", *, table_api: bool = False,
                 oauth_pem: str | None = None) -> str:
    config: dict = {"apiUrl": url}
    if type_id != ".servicenow-itom":
        config["usesTableApi"] = table_api
    if oauth_pem is None:
        secrets = {"username": fake_sn.USERNAME, "password": fake_sn.PASSWORD}
    else:
        config.update(isOAuth=True, clientId=fake_sn.CLIENT_ID, jwtKeyId=fake_sn.JWT_KEY_ID,
                      userIdentifierValue=fake_sn.USER_IDENTIFIER)
        secrets = {"clientSecret": fake_sn.CLIENT_SECRET, "privateKey": oauth_pem}
    return api.created({"name": "sn", "connector_type_id": type_id, "config": config, "secrets": secrets})["id"]


def run(api: Api, cid: str, sub_action: str, params: dict) -> dict:
    response = api.execute(cid, {"subAction": sub_action, "subActionParams": params})
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    return response.get_json()


def pane(client: Browserish, cid: str, sub_action: str, **fields) -> str:
    """The test pane of a saved connector, as a person (admin or viewer) runs it."""
    data = {"params.__present": "1", "params.subAction": sub_action,
            **{f"params.sub.{k.replace('__', '.')}": v for k, v in fields.items()}}
    response = client.post(f"/connectors/{cid}/test", data=data, htmx=True)
    assert response.status_code in (200, 422), response.get_data(as_text=True)[:1000]
    return html.unescape(response.get_data(as_text=True))


def paths(fake) -> list[str]:
    return [r.path for r in fake.received]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# ---- path injection: an id from params never reaches another endpoint -------------------------------------

# What an id may hold to leave its place in a path: dot segments (the HTTP client resolves them), an encoded
# or plain slash, a query or a fragment (which cuts off the rest of the path, e.g. "/comment").
HOSTILE_IDS = ["../myself", "..", ".", "SEC-1/../../myself", "..%2Fmyself", "SEC-1?expand=changelog", "SEC-1#",
               "..\\myself"]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_a_jira_issue_id_cannot_walk_out_of_the_issue_endpoint(app, jira, hostile):
    api = Api.with_key(app)
    viewer = Api.with_key(app, "viewer")
    cid = jira_connector(api, jira.url)

    results = [run(viewer, cid, "getIncident", {"externalId": hostile}),
               run(viewer, cid, "issue", {"id": hostile}),
               run(viewer, cid, "pushToService", {"incident": {"summary": "x", "externalId": hostile}})]

    assert jira.received == [], paths(jira)
    for result in results:
        assert result["status"] == "error"
        assert "may not contain" in result["service_message"] or "may not be" in result["service_message"]


def test_a_viewer_cannot_read_the_jira_account_through_an_issue_id(app, jira):
    """The attack itself: /myself (the account, its groups) read with the connector's credentials."""
    viewer = Api.with_key(app, "viewer")
    cid = jira_connector(Api.with_key(app), jira.url)

    result = run(viewer, cid, "getIncident", {"externalId": "../myself"})

    assert f"{JIRA_API}/myself" not in paths(jira)
    assert "jira-admins" not in json.dumps(result)


def test_a_jira_issue_type_picked_in_the_picker_cannot_walk_out_of_createmeta(app, viewer, jira):
    cid = jira_connector(Api.with_key(app), jira.url)

    response = viewer.post("/types/.jira/fields", htmx=True, data={
        "jira.connector": cid, f"{INCIDENT}.issueType": "../../../../myself"})

    assert response.status_code == 200
    assert f"{JIRA_API}/myself" not in paths(jira)
    page = html.unescape(response.get_data(as_text=True))
    assert "jira-admins" not in page and "may not contain" in page


def test_a_jira_comment_cannot_be_posted_elsewhere_by_cutting_the_path(app, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    issue = jira.issue_by_key("SEC-1")

    run(Api.with_key(app, "viewer"), cid, "pushToService", {
        "incident": {"summary": "x", "externalId": f"{issue['key']}/../../../../rest/api/2/issue#"},
        "comments": [{"commentId": "1", "comment": "planted"}]})

    assert [r for r in jira.received if r.method in ("POST", "PUT")] == []


@pytest.mark.parametrize("hostile", ["../user/admin@thehive.local/key", "~41080/../../user/admin@thehive.local/key",
                                     "..", ".", "~41080?x=1", "~41080#", "..%2Fuser"])
def test_a_thehive_case_id_cannot_read_another_users_api_key(app, viewer, hive, hostile):
    cid = hive_connector(Api.with_key(app), hive.url)

    page = pane(viewer, cid, "getIncident", externalId=hostile)
    result = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": hostile})

    assert fake_hive.ADMIN_KEY not in page
    assert hive.received == [], paths(hive)
    assert result["status"] == "error" and "case id" in result["service_message"]


def test_a_thehive_case_id_cannot_patch_or_comment_elsewhere(app, hive):
    case = hive.add_case()
    cid = hive_connector(Api.with_key(app), hive.url)

    result = run(Api.with_key(app, "viewer"), cid, "pushToService", {
        "incident": {"title": "t", "description": "d", "externalId": f"{case['_id']}/../../alert#"},
        "comments": [{"commentId": "1", "comment": "planted"}]})

    assert result["status"] == "error"
    assert hive.received == []


@pytest.mark.parametrize("hostile", ["..", "."])
def test_a_servicenow_sys_id_that_is_a_dot_segment_is_refused(app, sn, hostile):
    cid = sn_connector(Api.with_key(app), sn.url, table_api=True)
    viewer = Api.with_key(app, "viewer")

    got = run(viewer, cid, "getIncident", {"externalId": hostile})
    pushed = run(viewer, cid, "pushToService", {"incident": {"short_description": "x", "externalId": hostile}})

    assert (got["status"], pushed["status"]) == ("error", "error")
    assert "may not contain" in got["service_message"]
    assert sn.received == []  # "." would have listed the whole table, ".." the table API's root


# ---- query injection: ServiceNow's encoded queries, Jira's JQL ---------------------------------------------


def test_a_correlation_id_cannot_widen_the_query_and_close_another_teams_incident(app, sn):
    mine = sn.seed("incident", short_description="mine", correlation_id="rule-1:alert-1")
    theirs = sn.seed("incident", short_description="another team's", correlation_id="rule-9:alert-7")
    cid = sn_connector(Api.with_key(app), sn.url)

    result = run(Api.with_key(app, "viewer"), cid, "closeIncident",
                 {"incident": {"correlation_id": f"no-such^ORnumber={theirs['number']}"}})

    assert sn.records["incident"][theirs["sys_id"]]["state"] != "7"
    assert sn.records["incident"][mine["sys_id"]]["state"] != "7"
    assert result["status"] == "error" and "^" in result["service_message"]


@pytest.mark.parametrize("injected", ["^NQactive=true", "^ORcorrelation_idISNOTEMPTY", "x^ORDERBYnumber^ORstate=1"])
def test_no_correlation_id_holding_a_caret_reaches_servicenow(app, sn, injected):
    sn.seed("incident", short_description="open", correlation_id="other")
    cid = sn_connector(Api.with_key(app), sn.url)

    result = run(Api.with_key(app, "viewer"), cid, "closeIncident", {"incident": {"correlation_id": injected}})

    assert result["status"] == "error"
    assert all("sysparm_query" not in r.args for r in sn.received)


@pytest.mark.parametrize("script", ["javascript:gs.getUserID()", " JavaScript:new GlideRecord('sys_user')"])
def test_a_correlation_id_or_choice_field_is_never_run_as_servicenow_script(app, sn, script):
    cid = sn_connector(Api.with_key(app), sn.url)
    viewer = Api.with_key(app, "viewer")

    closed = run(viewer, cid, "closeIncident", {"incident": {"correlation_id": script}})
    listed = run(viewer, cid, "getChoices", {"fields": [script]})

    assert (closed["status"], listed["status"]) == ("error", "error")
    assert "may not start with \"javascript:\"" in closed["service_message"] and sn.received == []


def test_a_choice_field_cannot_widen_sys_choice_to_other_tables(app, sn):
    cid = sn_connector(Api.with_key(app), sn.url)

    result = run(Api.with_key(app, "viewer"), cid, "getChoices",
                 {"fields": ["category^NQname=sn_si_incident^element=category"]})

    assert "phishing" not in json.dumps(result)  # SecOps' categories, not this ITSM table's
    assert result["status"] == "error"
    assert sn.received == []


HOSTILE_TITLES = ['login" OR project != "SEC', "login\\", 'a\\" or summary ~ "b', "x' or '1'='1", "login\nor x",
                  'end\\\\" or project = HR or summary ~ "']


def _jql_clauses(jql: str) -> list[tuple[str, str, str]]:
    """Read `field op "string"` clauses joined by `and` as Jira does (backslash escapes inside strings)."""
    clauses, at = [], 0
    clause = re.compile(r'\s*(?:and\s+)?(\w+)\s*(=|~)\s*"')
    while at < len(jql):
        match = clause.match(jql, at)
        assert match, f"unreadable JQL at {at}: {jql!r}"
        at, text = match.end(), []
        while jql[at] != '"':
            if jql[at] == "\\":
                at += 1
            text.append(jql[at])
            at += 1
        clauses.append((match[1], match[2], "".join(text)))
        at += 1
    return clauses


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_parent_search_cannot_change_the_jql(app, viewer, jira, title):
    cid = jira_connector(Api.with_key(app), jira.url)

    viewer.post("/types/.jira/issues", htmx=True, data={"jira.connector": cid, "jira.parentQuery": title})

    (jql,) = jira.searches
    clauses = _jql_clauses(jql)
    assert [(f, op) for f, op, _ in clauses] == [("project", "="), ("summary", "~")]
    assert clauses[0][2] == fake_jira.PROJECT


# ---- service strings are shown as text ---------------------------------------------------------------------

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2) x="'


class _Elements(HTMLParser):
    def __init__(self, page: str):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)


def _no_markup_from_service(page: str) -> None:
    """The service's string made no element and no attribute: it stayed text (or an attribute's value)."""
    found = _Elements(page)
    assert "script" not in found.tags and "img" not in found.tags
    assert not [a for a in found.attributes if a.startswith("on") or a in ("x", "src")]


def test_jira_issue_types_fields_and_priorities_from_a_hostile_jira_are_text(app, viewer, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    jira.answer_next(200, {"issueTypes": [{"id": XSS, "name": XSS}]})
    field = {"fieldId": XSS, "name": XSS, "required": True, "schema": {},
             "allowedValues": [{"name": XSS}]}
    jira.answer_next(200, {"fields": [field, {**field, "fieldId": "priority"}]})
    jira.answer_next(200, {"issues": [{"id": XSS, "key": XSS, "fields": {"summary": XSS}}]})

    types = viewer.post("/types/.jira/issue-types", htmx=True, data={"jira.connector": cid}).get_data(as_text=True)
    fields = viewer.post("/types/.jira/fields", htmx=True, data={
        "jira.connector": cid, f"{INCIDENT}.issueType": "10001"}).get_data(as_text=True)
    parents = viewer.post("/types/.jira/issues", htmx=True, data={
        "jira.connector": cid, "jira.parentQuery": "x"}).get_data(as_text=True)

    for page in (types, fields, parents):
        _no_markup_from_service(page)
    assert "&lt;script&gt;" in types and "&lt;script&gt;" in fields and "&lt;script&gt;" in parents


def test_servicenow_choice_labels_from_a_hostile_instance_are_text(app, viewer, sn):
    cid = sn_connector(Api.with_key(app), sn.url)
    sn.answer_next(200, {"result": [{"element": "urgency", "value": XSS, "label": XSS, "dependent_value": ""}]})

    page = viewer.post("/types/.servicenow/choices", htmx=True, data={
        "connector_id": cid, "choices_for": "params-sub-incident-urgency",
        "choices_name": "params.sub.incident.urgency"}).get_data(as_text=True)

    _no_markup_from_service(page)
    assert "&lt;script&gt;" in page


def test_xsoar_playbook_names_from_a_hostile_server_are_text(app, viewer, xsoar):
    cid = xsoar_connector(Api.with_key(app), xsoar.url)
    xsoar.answer_next(200, {"playbooks": [{"id": XSS, "name": XSS}]})

    page = viewer.post("/types/.xsoar/playbooks", htmx=True, data={"xsoar.connector": cid}).get_data(as_text=True)

    _no_markup_from_service(page)
    assert "&lt;script&gt;" in page


def test_a_hostile_error_text_in_the_test_pane_is_text(app, viewer, hive):
    cid = hive_connector(Api.with_key(app), hive.url)
    hive.answer_next(400, {"type": XSS, "message": XSS})

    page = viewer.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "getIncident",
        "params.sub.externalId": "~41080"}).get_data(as_text=True)

    _no_markup_from_service(page)


# ---- who may use the pickers -------------------------------------------------------------------------------

PICKERS = [("/types/.jira/issue-types", "config.apiUrl", "jira.connector"),
           ("/types/.jira/fields", "config.apiUrl", "jira.connector"),
           ("/types/.jira/issues", "config.apiUrl", "jira.connector"),
           ("/types/.jira/choices/issue-types", "config.apiUrl", "jira.connector"),
           ("/types/.servicenow/choices", "config.apiUrl", "connector_id"),
           ("/types/.servicenow-sir/choices", "config.apiUrl", "connector_id"),
           ("/types/.servicenow-itom/choices", "config.apiUrl", "connector_id"),
           ("/types/.xsoar/playbooks", "config.url", "xsoar.connector")]


@pytest.mark.parametrize(("path", "url_field", "connector_field"), PICKERS)
def test_anonymous_callers_cannot_use_the_pickers(app, sn, path, url_field, connector_field):
    client = app.test_client()
    token = FORM_CSRF_RE.search(client.get("/sign-in").get_data(as_text=True)).group(1)  # a stranger can have one
    data = {url_field: sn.url, "config.isOAuth": "false", "secrets.username": "u", "secrets.password": "p"}

    without_token = client.post(path, data=data)
    plain = client.post(path, data=data, headers={"X-CSRFToken": token})
    htmx = client.post(path, data=data, headers={"X-CSRFToken": token, "HX-Request": "true"})

    assert without_token.status_code == 400
    assert plain.status_code in (302, 303) and "/sign-in" in plain.headers["Location"]
    assert htmx.status_code == 401
    assert sn.received == []


@pytest.mark.parametrize(("path", "url_field", "connector_field"), PICKERS)
def test_the_pickers_need_the_csrf_token(app, web, path, url_field, connector_field):
    response = web.client.post(path, data={connector_field: "x"}, headers={"HX-Request": "true"})

    assert response.status_code == 400


def _sn_choices_form(type_id: str) -> dict:
    name = "params.sub.severity" if type_id == ".servicenow-itom" else f"{INCIDENT}.urgency"
    return {"choices_for": name.replace(".", "-"), "choices_name": name}


@pytest.mark.parametrize("type_id", [".servicenow", ".servicenow-sir", ".servicenow-itom"])
def test_a_viewer_cannot_send_a_saved_servicenow_connectors_password_to_another_url(app, viewer, sn, type_id):
    cid = sn_connector(Api.with_key(app), sn.url, type_id)
    with fake_sn.FakeServiceNow() as elsewhere:
        response = viewer.post(f"/types/{type_id}/choices", htmx=True, data={
            "connector_id": cid, "config.apiUrl": elsewhere.url, "config.isOAuth": "false",
            **_sn_choices_form(type_id)})

        assert response.status_code == 403
        assert elsewhere.received == []


def test_a_viewer_cannot_send_a_saved_jira_connectors_token_to_another_url(app, viewer, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    with fake_jira.FakeJira() as elsewhere:
        for picker in ("issue-types", "fields", "issues", "choices/issue-types", "choices/priorities",
                       "choices/parents"):
            response = viewer.post(f"/types/.jira/{picker}", htmx=True, data={
                "connector_id": cid, "jira.connector": cid, "config.apiUrl": elsewhere.url,
                "config.projectKey": "SEC", f"{INCIDENT}.issueType": "10001", "jira.parentQuery": "login",
                "fields.issueType": "10001", "fields.parent": "login"})
            assert response.status_code == 403, picker
        assert elsewhere.received == []


def test_a_viewer_cannot_send_a_saved_xsoar_key_to_another_url(app, viewer, xsoar):
    cid = xsoar_connector(Api.with_key(app), xsoar.url)
    with fake_xsoar.FakeXsoar() as elsewhere:
        response = viewer.post("/types/.xsoar/playbooks", htmx=True, data={
            "connector_id": cid, "xsoar.connector": cid, "config.url": elsewhere.url})

        assert response.status_code == 403
        assert elsewhere.received == []


def test_a_viewer_uses_the_pickers_of_saved_connectors(app, viewer, jira, xsoar, sn):
    admin = Api.with_key(app)
    jira_id, xsoar_id, sn_id = (jira_connector(admin, jira.url), xsoar_connector(admin, xsoar.url),
                                sn_connector(admin, sn.url))

    types = viewer.post("/types/.jira/issue-types", htmx=True, data={"jira.connector": jira_id})
    books = viewer.post("/types/.xsoar/playbooks", htmx=True, data={"xsoar.connector": xsoar_id})
    urgency = viewer.post("/types/.servicenow/choices", htmx=True,
                          data={"connector_id": sn_id, **_sn_choices_form(".servicenow")})

    assert "3 issue types listed." in types.get_data(as_text=True)
    assert "3 playbooks listed." in books.get_data(as_text=True)
    assert "3 choices listed." in urgency.get_data(as_text=True)


# ---- secrets a hostile service echoes ----------------------------------------------------------------------


def test_jira_credentials_echoed_in_errors_are_masked(app, web, viewer, jira, caplog):
    cid = jira_connector(Api.with_key(app), jira.url)
    jira.echo_credentials = True
    basic = base64.b64encode(f"{fake_jira.EMAIL}:{fake_jira.API_TOKEN}".encode()).decode()

    result = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": "SEC-1"})
    picker = viewer.post("/types/.jira/issue-types", htmx=True, data={"jira.connector": cid}).get_data(as_text=True)
    shown = pane(viewer, cid, "issueTypes")

    assert "Refused" in result["service_message"]
    for secret in (basic, fake_jira.API_TOKEN):
        assert_secret_kept_out(app, web, secret, cid, json.dumps(result), picker, shown, log=caplog.text)


def test_thehive_and_xsoar_keys_echoed_in_errors_are_masked(app, web, viewer, hive, xsoar, caplog):
    admin = Api.with_key(app)
    hive_id, xsoar_id = hive_connector(admin, hive.url), xsoar_connector(admin, xsoar.url, key_id="4711")
    hive.echo_credentials = xsoar.echo_credentials = True

    hive_shown = pane(viewer, hive_id, "getIncident", externalId="~41080")
    xsoar_shown = viewer.post("/types/.xsoar/playbooks", htmx=True,
                              data={"xsoar.connector": xsoar_id}).get_data(as_text=True)
    xsoar_run = pane(viewer, xsoar_id, "getPlaybooks")

    assert "Refused Authorization" in hive_shown
    assert_secret_kept_out(app, web, fake_hive.API_KEY, hive_id, hive_shown, log=caplog.text)
    assert_secret_kept_out(app, web, fake_xsoar.API_KEY, xsoar_id, xsoar_shown, xsoar_run, log=caplog.text)
    assert_secret_kept_out(app, web, "4711", xsoar_id, xsoar_shown, xsoar_run, log=caplog.text)


def test_servicenow_basic_credentials_echoed_in_errors_are_masked(app, web, viewer, sn, caplog):
    cid = sn_connector(Api.with_key(app), sn.url)
    sn.echo_credentials = True
    basic = base64.b64encode(f"{fake_sn.USERNAME}:{fake_sn.PASSWORD}".encode()).decode()

    result = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": "a" * 32})
    shown = pane(viewer, cid, "getIncident", externalId="a" * 32)

    assert "Refused Authorization" in result["service_message"]
    for secret in (basic, fake_sn.PASSWORD):
        assert_secret_kept_out(app, web, secret, cid, json.dumps(result), shown, log=caplog.text)


def test_servicenow_oauth_secrets_and_the_learned_token_echoed_are_masked(app, web, viewer, sn, sn_keys, caplog):
    cid = sn_connector(Api.with_key(app), sn.url, oauth_pem=sn_keys[0])

    sn.echo_grant = True
    refused = pane(viewer, cid, "getIncident", externalId="a" * 32)
    assertions = [g.form["assertion"] for g in sn.grants]
    sn.echo_grant, sn.echo_credentials = False, True
    echoed = pane(viewer, cid, "getIncident", externalId="a" * 32)
    api_echoed = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": "a" * 32})
    tokens = list(sn.tokens)  # each 401 drops the cached token, so each run learned its own

    assert "refused" in refused and "Refused Authorization" in echoed
    assert assertions and tokens
    for secret in (*assertions, fake_sn.CLIENT_SECRET, *tokens):
        assert_secret_kept_out(app, web, secret, cid, refused, echoed, json.dumps(api_echoed), log=caplog.text)


# ---- hostile answers: deep, huge, not JSON, slow ------------------------------------------------------------


@pytest.mark.parametrize("depth", [200, 900, 5000, 100_000])
def test_deeply_nested_answers_end_in_a_clear_error_not_a_500(app, web, viewer, jira, hive, sn, xsoar, depth):
    admin = Api.with_key(app)
    viewer_api = Api.with_key(app, "viewer")
    ids = {"jira": jira_connector(admin, jira.url), "hive": hive_connector(admin, hive.url),
           "sn": sn_connector(admin, sn.url), "xsoar": xsoar_connector(admin, xsoar.url)}
    deep = nested(depth)
    jira.answer_raw(200, json.dumps({"id": "1", "key": "SEC-1", "fields": {"x": "@@"}}).replace('"@@"', deep))
    hive.answer_raw(200, json.dumps({**hive.add_case(), "extra": "@@"}).replace('"@@"', deep))
    sn.answer_raw(200, json.dumps({"result": {"sys_id": "1", "x": "@@"}}).replace('"@@"', deep))
    xsoar.answer_raw(200, json.dumps({"playbooks": [], "x": "@@"}).replace('"@@"', deep))

    calls = [
        viewer_api.execute(ids["jira"], {"subAction": "getIncident", "subActionParams": {"externalId": "SEC-1"}}),
        viewer_api.execute(ids["hive"], {"subAction": "getIncident", "subActionParams": {"externalId": "~1"}}),
        viewer_api.execute(ids["sn"], {"subAction": "getIncident", "subActionParams": {"externalId": "1"}}),
        viewer_api.execute(ids["xsoar"], {"subAction": "getPlaybooks", "subActionParams": {}}),
    ]

    for response in calls:
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body = response.get_json()
        assert body["status"] == "error", body
        # The kit refuses such JSON before parsing it; each type words it as an answer it cannot read.
        assert re.search(r"nested|not a valid JSON|issue with your Service Now Instance",
                         body["service_message"]), body
        assert body["retry"] is False
    assert all(e.status == "error" for e in events(app))
    for cid in ids.values():
        assert web.get(f"/connectors/{cid}").status_code == 200


def test_thousands_of_issue_types_do_not_make_thousands_of_calls(app, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    jira.issue_types = [{"id": str(20000 + i), "name": f"Type {i}"} for i in range(3000)]

    started = time.monotonic()
    result = run(Api.with_key(app, "viewer"), cid, "getFields", {})

    assert len(jira.received) <= 101
    assert result["status"] == "error" and "3000 issue types" in result["service_message"]
    assert time.monotonic() - started < 30


def test_thousands_of_choices_and_issue_types_are_listed_without_a_500(app, viewer, jira, sn):
    jira_id, sn_id = jira_connector(Api.with_key(app), jira.url), sn_connector(Api.with_key(app), sn.url)
    jira.answer_next(200, {"issueTypes": [{"id": str(i), "name": f"Type {i}"} for i in range(5000)]})
    rows = [{"element": "urgency", "value": str(i), "label": f"Level {i}", "dependent_value": ""} for i in range(5000)]
    sn.answer_next(200, {"result": rows})

    types = viewer.post("/types/.jira/issue-types", htmx=True, data={"jira.connector": jira_id})
    choices = viewer.post("/types/.servicenow/choices", htmx=True,
                          data={"connector_id": sn_id, **_sn_choices_form(".servicenow")})

    assert types.status_code == 200 and "5000 issue types listed." in types.get_data(as_text=True)
    assert choices.status_code == 200 and "5000 choices listed." in choices.get_data(as_text=True)


@pytest.mark.parametrize("allowed", [7, "High", {"name": 3}, [None, 5, "x", {"name": None}], None])
def test_priorities_of_an_odd_shape_do_not_break_the_picker(app, viewer, jira, allowed):
    cid = jira_connector(Api.with_key(app), jira.url)
    field = {"fieldId": "priority", "name": "Priority", "required": False, "schema": {}, "allowedValues": allowed}
    jira.answer_next(200, {"fields": [field]})
    jira.answer_next(200, {"fields": [field]})

    fields = viewer.post("/types/.jira/fields", htmx=True, data={
        "jira.connector": cid, f"{INCIDENT}.issueType": "10001"})
    choices = viewer.post("/types/.jira/choices/priorities", htmx=True, data={
        "jira.connector": cid, "fields.issueType": "10001"})

    assert (fields.status_code, choices.status_code) == (200, 200)


@pytest.mark.parametrize("body", ["<html>login</html>", "", "null", "[1, 2]", '"text"', "{", "NaN"])
def test_answers_that_are_not_what_the_pickers_expect_are_clear_errors(app, viewer, jira, sn, xsoar, body):
    admin = Api.with_key(app)
    jira_id, sn_id, xsoar_id = jira_connector(admin, jira.url), sn_connector(admin, sn.url), xsoar_connector(
        admin, xsoar.url)
    jira.answer_raw(200, body)
    sn.answer_raw(200, body)
    xsoar.answer_raw(200, body)

    answers = [viewer.post("/types/.jira/issue-types", htmx=True, data={"jira.connector": jira_id}),
               viewer.post("/types/.servicenow/choices", htmx=True,
                           data={"connector_id": sn_id, **_sn_choices_form(".servicenow")}),
               viewer.post("/types/.xsoar/playbooks", htmx=True, data={"xsoar.connector": xsoar_id})]

    for answer in answers:
        assert answer.status_code == 200
        page = answer.get_data(as_text=True)
        assert "error" in page.lower() or "0 " in page


class _Drip:
    """A WSGI app that answers 200 and then sends its JSON one byte at a time, `pause` seconds apart."""

    def __init__(self, pieces: int, pause: float):
        self.pieces, self.pause = pieces, pause
        self.stop = threading.Event()
        self.done = threading.Event()  # set once the whole body has been sent

    def __call__(self, environ, start_response):
        def body():
            yield b'{"playbooks": ['
            for _ in range(self.pieces):
                if self.stop.wait(self.pause):
                    return
                yield b" "
            yield b"]}"
            self.done.set()

        return Response(body(), 200, content_type="application/json", direct_passthrough=True)(
            environ, start_response)


def test_a_service_dripping_its_answer_is_cut_off_at_a_deadline(tmp_path):
    drip = _Drip(pieces=16, pause=0.25)  # 4 s in all, each byte well within the read timeout
    app = make_app(tmp_path, OutboundSettings(read_timeout=1.0, connect_timeout=1.0, run_timeout=1.5))
    with FakeServer(drip) as server:
        cid = xsoar_connector(Api.with_key(app), server.url)
        result = run(Api.with_key(app, "viewer"), cid, "getPlaybooks", {})
        finished_sending = drip.done.is_set()
        drip.stop.set()

    assert result["status"] == "error"
    assert "did not finish within 1.5 s" in result["service_message"]  # cut by the run's deadline
    assert not finished_sending  # before the service had sent everything


def test_a_jira_date_out_of_range_is_an_invalid_time_not_a_retry(app, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    jira.answer_next(200, {"id": "10000", "key": "SEC-1", "fields": {"created": "0001-01-01T00:00:00.000+0500"}})

    result = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": "SEC-1"})
    jira.answer_next(201, {"id": "10000", "key": "SEC-1", "self": "x"})
    jira.answer_next(200, {"id": "10000", "key": "SEC-1", "fields": {"created": "0001-01-01T00:00:00.000+0500"}})
    pushed = run(Api.with_key(app), cid, "pushToService", {"incident": {"summary": "x", "issueType": "10001"}})

    assert result["status"] == "ok"  # getIncident passes Jira's dates through
    assert pushed["status"] == "error" and "Invalid time value" in pushed["service_message"]
    assert pushed["retry"] is False


@pytest.mark.parametrize("created", [1e300, -1e300])
def test_a_thehive_creation_date_out_of_range_is_an_invalid_time_not_a_retry(app, hive, created):
    cid = hive_connector(Api.with_key(app), hive.url)
    hive.answer_raw(201, json.dumps({**hive.add_case(), "_createdAt": created}))

    result = run(Api.with_key(app), cid, "pushToService", {"incident": {"title": "t", "description": "d"}})

    assert (result["status"], result["retry"]) == ("error", False)
    assert "Invalid time value" in result["service_message"]


def test_a_deeply_nested_answer_to_a_type_using_the_kits_json_reading_is_a_clear_error(app):
    from tests.fakes.d3security import FakeD3

    with FakeD3() as d3:
        cid = Api.with_key(app).created({"name": "d3", "connector_type_id": ".d3security",
                                         "config": {"url": d3.intake_url}, "secrets": {"token": d3.token}})["id"]
        d3.answer_next(200, json.dumps({"refid": "1", "x": "@@"}).replace('"@@"', nested(900)))
        response = Api.with_key(app, "viewer").execute(cid, {"subAction": "run", "subActionParams": {}})

    assert response.status_code == 200 and response.get_json()["status"] == "error"


def test_a_huge_retry_after_is_read_as_a_throttle(app, jira):
    cid = jira_connector(Api.with_key(app), jira.url)
    jira.throttle(retry_after="99999999999999999999")

    result = run(Api.with_key(app, "viewer"), cid, "getIncident", {"externalId": "SEC-1"})

    assert "status code 429" in result["service_message"]


# A JSON text whose quotes a string-matching regex cannot pair: a scan that retries from each quote is
# quadratic in it (seconds at 32 KB, hours at 1 MB).
UNPAIRED_QUOTES = '["' + '\\"' * 100_000


def test_a_body_of_unpaired_quotes_is_refused_quickly(app, jira, hive, sn, xsoar):
    admin, viewer_api = Api.with_key(app), Api.with_key(app, "viewer")
    ids = {"jira": jira_connector(admin, jira.url), "hive": hive_connector(admin, hive.url),
           "sn": sn_connector(admin, sn.url), "xsoar": xsoar_connector(admin, xsoar.url)}
    for fake in (jira, hive, sn, xsoar):
        fake.answer_raw(200, UNPAIRED_QUOTES)
        fake.answer_raw(400, UNPAIRED_QUOTES)

    started = time.monotonic()
    answers = [run(viewer_api, ids["jira"], "getIncident", {"externalId": "SEC-1"}),
               run(viewer_api, ids["jira"], "getIncident", {"externalId": "SEC-1"}),
               run(viewer_api, ids["hive"], "getIncident", {"externalId": "~1"}),
               run(viewer_api, ids["hive"], "getIncident", {"externalId": "~1"}),
               run(viewer_api, ids["sn"], "getIncident", {"externalId": "1"}),
               run(viewer_api, ids["sn"], "getIncident", {"externalId": "1"}),
               run(viewer_api, ids["xsoar"], "getPlaybooks", {}),
               run(viewer_api, ids["xsoar"], "getPlaybooks", {})]

    assert time.monotonic() - started < 10
    assert [a["status"] for a in answers] == ["error"] * 8


def test_an_api_body_of_unpaired_quotes_is_refused_quickly(app, hive):
    cid = hive_connector(Api.with_key(app), hive.url)
    body = '{"params": ' + UNPAIRED_QUOTES[:30_001]

    started = time.monotonic()
    response = Api.with_key(app, "viewer").post(f"/api/actions/connector/{cid}/_execute", data=body,
                                                content_type="application/json")

    assert response.status_code == 400
    assert time.monotonic() - started < 1.5


def test_the_test_pane_shows_a_hostile_body_of_unpaired_quotes_quickly(app, viewer, hive):
    cid = hive_connector(Api.with_key(app), hive.url)
    hive.answer_raw(200, UNPAIRED_QUOTES[:30_001])

    started = time.monotonic()
    page = pane(viewer, cid, "getIncident", externalId="~1")

    assert 'data-status="error"' in page
    assert time.monotonic() - started < 1.5
