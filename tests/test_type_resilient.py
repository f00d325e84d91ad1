"""The `.resilient` type end to end, against the fake IBM Resilient: pushToService creates an incident (or
updates one from a change-set read against it) and adds the comments; the pickers list incident types and
severities; every failure reads as Kibana's `[Action][IBM Resilient]: Unable to … Error: …`."""

from __future__ import annotations

import base64
import html
import logging
import re
import socket
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from werkzeug.datastructures import MultiDict

from app.settings import OutboundSettings
from app.types import get_type
from app.types.fields import form_fields as model_fields
from app.types.kit import EXAMPLE_CASE, GENERIC_ERROR
from app.web.forms import read_section
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.resilient import KEY_ID, KEY_SECRET, ORG_ID, FakeResilient
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

RESILIENT = get_type(".resilient")
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()


@pytest.fixture
def resilient():
    with FakeResilient() as fake:
        yield fake


def form_fields(url: str, *, secret: str = KEY_SECRET, name: str = "soar", org: str = ORG_ID) -> dict:
    return {"name": name, "config.apiUrl": url, "config.orgId": org, "secrets.apiKeyId": KEY_ID,
            "secrets.apiKeySecret": secret}


def api_connector(api: Api, url: str, *, secret: str = KEY_SECRET, org: str = ORG_ID) -> str:
    body = {"name": "soar", "connector_type_id": ".resilient", "config": {"apiUrl": url, "orgId": org},
            "secrets": {"apiKeyId": KEY_ID, "apiKeySecret": secret}}
    return api.created(body)["id"]


def push(api: Api, cid: str, comments=None, **incident):
    params = {"subAction": "pushToService",
              "subActionParams": {"incident": {"name": "Phishing wave", **incident}, "comments": comments}}
    return api.execute(cid, params).get_json()


def run(app, url: str, sub_action: str, params: dict | None = None, **connector) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, url, **connector)
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params or {}}).get_json()


def pane(web, cid: str, **fields) -> str:
    """The test pane's pushToService form as a person fills it in."""
    data = {"params.__present": "1", "params.subAction": "pushToService", "params.sub.incident.name": "Phishing wave"}
    data.update({f"params.sub.incident.{k}": v for k, v in fields.items()})
    response = web.post(f"/connectors/{cid}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error(doing: str, detail: str) -> str:
    return f"[Action][IBM Resilient]: {doing}. Error: {detail}."


# ---- pushToService: create ------------------------------------------------------------------------------


def test_the_test_pane_creates_an_incident_with_basic_auth_and_kibanas_body(app, web, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url))
    before = int(datetime.now(UTC).timestamp() * 1000)

    page = pane(web, cid, description="<b>Users</b> got mail", incidentTypes=["19", "1001"], severityCode="6")
    comment = web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "pushToService", "params.sub.incident.name": "With a comment",
        "params.sub.comments": "Seen on web-01"})

    got = resilient.received[0]
    assert (got.method, got.path) == ("POST", f"/rest/orgs/{ORG_ID}/incidents")
    assert resilient.full_paths[0] == f"/rest/orgs/{ORG_ID}/incidents?text_content_output_format=objects_convert"
    assert got.headers["Authorization"] == BASIC
    assert got.headers["Content-Type"] == "application/json"
    body = got.json
    assert body["discovered_date"] >= before
    assert body == {"name": "Phishing wave", "discovered_date": body["discovered_date"],
                    "description": {"format": "html", "content": "<b>Users</b> got mail"},
                    "incident_type_ids": [{"id": 19}, {"id": 1001}], "severity_code": {"id": 6}}
    incident_id, commented_id = resilient.incidents
    assert 'data-status="ok"' in page
    assert f'"url": "{resilient.url}/#incidents/{incident_id}"' in page
    assert '"commentId": "1"' in html.unescape(comment.get_data(as_text=True))
    assert resilient.comments[commented_id][0]["text"] == {"format": "text", "content": "Seen on web-01"}
    assert KEY_SECRET not in page and "Authorization" in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status, event.http_status) == (
        ".resilient", "pushToService", "ok", 200)


def test_push_through_the_api_answers_kibanas_incident_response_with_the_comments(app, resilient):
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url + "/")

    result = push(api, cid, comments=[{"commentId": "c-1", "comment": "Seen on web-01"},
                                      {"commentId": "c-2", "comment": "Blocked"}])

    assert result["status"] == "ok", result
    (incident_id,) = resilient.incidents
    created = resilient.incidents[incident_id]["create_date"]
    pushed = datetime.fromtimestamp(created / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert result["data"] == {
        "id": str(incident_id), "title": str(incident_id), "pushedDate": pushed,
        "url": f"{resilient.url}/#incidents/{incident_id}",
        "comments": [{"commentId": "c-1", "pushedDate": pushed}, {"commentId": "c-2", "pushedDate": pushed}],
    }
    posted = [r for r in resilient.received if r.path.endswith("/comments")]
    assert [r.path for r in posted] == [f"/rest/orgs/{ORG_ID}/incidents/{incident_id}/comments"] * 2
    assert [r.json for r in posted] == [{"text": {"format": "text", "content": "Seen on web-01"}},
                                        {"text": {"format": "text", "content": "Blocked"}}]
    assert "//rest" not in " ".join(resilient.full_paths)


def test_additional_fields_go_to_the_top_level_or_under_their_prefix(app, resilient):
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = push(api, cid, additionalFields={"plan_status": "A", "affected_host": "web-01", "owner_team": 302})

    assert result["status"] == "ok", result
    fields_read, created = resilient.received[-2:]
    assert (fields_read.method, fields_read.path) == ("GET", f"/rest/orgs/{ORG_ID}/types/incident/fields")
    assert created.json["plan_status"] == "A"
    assert created.json["properties"] == {"affected_host": "web-01", "owner_team": 302}


def test_a_select_value_resilient_does_not_offer_is_refused_before_creating(app, resilient):
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = push(api, cid, additionalFields={"owner_team": 999})

    assert (result["status"], result["message"], result["retry"]) == ("error", GENERIC_ERROR, False)
    assert result["service_message"] == error(
        "Unable to create incident",
        'Invalid values provided to owner_team: [\n  999\n]. Accepted values: 301 (for "Red team"),302 (for "Blue team")')
    assert resilient.incidents == {}


# ---- pushToService: update -------------------------------------------------------------------------------


def test_an_update_sends_a_change_set_read_against_the_incident_as_it_is(app, resilient):
    incident_id = resilient.add_incident("Old name", properties={"affected_host": "db-1"})
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = push(api, cid, externalId=str(incident_id), description="Now <i>contained</i>", incidentTypes=[19],
                  severityCode=5, additionalFields={"affected_host": "db-2"})

    assert result["status"] == "ok", result
    calls = [(r.method, r.path) for r in resilient.received]
    base = f"/rest/orgs/{ORG_ID}"
    assert calls == [("GET", f"{base}/incidents/{incident_id}"), ("GET", f"{base}/types/incident/fields"),
                     ("PATCH", f"{base}/incidents/{incident_id}"), ("GET", f"{base}/incidents/{incident_id}")]
    changes = {c["field"]["name"]: (c["old_value"], c["new_value"]) for c in resilient.received[2].json["changes"]}
    assert changes == {
        "affected_host": ({"text": "db-1"}, {"text": "db-2"}),
        "name": ({"text": "Old name"}, {"text": "Phishing wave"}),
        "description": ({"textarea": {"format": "html", "content": "Seen first."}},
                        {"textarea": {"format": "html", "content": "Now <i>contained</i>"}}),
        "incident_type_ids": ({"ids": [17]}, {"ids": [19]}),
        "severity_code": ({"id": 4}, {"id": 5}),
    }
    stored = resilient.incidents[incident_id]
    assert (stored["name"], stored["severity_code"], stored["properties"]["affected_host"]) == ("Phishing wave", 5, "db-2")
    modified = datetime.fromtimestamp(stored["inc_last_modified_date"] / 1000, UTC)
    assert result["data"] == {"id": str(incident_id), "title": str(incident_id),
                              "pushedDate": modified.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                              "url": f"{resilient.url}/#incidents/{incident_id}"}


def test_an_update_resilient_refuses_says_why(app, resilient):
    incident_id = resilient.add_incident("Old name")
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)
    resilient.answer_next(200, dict(resilient.incidents[incident_id]))  # what Switchboard reads first…
    resilient.incidents[incident_id]["name"] = "Renamed meanwhile"  # …is changed before its update arrives

    result = push(api, cid, externalId=str(incident_id))

    assert result["status"] == "error"
    assert result["service_message"] == error(
        f"Unable to update incident with id {incident_id}",
        "Error while updating incident: Field 'name' was changed by someone else.")
    assert result["retry"] is False
    assert resilient.incidents[incident_id]["name"] == "Renamed meanwhile"


def test_updating_an_incident_that_is_gone_names_the_read_that_failed(app, resilient):
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = push(api, cid, externalId="4242")

    assert result["service_message"] == error(
        "Unable to update incident with id 4242",
        error("Unable to get incident with id 4242",
              "Status code: 404. Message: API Error: Incident with ID 4242 not found."))
    assert result["retry"] is False


# ---- the other sub-actions -------------------------------------------------------------------------------


def test_incident_types_and_severities_are_listed_as_kibana_answers_them(app, resilient):
    types = run(app, resilient.url, "incidentTypes")
    severities = run(app, resilient.url, "severity")

    assert types["data"] == [{"id": "17", "name": "Communication error (fax; email)"}, {"id": "19", "name": "Malware"},
                             {"id": "1001", "name": "Custom type"}]
    assert severities["data"] == [{"id": "4", "name": "Low"}, {"id": "5", "name": "Medium"}, {"id": "6", "name": "High"}]
    assert [r.path for r in resilient.received] == [
        f"/rest/orgs/{ORG_ID}/types/incident/fields/incident_type_ids",
        f"/rest/orgs/{ORG_ID}/types/incident/fields/severity_code"]


def test_get_fields_describes_each_field_and_get_incident_reads_one(app, resilient):
    incident_id = resilient.add_incident("Read me")

    fields = run(app, resilient.url, "getFields")["data"]
    incident = run(app, resilient.url, "getIncident", {"id": str(incident_id)})["data"]

    assert {f["name"]: f["prefix"] for f in fields}["affected_host"] == "properties"
    assert set(fields[0]) == {"name", "input_type", "read_only", "required", "text", "prefix", "values"}
    assert (incident["id"], incident["name"]) == (incident_id, "Read me")
    assert resilient.full_paths[-1].endswith(f"/incidents/{incident_id}?text_content_output_format=objects_convert")


# ---- errors ----------------------------------------------------------------------------------------------


def test_a_wrong_key_is_an_unauthorized_api_error_and_final(app, web, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url, secret="not-the-secret"))

    page = pane(web, cid)

    assert GENERIC_ERROR in page
    assert error("Unable to create incident", "Status code: 401. Message: Unauthorized API Error") in page
    event = events(app)[-1]
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_another_organization_is_refused_in_resilients_own_words(app, resilient):
    result = run(app, resilient.url, "incidentTypes", org="999")

    assert result["service_message"] == error(
        "Unable to get incident types", "Status code: 403. Message: API Error: User is not a member of organization 999.")
    assert result["retry"] is False


def test_throttling_is_retried_at_the_time_resilient_gives(app, resilient):
    resilient.throttle(retry_after="Wed, 21 Oct 2037 07:28:00 GMT")

    result = run(app, resilient.url, "severity")

    assert result["service_message"] == error(
        "Unable to get severity", "Status code: 429. Message: API Error: Too many requests, slow down.")
    assert result["retry"] == "2037-10-21T07:28:00Z"


def test_a_server_error_asks_for_a_retry(app, resilient):
    resilient.outage(503)

    result = run(app, resilient.url, "getFields")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == error(
        "Unable to get fields", "Status code: 503. Message: API Error: The server is temporarily unavailable.")


def test_an_error_without_a_message_names_the_status_reason(app, resilient):
    resilient.answer_next(502, "<html>Bad gateway</html>")

    result = run(app, resilient.url, "getFields")

    assert result["service_message"] == error("Unable to get fields", "Status code: 502. Message: API Error: Bad Gateway")


def test_a_refused_connection_is_an_unknown_api_error_worth_retrying(app, web):
    cid = create_via_form(web, ".resilient", form_fields(f"http://127.0.0.1:{free_port()}"))

    page = pane(web, cid)

    assert error("Unable to create incident", "Status code: undefined. Message: Unknown API Error") in page
    assert events(app)[-1].retry == "true"


def test_an_answer_without_the_new_incidents_id_fails_response_validation(app, resilient):
    resilient.answer_next(200, {"name": "created?"})

    api = Api.with_key(app)
    result = push(api, api_connector(api, resilient.url))

    assert result["service_message"].startswith(
        "[Action][IBM Resilient]: Unable to create incident. Error: Response validation failed ([id]")
    assert result["retry"] is False


# ---- params and settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "detail"),
    [
        ({"name": "x", "additionalFields": {"name": "y"}},
         "[incident.additionalFields]: The following properties cannot be defined inside additionalFields: name."),
        ({"name": "x", "additionalFields": {f"f{i}": i for i in range(51)}},
         "[incident.additionalFields]: A maximum of 50 fields in additionalFields can be defined at a time."),
        ({"description": "no name"}, "[incident.name]: Field required"),
        ({"name": "x", "severityCode": "high"}, "[incident.severityCode]: Input should be a valid integer"),
    ],
)
def test_params_kibana_refuses_are_refused_before_any_call(app, resilient, incident, detail):
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = api.execute(cid, {"subAction": "pushToService", "subActionParams": {"incident": incident}}).get_json()

    assert result["status"] == "error"
    assert result["message"].startswith(f"Request validation failed ({detail}")
    assert resilient.received == []


def test_ids_given_as_text_are_read_as_numbers(app, resilient):
    api = Api.with_key(app)
    result = push(api, api_connector(api, resilient.url), incidentTypes=["17"], severityCode="4",
                  additionalFields='{"affected_host": "web-9"}')

    assert result["status"] == "ok", result
    sent = resilient.received[-1].json
    assert (sent["incident_type_ids"], sent["severity_code"], sent["properties"]) == (
        [{"id": 17}], {"id": 4}, {"affected_host": "web-9"})


def test_a_url_outside_the_allowed_hosts_is_refused_with_the_frameworks_prefix(tmp_path, resilient):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("resilient.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.resilient", data=form_fields(resilient.url))

    assert response.status_code == 422
    assert ('error validating url: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))


def test_the_connector_keeps_its_key_out_of_config_and_a_blank_secret_keeps_the_stored_one(app, web, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url, name="SOAR"))
    (connector,) = connectors(app)
    assert connector.config == {"apiUrl": resilient.url, "orgId": ORG_ID}
    assert connector.secret_fields == {"apiKeyId": True, "apiKeySecret": True}

    edit = web.post(f"/connectors/{cid}/edit", data={**form_fields(resilient.url, secret="", name="renamed")})
    pane(web, cid)

    assert edit.status_code == 303
    assert resilient.received[-1].headers["Authorization"] == BASIC
    assert connectors(app)[0].name == "renamed"


def test_the_secret_is_sent_but_never_shown_even_when_resilient_echoes_it(app, web, resilient, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".resilient", form_fields(resilient.url))
    resilient.answer_next(500, {"success": False, "title": None, "message": f"Key {KEY_SECRET} is locked",
                                "hints": []})

    page = pane(web, cid)

    assert "Key •••••• is locked" in page
    assert_secret_kept_out(app, web, KEY_SECRET, cid, page, log=caplog.text)


# ---- cases -----------------------------------------------------------------------------------------------


def test_a_case_is_pushed_with_its_title_description_and_chosen_types(app, resilient):
    fields = RESILIENT.case_fields(incidentTypes=["19"], severityCode="6", additionalFields='{"affected_host": "h1"}')
    incident = RESILIENT.case_incident(EXAMPLE_CASE, fields)
    api = Api.with_key(app)
    cid = api_connector(api, resilient.url)

    result = api.execute(cid, {"subAction": "pushToService", "subActionParams": {
        "incident": {**incident, "externalId": None}, "comments": [{"commentId": "k1", "comment": "first"}]}}).get_json()

    assert result["status"] == "ok", result
    created = next(r.json for r in resilient.received if r.method == "POST" and r.path.endswith("/incidents"))
    assert (created["name"], created["description"]["content"]) == (EXAMPLE_CASE.title, EXAMPLE_CASE.description)
    assert (created["incident_type_ids"], created["severity_code"]) == ([{"id": 19}], {"id": 6})
    assert set(result["data"]) == {"id", "title", "url", "pushedDate", "comments"}


# ---- the pickers -----------------------------------------------------------------------------------------


def test_the_saved_connectors_picker_lists_incident_types_and_keeps_the_choice(app, web, viewer, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url))
    detail = web.get(f"/connectors/{cid}").get_data(as_text=True)
    assert '"stored_connector_id": "' + cid in html.unescape(detail)

    answer = viewer.post("/types/.resilient/incident-types", htmx=True, data={
        "choices_for": "params.sub.incident.incidentTypes", "stored_connector_id": cid,
        "params.sub.incident.incidentTypes": ["19"]}).get_data(as_text=True)

    options = re.findall(r'<option value="(\d+)" (selected)?', answer)
    assert options == [("17", ""), ("19", "selected"), ("1001", "")]
    assert 'id="params-sub-incident-incidentTypes"' in answer and "3 incident types listed." in answer
    assert events(app)[-1].sub_action == "incidentTypes"


def test_after_a_sub_action_swap_the_picker_asks_for_the_page_it_is_on(web, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url))
    swapped = web.get("/types/.resilient/params?params.subAction=pushToService", htmx=True).get_data(as_text=True)
    assert '"stored_connector_id": ""' in html.unescape(swapped)  # the fragment does not know the page…

    answer = web.post("/types/.resilient/severity", htmx=True,  # …but htmx says where it was asked from
                      headers={"HX-Current-URL": f"http://localhost/connectors/{cid}"},
                      data={"choices_for": "params.sub.incident.severityCode", "stored_connector_id": ""})

    assert "3 severities listed." in answer.get_data(as_text=True)


def test_a_case_dialog_names_the_connector_and_gets_its_choices(web, resilient):
    cid = create_via_form(web, ".resilient", form_fields(resilient.url))

    answer = web.post("/types/.resilient/incident-types", htmx=True, headers={"HX-Current-URL": "http://localhost/cases/7"},
                      data={"choices_for": "fields.incidentTypes", "stored_connector_id": "", "connector_id": cid})

    assert "3 incident types listed." in answer.get_data(as_text=True)
    assert 'name="fields.incidentTypes"' in answer.get_data(as_text=True)


def test_the_form_picker_asks_with_the_unsaved_values_and_only_for_admins(web, viewer, resilient):
    data = {**form_fields(resilient.url), "choices_for": "params.sub.incident.severityCode",
            "stored_connector_id": ""}

    answer = web.post("/types/.resilient/severity", data=data, htmx=True).get_data(as_text=True)
    refused = viewer.post("/types/.resilient/severity", data=data, htmx=True)

    assert re.findall(r'<option value="(\d*)"', answer) == ["", "4", "5", "6"]
    assert refused.status_code == 403


def test_a_picker_that_cannot_list_says_why(web, resilient):
    data = {**form_fields(resilient.url, secret="wrong"), "choices_for": "fields.severityCode"}

    answer = html.unescape(web.post("/types/.resilient/severity", data=data, htmx=True).get_data(as_text=True))

    assert error("Unable to get severity", "Status code: 401. Message: Unauthorized API Error") in answer
    assert 'class="error-text"' in answer


def test_the_case_fields_pickers_read_what_a_person_chose(app):
    fields = model_fields(RESILIENT.case_fields)
    form = MultiDict([("fields.incidentTypes", "19"), ("fields.incidentTypes", "1001"), ("fields.severityCode", "6")])

    with app.test_request_context():
        section = read_section(fields, form, "fields")

    assert section.errors == {}
    chosen = RESILIENT.case_fields.model_validate(section.data)
    assert (chosen.incidentTypes, chosen.severityCode, chosen.additionalFields) == (["19", "1001"], "6", None)


@drives_browser
def test_a_push_from_the_test_pane_uses_the_incident_types_and_severity_picked_from_resilient(
    page: Page, live: LiveServer, resilient: FakeResilient
):
    cid = post_create(page, live, ".resilient", form_fields(resilient.url, name="SOAR in a browser"))
    page.goto(f"{live.url}/connectors/{cid}")
    expect(page.get_by_label("Sub-action")).to_have_value("pushToService")
    page.locator("#params-sub-incident-name").fill("Picked in a browser")

    page.get_by_role("button", name="List incident types").click()
    types = page.get_by_label("Incident types")
    expect(types.locator("option")).to_have_count(3)
    expect(page.locator("#params-sub-incident-incidentTypes-status")).to_have_text("3 incident types listed.")
    types.select_option(["19", "1001"])
    page.get_by_role("button", name="List severities").click()
    severity = page.get_by_label("Severity")
    expect(severity.locator("option")).to_have_count(4)
    severity.select_option(label="High")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    (incident_id,) = resilient.incidents
    created = resilient.incidents[incident_id]
    assert (created["name"], created["incident_type_ids"], created["severity_code"]) == (
        "Picked in a browser", [19, 1001], 6)
    runs = page.request.get(f"{live.url}/connectors/{cid}/events")
    assert runs.ok and "pushToService" in runs.text()
