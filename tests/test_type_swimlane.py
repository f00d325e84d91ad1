"""The `.swimlane` type end to end, against the fake Swimlane: the mappings are edited as rows in the
connector form, a push creates (or updates) a record with the values under the mapped field ids and adds the
comments to the comments field, and failures read as Kibana's `[Action][Swimlane]: Unable to … Reason: …`."""

from __future__ import annotations

import html
import logging
import re
import socket
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import EXAMPLE_CASE, GENERIC_ERROR
from tests.api_client import Api
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.swimlane import APP_ID, FIELDS, TOKEN, FakeSwimlane
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

SWIMLANE = get_type(".swimlane")
FIELD = {f["key"]: f for f in FIELDS}
ALERT_MAPPINGS = {"alertIdConfig": FIELD["alert-id"], "ruleNameConfig": FIELD["rule-name"],
                  "severityConfig": FIELD["severity"], "commentsConfig": FIELD["comments"]}
CASE_MAPPINGS = {"caseIdConfig": FIELD["case-id"], "caseNameConfig": FIELD["case-name"],
                 "descriptionConfig": FIELD["description"], "commentsConfig": FIELD["comments"]}


@pytest.fixture
def swimlane():
    with FakeSwimlane() as fake:
        yield fake


def mapping_rows(mappings: dict) -> dict:
    """The mappings as the rows of the connector form post them."""
    return {f"config.mappings.{role}.{part}": value for role, field in mappings.items() for part, value in field.items()}


def form_fields(url: str, *, token: str = TOKEN, name: str = "swimlane", connector_type: str = "all",
                mappings: dict | None = None) -> dict:
    return {"name": name, "config.apiUrl": url, "config.appId": APP_ID, "config.connectorType": connector_type,
            "secrets.apiToken": token, **mapping_rows(ALERT_MAPPINGS if mappings is None else mappings)}


def api_connector(api: Api, url: str, *, token: str = TOKEN, mappings: dict | None = None, **config) -> str:
    body = {"name": "swimlane", "connector_type_id": ".swimlane", "secrets": {"apiToken": token},
            "config": {"apiUrl": url, "appId": APP_ID, "connectorType": "all",
                       "mappings": ALERT_MAPPINGS if mappings is None else mappings, **config}}
    return api.created(body)["id"]


def push(app, url: str, incident: dict, comments=None, **connector) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, url, **connector)
    params = {"subAction": "pushToService", "subActionParams": {"incident": incident, "comments": comments}}
    return api.execute(cid, params).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failed(doing: str, status: int, error: str, reason: str = "unknown") -> str:
    return (f"[Action][Swimlane]: Unable to {doing} in application with id {APP_ID}. Status: {status}. "
            f"Error: {error}. Reason: {reason}")


def iso(date: str) -> str:
    return datetime.fromisoformat(date.replace("Z", "+00:00")).astimezone(UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


# ---- the connector form ----------------------------------------------------------------------------------


def test_mappings_typed_as_rows_are_stored_as_kibanas_config(app, web, swimlane):
    cid = create_via_form(web, ".swimlane", form_fields(swimlane.url, connector_type="alerts"))

    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()

    assert shown["config"] == {"apiUrl": swimlane.url, "appId": APP_ID, "connectorType": "alerts",
                               "mappings": ALERT_MAPPINGS}
    assert "secrets" not in shown and connectors(app)[0].secret_fields == {"apiToken": True}
    edit = html.unescape(web.get(f"/connectors/{cid}/edit").get_data(as_text=True))
    assert 'name="config.mappings.ruleNameConfig.id" value="a6sst"' in edit
    assert 'name="config.mappings.caseIdConfig.id" value=""' in edit


@pytest.mark.parametrize(
    ("connector_type", "mappings", "message"),
    [
        ("alerts", {"commentsConfig": FIELD["comments"]}, "Rule name is required. Alert ID is required."),
        ("cases", {"caseIdConfig": FIELD["case-id"]},
         "Case name is required. Description is required. Comments are required."),
    ],
)
def test_a_connector_type_needs_its_mappings_with_kibanas_messages(app, web, swimlane, connector_type, mappings,
                                                                   message):
    response = web.post("/connectors/new/.swimlane", data=form_fields(swimlane.url, connector_type=connector_type,
                                                                      mappings=mappings))
    refused = Api.with_key(app).create({"name": "s", "connector_type_id": ".swimlane", "secrets": {"apiToken": TOKEN},
                                        "config": {"apiUrl": swimlane.url, "appId": APP_ID,
                                                   "connectorType": connector_type, "mappings": mappings}})

    assert response.status_code == 422
    assert message in html.unescape(response.get_data(as_text=True))
    assert refused.status_code == 400 and message in refused.get_json()["message"]
    assert connectors(app) == []


def test_all_needs_no_mappings(app, web, swimlane):
    create_via_form(web, ".swimlane", form_fields(swimlane.url, mappings={}))

    assert connectors(app)[0].config["mappings"] == {}


def test_a_half_filled_row_is_refused_and_what_was_typed_stays(web, swimlane):
    data = {**form_fields(swimlane.url), "config.mappings.caseIdConfig.id": "a8cid"}

    response = web.post("/connectors/new/.swimlane", data=data)

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Fill in the field ID, key, name and type of Case ID, or clear the row to leave it unmapped." in page
    assert 'name="config.mappings.caseIdConfig.id" value="a8cid"' in page


def test_fill_in_from_swimlane_completes_rows_from_the_applications_fields(app, web, swimlane):
    data = {"config.apiUrl": swimlane.url, "config.appId": APP_ID, "config.connectorType": "all",
            "secrets.apiToken": TOKEN, "mappings_for": "config.mappings",
            "config.mappings.alertIdConfig.id": "a6fdf", "config.mappings.caseNameConfig.key": "case-name"}

    answer = html.unescape(web.post("/types/.swimlane/mappings", data=data, htmx=True).get_data(as_text=True))

    assert 'name="config.mappings.alertIdConfig.name" value="Alert Id"' in answer
    assert 'name="config.mappings.alertIdConfig.fieldType" value="text"' in answer
    assert 'name="config.mappings.caseNameConfig.id" value="a8cnm"' in answer
    assert 'name="config.mappings.ruleNameConfig.id" value=""' in answer
    assert '<option value="a9rsk">Risk Score (risk-score, numeric)</option>' in answer
    assert f"{len(FIELDS)} application fields listed" in answer
    (asked,) = swimlane.received
    assert (asked.method, asked.path, asked.headers["Private-Token"]) == ("GET", f"/api/app/{APP_ID}", TOKEN)
    assert events(app)[-1].status == "ok"


def test_fill_in_from_swimlane_says_why_it_cannot(web, viewer, swimlane):
    data = {"config.apiUrl": swimlane.url, "config.appId": APP_ID, "config.connectorType": "all",
            "secrets.apiToken": "wrong", "mappings_for": "config.mappings"}

    answer = html.unescape(web.post("/types/.swimlane/mappings", data=data, htmx=True).get_data(as_text=True))

    assert (f"Unable to get application with id {APP_ID}. Error: Received status: 401 when attempting to get "
            f"application with id: {APP_ID}") in answer
    assert viewer.post("/types/.swimlane/mappings", data=data, htmx=True).status_code == 403


# ---- pushToService ---------------------------------------------------------------------------------------


def test_the_test_pane_creates_a_record_with_the_values_under_the_mapped_ids(app, web, swimlane):
    cid = create_via_form(web, ".swimlane", form_fields(swimlane.url + "/"))
    incident = '{"alertId": "alert-7", "ruleName": "Brute force", "severity": "high", "caseName": "not mapped"}'

    response = web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "pushToService", "params.sub.incident": incident})

    page = html.unescape(response.get_data(as_text=True))
    got = swimlane.received[-1]
    assert (got.method, got.path) == ("POST", f"/api/app/{APP_ID}/record")
    assert (got.headers["Private-Token"], got.headers["Content-Type"]) == (TOKEN, "application/json")
    assert got.json == {"applicationId": APP_ID, "values": {"a6fdf": "alert-7", "a6sst": "Brute force",
                                                             "a7sev": "high"}}
    (record,) = swimlane.records.values()
    assert 'data-status="ok"' in page
    assert f'"url": "{swimlane.url}/record/{APP_ID}/{record["id"]}"' in page
    assert TOKEN not in page and "Private-Token" in page
    assert (events(app)[-1].sub_action, events(app)[-1].status) == ("pushToService", "ok")


def test_a_push_answers_kibanas_record_response_with_the_comments(app, swimlane):
    result = push(app, swimlane.url, {"alertId": "a-1", "ruleName": "r"},
                  comments=[{"commentId": "c1", "comment": "first"}, {"commentId": "c2", "comment": "second"}])

    assert result["status"] == "ok", result
    (record,) = swimlane.records.values()
    comments = [r for r in swimlane.received if r.path.endswith("/comment")]
    assert [r.path for r in comments] == [f"/api/app/{APP_ID}/record/{record['id']}/a6vtx/comment"] * 2
    created = comments[0].json["createdDate"]
    assert [r.json for r in comments] == [
        {"createdDate": created, "fieldId": "a6vtx", "isRichText": True, "message": "first"},
        {"createdDate": created, "fieldId": "a6vtx", "isRichText": True, "message": "second"}]
    assert result["data"] == {
        "id": record["id"], "title": record["name"], "pushedDate": iso(record["createdDate"]),
        "url": f"{swimlane.url}/record/{APP_ID}/{record['id']}",
        "comments": [{"commentId": "c1", "pushedDate": created}, {"commentId": "c2", "pushedDate": created}]}


def test_an_update_patches_the_record_named_by_external_id(app, swimlane):
    record_id = swimlane.add_record(a6fdf="alert-1")

    result = push(app, swimlane.url + "/api", {"externalId": record_id, "ruleName": "renamed"})

    got = swimlane.received[-1]
    assert (got.method, got.path) == ("PATCH", f"/api/app/{APP_ID}/record/{record_id}")
    assert got.json == {"applicationId": APP_ID, "id": record_id, "values": {"a6sst": "renamed"}}
    record = swimlane.records[record_id]
    assert result["data"] == {"id": record_id, "title": record["name"], "pushedDate": iso(record["modifiedDate"]),
                              "url": f"{swimlane.url}/api/record/{APP_ID}/{record_id}"}


@pytest.mark.parametrize(("given", "sent"), [("7", 7), (" 2.5 ", 2.5), ("high", 0), ("1e3", 1000), ("NaN", 0)])
def test_a_numeric_field_gets_a_number_and_zero_for_what_is_not_one(app, swimlane, given, sent):
    mappings = {**ALERT_MAPPINGS, "severityConfig": FIELD["risk-score"]}

    push(app, swimlane.url, {"severity": given}, mappings=mappings)

    assert swimlane.received[-1].json["values"] == {"a9rsk": sent}


def test_comments_without_a_comments_mapping_are_refused_after_the_record(app, swimlane):
    result = push(app, swimlane.url, {"alertId": "a-1"}, comments=[{"commentId": "c", "comment": "x"}],
                  mappings={"alertIdConfig": FIELD["alert-id"]})

    assert result["service_message"] == failed("create comment", 500, "No comment field mapped in Swimlane connector")
    assert len(swimlane.records) == 1


def test_a_case_is_pushed_with_its_id_title_and_description(app, swimlane):
    incident = SWIMLANE.case_incident(EXAMPLE_CASE, SWIMLANE.case_fields())

    result = push(app, swimlane.url, {**incident, "externalId": None}, mappings=CASE_MAPPINGS,
                  comments=[{"commentId": "k1", "comment": "from the case"}])

    assert result["status"] == "ok", result
    created = next(r.json for r in swimlane.received if r.path.endswith("/record"))
    assert created["values"] == {"a8cid": EXAMPLE_CASE.id, "a8cnm": EXAMPLE_CASE.title,
                                 "a9dsc": EXAMPLE_CASE.description}
    assert SWIMLANE.case_incident(EXAMPLE_CASE, SWIMLANE.case_fields(caseId="SIR-9"))["caseId"] == "SIR-9"


# ---- errors ----------------------------------------------------------------------------------------------


def test_a_wrong_token_names_swimlanes_reason_and_is_final(app, web, swimlane):
    cid = create_via_form(web, ".swimlane", form_fields(swimlane.url, token="not-the-token"))

    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "pushToService",
        "params.sub.incident": '{"alertId": "a"}'}).get_data(as_text=True))

    assert GENERIC_ERROR in page
    assert failed("create record", 401, "Request failed with status code 401", "Private-Token (1001)") in page
    assert (events(app)[-1].retry, events(app)[-1].http_status) == ("false", 401)


def test_a_value_under_a_field_the_application_lacks(app, swimlane):
    mappings = {"alertIdConfig": {**FIELD["alert-id"], "id": "a-gone"}}

    result = push(app, swimlane.url, {"alertId": "a-1"}, mappings=mappings)

    assert result["service_message"] == failed("create record", 400, "Request failed with status code 400",
                                               "a-gone (5008)")
    assert result["retry"] is False


def test_updating_a_record_that_is_gone(app, swimlane):
    result = push(app, swimlane.url, {"externalId": "aNope", "alertId": "a"})

    assert result["service_message"] == failed("update record", 404, "Request failed with status code 404",
                                               "aNope (3001)")


def test_throttling_is_retried_at_the_time_swimlane_gives(app, swimlane):
    swimlane.throttle(retry_after="Wed, 21 Oct 2037 07:28:00 GMT")

    result = push(app, swimlane.url, {"alertId": "a"})

    assert result["service_message"] == failed("create record", 429, "Request failed with status code 429")
    assert result["retry"] == "2037-10-21T07:28:00Z"


def test_a_server_error_asks_for_a_retry(app, swimlane):
    swimlane.outage(503)

    result = push(app, swimlane.url, {"alertId": "a"})

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == failed("create record", 503, "Request failed with status code 503")


def test_a_refused_connection_is_worth_retrying(app):
    result = push(app, f"http://127.0.0.1:{free_port()}", {"alertId": "a"})

    assert result["service_message"].startswith(f"[Action][Swimlane]: Unable to create record in application with "
                                                f"id {APP_ID}. Status: 500. Error: ")
    assert result["service_message"].endswith(". Reason: unknown")
    assert result["retry"] is True


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, "<html>ok</html>", "Unsupported content type: text/plain; charset=utf-8 in post {url}. "
                                  "Supported content types: application/json"),
        (200, {"id": "r1", "name": "SW-1"}, "Response is missing at least one of the expected fields: "
                                             "id,name,createdDate"),
    ],
)
def test_an_answer_kibana_cannot_read_fails(app, swimlane, status, body, error):
    swimlane.answer_next(status, body)

    result = push(app, swimlane.url, {"alertId": "a"})

    url = f"{swimlane.url}/api/app/{APP_ID}/record"
    assert result["service_message"] == failed("create record", 500, error.format(url=url))
    assert result["retry"] is False


def test_an_empty_token_is_kibanas_wrong_configuration(app, swimlane):
    result = push(app, swimlane.url, {"alertId": "a"}, token="")

    assert (result["message"], result["service_message"]) == (GENERIC_ERROR, "[Action]Swimlane: Wrong configuration.")
    assert swimlane.received == []


def test_params_kibana_refuses_are_refused_before_any_call(app, swimlane):
    result = push(app, swimlane.url, {"alertId": "a", "priority": "P1"})

    assert result["message"].startswith("Request validation failed ([incident.priority]: Extra inputs")
    assert swimlane.received == []


# ---- settings and secrets --------------------------------------------------------------------------------


def test_a_url_outside_the_allowed_hosts_is_refused_with_kibanas_prefix(tmp_path, swimlane):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("swimlane.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.swimlane", data=form_fields(swimlane.url))

    assert response.status_code == 422
    assert ('error configuring connector action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))


def test_a_blank_token_on_edit_keeps_the_stored_one_and_the_mappings_change(app, web, swimlane):
    cid = create_via_form(web, ".swimlane", form_fields(swimlane.url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=form_fields(swimlane.url, token="", mappings=CASE_MAPPINGS,
                                                                connector_type="cases"))
    result = Api.with_key(app).execute(cid, {"subAction": "pushToService", "subActionParams": {
        "incident": {"caseId": "C-1"}}}).get_json()

    assert edit.status_code == 303
    assert result["status"] == "ok"
    assert swimlane.received[-1].headers["Private-Token"] == TOKEN
    assert swimlane.received[-1].json["values"] == {"a8cid": "C-1"}


def test_the_token_is_sent_but_never_shown_even_when_swimlane_echoes_it(app, web, swimlane, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".swimlane", form_fields(swimlane.url))
    swimlane.answer_next(400, {"ErrorCode": 1001, "Argument": f"token {TOKEN}", "Message": f"Bad token {TOKEN}"})

    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "pushToService",
        "params.sub.incident": '{"alertId": "a"}'}).get_data(as_text=True))

    assert "Reason: token •••••• (1001)" in page
    assert_secret_kept_out(app, web, TOKEN, cid, page, log=caplog.text)


# ---- in a browser ----------------------------------------------------------------------------------------


@drives_browser
def test_mappings_edited_as_rows_are_saved_and_a_push_uses_them(page: Page, live: LiveServer, swimlane: FakeSwimlane):
    page.goto(live.url + "/connectors/new/.swimlane")
    page.locator("#name").fill("Swimlane in a browser")
    page.get_by_label("API Url").fill(swimlane.url)
    page.get_by_label("Application ID").fill(APP_ID)
    page.get_by_label("Connector Type").select_option("alerts")
    expect(page.get_by_label("Case ID: field ID")).to_be_hidden()  # Kibana's form shows an alerts connector's rows
    expect(page.get_by_label("Comments: field ID")).to_be_visible()
    page.get_by_label("API Token").fill(TOKEN)
    page.get_by_label("Alert ID: field ID").fill("a6fdf")
    page.get_by_label("Rule name: key").fill("rule-name")
    page.get_by_label("Severity: field ID").fill("a9rsk")

    page.get_by_role("button", name="Fill in from Swimlane").click()
    expect(page.locator("fieldset.swimlane-mappings [role=status]")).to_contain_text("application fields listed")
    expect(page.get_by_label("Rule name: field ID")).to_have_value("a6sst")
    expect(page.get_by_label("Severity: type")).to_have_value("numeric")
    expect(page.get_by_label("Description: field ID")).to_be_hidden()  # still, after the rows were redrawn
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    cid = page.url.rsplit("/", 1)[1]
    stored = page.request.get(f"{live.url}/api/actions/connector/{cid}").json()["config"]
    assert stored["connectorType"] == "alerts"
    assert stored["mappings"] == {"alertIdConfig": FIELD["alert-id"], "ruleNameConfig": FIELD["rule-name"],
                                  "severityConfig": FIELD["risk-score"]}

    page.get_by_label("Incident").fill('{"alertId": "alert-42", "ruleName": "Beaconing", "severity": "9"}')
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    assert swimlane.received[-1].json["values"] == {"a6fdf": "alert-42", "a6sst": "Beaconing", "a9rsk": 9}
    assert re.fullmatch(r"SW-\d+", next(iter(swimlane.records.values()))["name"])
