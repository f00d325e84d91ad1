"""The `.xsoar` type end to end, against a fake XSOAR (on-premises and cloud): `run` posts the incident with
the body's keys under the explicit fields, `getPlaybooks` lists what the test pane's picker offers; the key
(and for cloud its id) authenticates every call, and failures come back in Kibana's words."""

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
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.xsoar import API_KEY, API_KEY_ID, CLOUD_PREFIX, MALWARE, PHISHING, FakeXsoar
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

XSOAR = get_type(".xsoar")
INCIDENT = {"name": "Suspicious login", "createInvestigation": False, "severity": 2}


@pytest.fixture
def xsoar():
    with FakeXsoar() as fake:
        yield fake


def xsoar_fields(url: str, key: str = API_KEY, key_id: str = "", name: str = "xsoar") -> dict:
    return {"name": name, "config.url": url, "secrets.apiKey": key, "secrets.apiKeyID": key_id}


def run_pane(web, connector_id: str, **fields) -> str:
    """What the test pane posts for `run`; fields left out keep the form's defaults."""
    data = {"params.__present": "1", "params.subAction": "run", "params.sub.name": "Incident from the pane",
            "params.sub.severity": "2", "params.sub.createInvestigation": "false",
            **{f"params.sub.{k}": v for k, v in fields.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def api_connector(api: Api, url: str, key: str = API_KEY, key_id: str | None = None) -> str:
    body = {"name": "xsoar", "connector_type_id": ".xsoar", "config": {"url": url},
            "secrets": {"apiKey": key, "apiKeyID": key_id}}
    return api.created(body)["id"]


def run_api(app, url: str, sub_action: str = "run", params: dict | None = None, **secrets) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, url, **secrets)
    return api.execute(cid, {"subAction": sub_action, "subActionParams": INCIDENT if params is None else params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the connector ------------------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_with_both_keys_secret(app, web, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url, key_id=API_KEY_ID, name="XSOAR cloud"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "XSOAR cloud", ".xsoar")
    assert connector.config == {"url": xsoar.url}
    assert connector.secret_fields == {"apiKey": True, "apiKeyID": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"url": xsoar.url} and "secrets" not in shown


def test_blank_keys_on_edit_keep_the_stored_ones(app, web, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url, key_id=API_KEY_ID))
    assert API_KEY not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=xsoar_fields(xsoar.url, key="", key_id="", name="renamed"))
    run_pane(web, cid)

    assert edit.status_code == 303
    got = xsoar.received[-1]
    assert (got.path, got.headers["Authorization"], got.headers["x-xdr-auth-id"]) == (
        f"{CLOUD_PREFIX}/incident", API_KEY, API_KEY_ID)
    assert connectors(app)[0].name == "renamed"


def test_xsoar_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".xsoar"] == {**types[".xsoar"], "name": "XSOAR", "minimum_license_required": "platinum",
                               "supported_feature_ids": ["siem"]}


def test_a_url_outside_the_allowed_hosts_is_refused(tmp_path, xsoar):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("xsoar.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.xsoar", data=xsoar_fields(xsoar.url))

    assert response.status_code == 422
    assert ('error validating action type config: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert xsoar.received == []


# ---- run ------------------------------------------------------------------------------------------------------


def test_the_test_pane_creates_an_incident_on_premises_with_the_key_alone(app, web, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url))

    page = run_pane(web, cid, severity="0.5", createInvestigation=["false", "true"])

    (got,) = xsoar.received
    assert (got.method, got.path) == ("POST", "/incident")
    assert got.headers["Authorization"] == API_KEY and "x-xdr-auth-id" not in got.headers
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"name": "Incident from the pane", "playbookId": None, "createInvestigation": True,
                        "severity": 0.5, "isRuleSeverity": False}
    assert 'data-status="ok"' in page and "201 Created" in page
    event = events(app)[-1]
    assert (event.sub_action, event.status, event.http_status) == ("run", "ok", 201)


def test_a_key_id_means_xsoar_8_cloud_paths_and_header(app, xsoar):
    result = run_api(app, xsoar.url, key_id=API_KEY_ID)

    assert result == {**result, "status": "ok", "data": {}}
    got = xsoar.received[-1]
    assert (got.path, got.headers["x-xdr-auth-id"]) == (f"{CLOUD_PREFIX}/incident", API_KEY_ID)


def test_an_empty_key_id_is_on_premises(app, xsoar):
    result = run_api(app, xsoar.url, key_id="")

    assert result["status"] == "ok"
    assert xsoar.received[-1].path == "/incident" and "x-xdr-auth-id" not in xsoar.received[-1].headers


def test_the_body_goes_under_the_explicit_fields(app, xsoar):
    body = json.dumps({"name": "from the body", "details": "Three failed logins", "type": "Access"})

    result = run_api(app, xsoar.url, params={**INCIDENT, "playbookId": PHISHING["id"], "body": body})

    assert result["status"] == "ok"
    assert xsoar.received[-1].json == {"details": "Three failed logins", "type": "Access", "name": "Suspicious login",
                                       "playbookId": PHISHING["id"], "createInvestigation": False, "severity": 2,
                                       "isRuleSeverity": False}
    assert xsoar.incidents[-1]["playbookId"] == PHISHING["id"]


def test_a_body_that_is_not_json_is_refused_in_kibanas_words_before_any_call(app, xsoar):
    result = run_api(app, xsoar.url, params={**INCIDENT, "body": "{details: 1}"})

    assert (result["status"], result["message"], result["retry"]) == ("error", GENERIC_ERROR, False)
    assert result["service_message"].startswith("Error parsing alert body for xSOAR: SyntaxError: ")
    assert xsoar.received == []


def test_the_prefilled_test_params_run(app, web, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '<option value="run" selected>' in detail and "Switchboard test incident" in detail

    result = Api.with_key(app).execute(cid, XSOAR.test_params).get_json()

    assert result["status"] == "ok"
    assert xsoar.received[-1].json["severity"] == 0


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"createInvestigation": False, "severity": 2}, "[name]: Field required"),
        ({"name": "n", "severity": 2}, "[createInvestigation]: Field required"),
        ({**INCIDENT, "severity": 7}, "[severity]: Input should be 0, 0.5, 1, 2, 3 or 4"),
        ({**INCIDENT, "isRelatedIncident": True}, "[isRelatedIncident]: Extra inputs are not permitted"),
    ],
)
def test_params_that_do_not_validate_are_refused_before_any_call(app, xsoar, params, detail):
    result = run_api(app, xsoar.url, params=params)

    assert result["status"] == "error"
    assert result["message"].startswith(f"Request validation failed ({detail}")
    assert xsoar.received == []


def test_a_severity_given_as_text_is_read_as_its_number(app, xsoar):
    result = run_api(app, xsoar.url, params={**INCIDENT, "severity": "4"})

    assert result["status"] == "ok" and xsoar.received[-1].json["severity"] == 4


# ---- getPlaybooks --------------------------------------------------------------------------------------------


def test_get_playbooks_answers_xsoars_search_as_it_came(app, xsoar):
    result = run_api(app, xsoar.url, "getPlaybooks", {})

    assert result["status"] == "ok"
    assert [(p["id"], p["name"]) for p in result["data"]["playbooks"]] == [(p["id"], p["name"]) for p in xsoar.playbooks]
    assert result["data"]["total"] == 3
    got = xsoar.received[-1]
    assert (got.method, got.path, got.json) == ("POST", "/playbook/search", {})


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"total": 0}, "[playbooks]: expected value of type [array] but got [undefined]"),
        ({"playbooks": [{"id": 1, "name": "n"}]}, "[playbooks.0.id]: expected value of type [string]"),
        ("<html>maintenance</html>", "Response is not a valid JSON"),
    ],
)
def test_a_playbook_answer_kibana_cannot_read_is_not_a_success(app, xsoar, answer, detail):
    xsoar.answer_next(200, answer)

    result = run_api(app, xsoar.url, "getPlaybooks", {})

    assert (result["status"], result["retry"]) == ("error", False)
    assert result["service_message"] == f"Response validation failed ({detail})"


# ---- errors: the status text, whatever XSOAR says -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "reason", "retry"),
    [
        ("wrong key", 401, "Unauthorized", False),
        ("wrong key id", 401, "Unauthorized", False),
        ("wrong path", 404, "Not Found", False),
        ("outage", 500, "Internal Server Error", True),
    ],
)
def test_an_api_error_names_the_status_and_its_text(app, xsoar, fault, status, reason, retry):
    url, secrets = xsoar.url, {}
    if fault == "wrong key":
        secrets = {"key": "not-the-key"}
    elif fault == "wrong key id":
        secrets = {"key_id": "99"}
    elif fault == "wrong path":
        url = xsoar.url + "/acc_tenant"
    else:
        xsoar.outage()

    result = run_api(app, url, **secrets)

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": retry,
                      "service_message": f"Status code: {status}. Message: API Error: {reason}"}


def test_throttling_asks_for_a_retry(app, web, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url))
    xsoar.throttle()

    page = run_pane(web, cid)

    # Kibana's sub-action framework reads no Retry-After: the task's own backoff decides when.
    assert "Status code: 429. Message: API Error: Too Many Requests" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", 429)


def test_a_refused_connection_shows_the_error_and_is_worth_retrying(app, web):
    cid = create_via_form(web, ".xsoar", xsoar_fields(f"http://127.0.0.1:{free_port()}"))

    page = run_pane(web, cid)

    assert GENERIC_ERROR in page
    assert "Status code: undefined. Message: Error: connection to http://127.0.0.1:" in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("true", None)


# ---- secrets --------------------------------------------------------------------------------------------------


def test_the_keys_are_sent_but_never_shown_in_pages_logs_or_events(app, web, xsoar, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url, key_id=API_KEY_ID))
    xsoar.answer_next(500, {"id": "bad", "status": 500, "title": "Internal Server Error",
                            "detail": f"key {API_KEY} revoked", "error": f"key {API_KEY} revoked"})  # echoes it

    page = run_pane(web, cid)
    listed = web.post("/types/.xsoar/playbooks", data=xsoar_fields(xsoar.url, key_id=API_KEY_ID), htmx=True)

    assert [r.headers["Authorization"] for r in xsoar.received] == [API_KEY, API_KEY]
    assert "x-xdr-auth-id" in page  # header names are shown
    assert "key •••••• revoked" in page
    assert_secret_kept_out(app, web, API_KEY, cid, page, listed.get_data(as_text=True), log=caplog.text)


# ---- the playbook picker --------------------------------------------------------------------------------------


def test_the_picker_lists_playbooks_with_the_forms_unsaved_values(app, web, xsoar):
    response = web.post("/types/.xsoar/playbooks", htmx=True,
                        data={**xsoar_fields(xsoar.url), "params.sub.playbookId": MALWARE["id"]})

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert f'<option value="{MALWARE["id"]}" selected>{MALWARE["name"]}</option>' in page
    assert f'<option value="{PHISHING["id"]}" >{PHISHING["name"]}</option>' in page
    assert "3 playbooks listed." in page
    assert events(app)[-1].sub_action == "getPlaybooks"  # through the one execution path


def test_the_picker_on_a_saved_connector_uses_its_stored_keys_even_for_a_viewer(app, web, viewer, xsoar):
    cid = create_via_form(web, ".xsoar", xsoar_fields(xsoar.url))

    page = viewer.post("/types/.xsoar/playbooks", data={"xsoar.connector": cid}, htmx=True).get_data(as_text=True)

    assert "3 playbooks listed." in page
    assert xsoar.received[-1].headers["Authorization"] == API_KEY


def test_a_viewer_cannot_list_playbooks_with_typed_in_keys(viewer, xsoar):
    response = viewer.post("/types/.xsoar/playbooks", data=xsoar_fields(xsoar.url), htmx=True)

    assert response.status_code == 403
    assert xsoar.received == []


def test_the_picker_says_why_there_are_no_playbooks(web, xsoar):
    page = html.unescape(web.post("/types/.xsoar/playbooks", htmx=True,
                                  data=xsoar_fields(xsoar.url, key="wrong")).get_data(as_text=True))

    assert "Error retrieving playbooks from XSOAR." in page
    assert "Status code: 401. Message: API Error: Unauthorized" in page


def test_a_saved_playbook_xsoar_no_longer_has_is_flagged(web, xsoar):
    page = web.post("/types/.xsoar/playbooks", htmx=True,
                    data={**xsoar_fields(xsoar.url), "params.sub.playbookId": "deleted-playbook"}).get_data(as_text=True)

    assert "Cannot find the saved playbook" in page


@drives_browser
def test_pick_a_playbook_from_xsoar_then_run_the_test(page: Page, live: LiveServer, xsoar: FakeXsoar):
    cid = post_create(page, live, ".xsoar", xsoar_fields(xsoar.url, name="XSOAR e2e"))
    page.goto(f"{live.url}/connectors/{cid}")
    expect(page.get_by_label("Sub-action")).to_have_value("run")

    page.get_by_role("button", name="List playbooks").click()
    picker = page.get_by_label("XSOAR Playbooks")
    expect(picker.locator("option")).to_have_count(4)
    picker.select_option(label=MALWARE["name"])
    page.get_by_label(re.compile(r"^Severity")).select_option(label="High")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    sent = xsoar.received[-1].json
    assert (sent["playbookId"], sent["severity"], sent["name"]) == (MALWARE["id"], 3, "Switchboard test incident")
    assert xsoar.incidents[-1]["playbookId"] == MALWARE["id"]
