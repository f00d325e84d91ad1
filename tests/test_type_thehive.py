"""The `.thehive` type end to end, against a fake TheHive 5: `pushToService` creates or updates a case and
adds its comments, `createAlert` posts an alert merged with its body JSON, `getIncident` reads a case; every
call carries the bearer key and the organisation, and failures come back in Kibana's words."""

from __future__ import annotations

import html
import logging
import re
import socket

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import GENERIC_ERROR, CaseView
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.thehive import API_KEY, ORGANISATION, FakeTheHive
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

THEHIVE = get_type(".thehive")
ALERT = {"title": "Suspicious login", "description": "Three failed logins, then one success.", "type": "external",
         "source": "switchboard", "sourceRef": "alert-1"}


@pytest.fixture
def hive():
    with FakeTheHive() as fake:
        yield fake


def hive_fields(url: str, key: str = API_KEY, organisation: str = ORGANISATION, name: str = "hive") -> dict:
    return {"name": name, "config.url": url, "config.organisation": organisation, "secrets.apiKey": key}


def pane(web, connector_id: str, sub_action: str, **fields) -> str:
    """What the test pane posts for `sub_action` with these fields (`incident.title=…` for the case's)."""
    data = {"params.__present": "1", "params.subAction": sub_action,
            **{f"params.sub.{k.replace('__', '.')}": v for k, v in fields.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def case_pane(web, connector_id: str, **fields) -> str:
    case = {"incident__title": "Malware on web-01", "incident__description": "EDR quarantined a file.", **fields}
    return pane(web, connector_id, "pushToService", **case)


def api_connector(api: Api, url: str, key: str = API_KEY, organisation: str | None = ORGANISATION) -> str:
    body = {"name": "hive", "connector_type_id": ".thehive", "config": {"url": url, "organisation": organisation},
            "secrets": {"apiKey": key}}
    return api.created(body)["id"]


def run_api(app, url: str, sub_action: str, params: dict, **connector) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, url, **connector)
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def push(app, url: str, incident: dict, comments=None, **connector) -> dict:
    return run_api(app, url, "pushToService", {"incident": incident, "comments": comments}, **connector)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the connector ------------------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_with_its_key_kept_secret(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url, name="TheHive SOC"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "TheHive SOC", ".thehive")
    assert connector.config == {"url": hive.url, "organisation": ORGANISATION}
    assert connector.secret_fields == {"apiKey": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"url": hive.url, "organisation": ORGANISATION} and "secrets" not in shown


def test_a_blank_key_on_edit_keeps_the_stored_one(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))
    assert API_KEY not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=hive_fields(hive.url, key="", name="renamed"))
    case_pane(web, cid)

    assert edit.status_code == 303
    assert hive.received[-1].headers["Authorization"] == f"Bearer {API_KEY}"
    assert connectors(app)[0].name == "renamed"


def test_thehive_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".thehive"] == {
        **types[".thehive"], "name": "TheHive", "minimum_license_required": "platinum",
        "supported_feature_ids": ["alerting", "siem", "uptime", "cases", "workflows"],
    }


def test_a_url_outside_the_allowed_hosts_is_refused(tmp_path, hive):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("thehive.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.thehive", data=hive_fields(hive.url))

    assert response.status_code == 422
    assert ('error validating action type config: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))


def test_a_url_and_a_key_are_required(web):
    response = web.post("/connectors/new/.thehive", data=hive_fields("", key=""))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert page.count("Required.") >= 2


# ---- pushToService: the case ----------------------------------------------------------------------------------


def test_the_test_pane_creates_a_case_with_the_key_and_the_organisation(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))

    page = case_pane(web, cid, incident__severity="3", incident__tlp="1", incident__tags="edr, malware")

    (got,) = hive.received
    assert (got.method, got.path) == ("POST", "/api/v1/case")
    assert got.headers["Authorization"] == f"Bearer {API_KEY}"
    assert got.headers["X-Organisation"] == ORGANISATION
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"title": "Malware on web-01", "description": "EDR quarantined a file.", "severity": 3,
                        "tlp": 1, "tags": ["edr", "malware"]}
    (case_id,) = hive.cases
    assert 'data-status="ok"' in page and "201 Created" in page
    assert f"{hive.url}/cases/{case_id}/details" in page
    event = events(app)[-1]
    assert (event.sub_action, event.status, event.http_status) == ("pushToService", "ok", 201)


def test_the_case_form_starts_at_medium_and_amber_with_thehives_names(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))

    page = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))

    assert '<option value="pushToService" selected>pushToService — Create case</option>' in page
    assert re.search(r'<option value="2" selected>MEDIUM</option>', page)
    assert re.search(r'<option value="2" selected>AMBER</option>', page)
    assert '<option value="4" >CRITICAL</option>' in page and '<option value="3" >AMBER+STRICT</option>' in page
    assert 'name="params.sub.incident.title"' in page and 'value="Switchboard test case"' in page


def test_the_prefilled_test_params_create_a_case(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))

    result = Api.with_key(app).execute(cid, THEHIVE.test_params).get_json()

    assert result["status"] == "ok"
    assert hive.received[-1].json == {"title": "Switchboard test case",
                                      "description": "Created to test the TheHive connector.",
                                      "severity": 2, "tlp": 2, "tags": ["switchboard"]}


def test_a_new_case_answers_its_id_title_page_and_creation_date(app, hive):
    result = push(app, hive.url + "/", {"title": "T", "description": "D"})

    (case,) = hive.cases.values()
    assert result["data"] == {"id": case["_id"], "title": "T", "url": f"{hive.url}/cases/{case['_id']}/details",
                              "pushedDate": _iso(case["_createdAt"])}
    # Kibana sends what the schema made of the incident: absent choices as null.
    assert hive.received[-1].json == {"title": "T", "description": "D", "severity": None, "tlp": None,
                                      "tags": None}


def test_an_existing_case_is_updated_and_each_comment_added(app, hive):
    case = hive.add_case()
    comments = [{"commentId": "c-1", "comment": "First note"}, {"commentId": "c-2", "comment": "Second note"}]

    result = push(app, hive.url, {"title": "Updated", "description": "D", "externalId": case["_id"], "severity": 4},
                  comments)

    patch, first, second = hive.received
    assert (patch.method, patch.path) == ("PATCH", f"/api/v1/case/{case['_id']}")
    assert patch.json == {"title": "Updated", "description": "D", "severity": 4, "tlp": None, "tags": None}
    assert [(r.method, r.path, r.json) for r in (first, second)] == [
        ("POST", f"/api/v1/case/{case['_id']}/comment", {"message": "First note"}),
        ("POST", f"/api/v1/case/{case['_id']}/comment", {"message": "Second note"}),
    ]
    data = result["data"]
    assert (data["id"], data["title"], data["url"]) == (case["_id"], "Updated", f"{hive.url}/cases/{case['_id']}/details")
    assert data["comments"] == [{"commentId": "c-1", "pushedDate": data["pushedDate"]},
                                {"commentId": "c-2", "pushedDate": data["pushedDate"]}]
    assert hive.cases[case["_id"]]["title"] == "Updated"


def test_updating_a_case_thehive_does_not_hold_is_not_found(app, hive):
    result = push(app, hive.url, {"title": "T", "description": "D", "externalId": "~999"})

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": False,
                      "service_message": "Status code: 404. Message: API Error: NotFoundError - Case ~999 not found"}


def test_a_case_from_the_case_store_is_pushed_as_kibanas_cases_format_it(app, hive):
    case = CaseView(id="c-9", title="Phishing wave", description="Twelve users reported it.", tags=("phishing",),
                    severity="critical")
    incident = THEHIVE.case_incident(case, THEHIVE.case_fields(tlp="3"))

    result = push(app, hive.url, {**incident, "externalId": None}, [{"commentId": "n-1", "comment": "Seen at 9:02"}])

    assert result["status"] == "ok"
    assert hive.to("POST", "/api/v1/case")[0].json == {
        "title": "Phishing wave", "description": "Twelve users reported it.", "tags": ["phishing"], "severity": 4,
        "tlp": 3}
    assert result["data"]["comments"] == [{"commentId": "n-1", "pushedDate": result["data"]["pushedDate"]}]


def test_without_an_organisation_no_organisation_header_is_sent(app, hive):
    result = push(app, hive.url, {"title": "T", "description": "D"}, organisation=None)

    assert result["status"] == "ok"
    assert "X-Organisation" not in hive.received[-1].headers


# ---- createAlert and getIncident ---------------------------------------------------------------------------


def test_an_alert_is_posted_with_its_body_merged_over_the_fields(app, hive):
    body = '{"observables": [{"dataType": "ip", "data": "203.0.113.9"}], "source": "from-body"}'

    result = run_api(app, hive.url, "createAlert", {**ALERT, "severity": 3, "tags": ["auth"], "body": body})

    assert result == {**result, "status": "ok", "data": {}}
    got = hive.to("POST", "/api/v1/alert")[0]
    assert got.json == {**ALERT, "source": "from-body", "severity": 3, "isRuleSeverity": False, "tlp": None,
                        "tags": ["auth"], "observables": [{"dataType": "ip", "data": "203.0.113.9"}]}
    assert hive.alerts[0]["observableCount"] == 1


def test_an_alert_body_that_is_not_json_fails_before_any_call(app, hive):
    result = run_api(app, hive.url, "createAlert", {**ALERT, "body": "{observables: []}"})

    assert (result["status"], result["message"], result["retry"]) == ("error", GENERIC_ERROR, False)
    assert result["service_message"].startswith("The alert body is not valid JSON")
    assert hive.received == []


def test_a_second_alert_with_the_same_reference_is_refused_in_thehives_words(app, hive):
    run_api(app, hive.url, "createAlert", ALERT)

    result = run_api(app, hive.url, "createAlert", ALERT)

    assert result["service_message"] == (
        "Status code: 400. Message: API Error: CreateError - Alert external/switchboard/alert-1 already exists")
    assert result["retry"] is False


def test_get_incident_reads_the_case(app, hive):
    case = hive.add_case("Lateral movement")

    result = run_api(app, hive.url, "getIncident", {"externalId": case["_id"]})

    assert result["data"] == case
    assert (hive.received[-1].method, hive.received[-1].path) == ("GET", f"/api/v1/case/{case['_id']}")


# ---- params ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "detail"),
    [
        ("pushToService", {"incident": {"description": "D"}}, "[incident.title]: Field required"),
        ("pushToService", {"incident": {"title": "T", "description": "D", "severity": 7}},
         "[incident.severity]: Input should be 1, 2, 3 or 4"),
        ("createAlert", {**ALERT, "sourceRef": None}, "[sourceRef]: Input should be a valid string"),
        ("createAlert", {**ALERT, "tlp": "red"}, "[tlp]: Input should be 0, 1, 2, 3 or 4"),
        ("createAlert", {**ALERT, "template": 1}, "[template]: Extra inputs are not permitted"),
    ],
)
def test_params_that_do_not_validate_are_refused_before_any_call(app, hive, sub_action, params, detail):
    result = run_api(app, hive.url, sub_action, params)

    assert result["status"] == "error"
    assert result["message"].startswith(f"Request validation failed ({detail}")
    assert hive.received == []


def test_numbers_as_strings_are_read_as_numbers_as_kibana_coerces_them(app, hive):
    result = run_api(app, hive.url, "createAlert", {**ALERT, "severity": "4", "tlp": "0"})

    assert result["status"] == "ok"
    assert (hive.received[-1].json["severity"], hive.received[-1].json["tlp"]) == (4, 0)


def test_an_unknown_sub_action_is_refused_with_kibanas_text(app, hive):
    api = Api.with_key(app)
    cid = api_connector(api, hive.url)

    result = api.execute(cid, {"subAction": "closeCase", "subActionParams": {}}).get_json()

    assert result["message"] == (f'Sub action "closeCase" is not registered. Connector id: {cid}. '
                                 "Connector name: hive. Connector type: .thehive")


# ---- errors: Kibana's words around TheHive's -------------------------------------------------------------------


def test_a_wrong_key_is_thehives_authentication_error_and_final(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url, key="not-the-key"))

    page = case_pane(web, cid)

    assert GENERIC_ERROR in page
    assert "Status code: 401. Message: API Error: AuthenticationError - Authentication failure" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("false", 401)


def test_an_organisation_the_key_cannot_reach_is_an_authorization_error(app, hive):
    result = push(app, hive.url, {"title": "T", "description": "D"}, organisation="Elsewhere")

    assert result["service_message"] == ("Status code: 403. Message: API Error: AuthorizationError - "
                                         "Organisation Elsewhere not found or not accessible")
    assert result["retry"] is False


def test_throttling_asks_for_a_retry(app, web, hive):
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))
    hive.throttle()

    page = case_pane(web, cid)

    # Kibana's sub-action framework reads no Retry-After: the task's own backoff decides when.
    assert "Status code: 429. Message: API Error: TooManyRequests - Too many requests, retry later" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", 429)


def test_a_server_error_asks_for_a_retry(app, hive):
    hive.outage()

    result = push(app, hive.url, {"title": "T", "description": "D"})

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == (
        "Status code: 500. Message: API Error: InternalError - Unexpected error: database unavailable")


def test_an_error_page_that_is_not_thehives_json_reads_as_undefined(app, hive):
    hive.answer_next(502, "<html><body>Bad gateway</body></html>")

    result = push(app, hive.url, {"title": "T", "description": "D"})

    assert result["service_message"] == "Status code: 502. Message: API Error: undefined - undefined"
    assert result["retry"] is True


def test_a_refused_connection_is_an_unknown_api_error_worth_retrying(app, web):
    cid = create_via_form(web, ".thehive", hive_fields(f"http://127.0.0.1:{free_port()}"))

    page = case_pane(web, cid)

    assert "Status code: undefined. Message: Unknown API Error" in page
    assert "connection to http://127.0.0.1:" in page  # the trace says what happened
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", None)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"_id": "~1", "title": "T"}, "[_type]: expected value of type [string] but got [undefined]"),
        ("created", "Response is not a valid JSON"),
    ],
)
def test_a_case_answer_without_what_kibana_requires_is_not_a_success(app, hive, answer, detail):
    hive.answer_next(201, answer)

    result = push(app, hive.url, {"title": "T", "description": "D"})

    assert (result["status"], result["retry"]) == ("error", False)
    assert result["service_message"] == f"Response validation failed ({detail})"


# ---- secrets ----------------------------------------------------------------------------------------------------


def test_the_key_is_sent_but_never_shown_in_pages_logs_or_events(app, web, hive, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".thehive", hive_fields(hive.url))
    hive.answer_next(500, {"type": "InternalError", "message": f"Key {API_KEY} is locked"})  # echoes the secret

    page = case_pane(web, cid)
    unsaved = web.post("/connectors/new/.thehive/test", htmx=True, data={
        **hive_fields(hive.url), "params.__present": "1", "params.subAction": "createAlert",
        **{f"params.sub.{k}": v for k, v in ALERT.items()}}).get_data(as_text=True)

    assert [r.headers["Authorization"] for r in hive.received] == [f"Bearer {API_KEY}"] * 2
    assert "Authorization" in page  # header names are shown
    assert "Key •••••• is locked" in page
    assert_secret_kept_out(app, web, API_KEY, cid, page, unsaved, log=caplog.text)


# ---- the browser: create case or create alert, severity and TLP by name ---------------------------------------


@drives_browser
def test_pick_create_alert_with_critical_and_red_then_run(page: Page, live: LiveServer, hive: FakeTheHive):
    cid = post_create(page, live, ".thehive", hive_fields(hive.url, name="TheHive e2e"))
    page.goto(f"{live.url}/connectors/{cid}")
    sub_action = page.get_by_label("Sub-action")
    expect(sub_action).to_have_value("pushToService")

    sub_action.select_option(label="createAlert — Create alert")
    expect(page.get_by_label("Source reference")).to_be_visible()
    page.get_by_label("Title").fill("Browser alert")
    page.get_by_label("Source reference").fill("browser-1")
    severity = page.get_by_label("Severity", exact=True)
    expect(severity).to_have_value("2")  # MEDIUM, as Kibana's form starts
    severity.select_option(label="CRITICAL")
    page.get_by_label("TLP").select_option(label="RED")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    alert = hive.to("POST", "/api/v1/alert")[-1].json
    assert (alert["title"], alert["sourceRef"], alert["severity"], alert["tlp"]) == ("Browser alert", "browser-1", 4, 4)
    assert hive.alerts[-1]["tlpLabel"] == "RED" and hive.alerts[-1]["severityLabel"] == "CRITICAL"


@drives_browser
def test_create_a_case_from_the_test_pane_with_high_and_green(page: Page, live: LiveServer, hive: FakeTheHive):
    cid = post_create(page, live, ".thehive", hive_fields(hive.url, name="TheHive case e2e"))
    page.goto(f"{live.url}/connectors/{cid}")

    case = page.get_by_role("group", name="Case")
    case.get_by_label("Title").fill("Case from the browser")
    case.get_by_label("Severity").select_option(label="HIGH")
    case.get_by_label("TLP").select_option(label="GREEN")
    case.get_by_label("Tags").fill("browser, e2e")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    (created,) = [c for c in hive.cases.values() if c["title"] == "Case from the browser"]
    assert (created["severity"], created["tlp"], created["tags"]) == (3, 1, ["browser", "e2e"])
    expect(page.locator("#test-result")).to_contain_text(f"/cases/{created['_id']}/details")


def _iso(millis: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
