"""The `.servicenow-sir` (SecOps) type against the fake ServiceNow instance: security incidents in
`sn_si_incident`, their observables added through the Elastic app's bulk endpoint (or joined into the
record on the legacy Table API), cases pushed with Kibana's SIR format, and its own pickers."""

from __future__ import annotations

import html
import logging

import pytest

from app.types import get_type
from app.types.kit import EXAMPLE_CASE, GENERIC_ERROR
from tests.api_client import Api
from tests.fakes.servicenow import PASSWORD, USERNAME, FakeServiceNow, error_body
from tests.helpers import assert_secret_kept_out, create_via_form, events

SIR = get_type(".servicenow-sir")
IMPORT_SET = "/api/now/import/x_elas2_sir_int_elastic_si_incident"
HEALTH = "/api/x_elas2_sir_int/elastic_api/health"
TABLE = "/api/now/v2/table/sn_si_incident"
PREFIX = "[Action][ServiceNow]: "


@pytest.fixture
def sn():
    with FakeServiceNow() as fake:
        yield fake


def basic(url: str, table_api: bool = False) -> tuple[dict, dict]:
    return {"apiUrl": url, "usesTableApi": table_api}, {"username": USERNAME, "password": PASSWORD}


def run(app, config: dict, secrets: dict, sub_action: str, params: dict) -> dict:
    api = Api.with_key(app)
    body = {"name": "secops", "connector_type_id": ".servicenow-sir", "config": config, "secrets": secrets}
    cid = api.created(body)["id"]
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def push(app, config: dict, secrets: dict, incident: dict, comments=None) -> dict:
    return run(app, config, secrets, "pushToService", {"incident": incident, "comments": comments})


def form_fields(url: str, password: str = PASSWORD, name: str = "secops") -> dict:
    return {"name": name, "config.apiUrl": url, "config.isOAuth": ["false"], "config.usesTableApi": ["false"],
            "secrets.username": USERNAME, "secrets.password": password}


def test_observables_are_added_to_the_incident_after_it_is_created(app, sn):
    result = push(app, *basic(sn.url), {
        "short_description": "Malware on web-01", "priority": "1",
        "dest_ip": ["10.0.0.1", "10.0.0.2"], "source_ip": "10.0.0.2, 192.168.1.5|10.0.0.9",
        "malware_hash": "a1b2 a1b2", "malware_url": ["https://bad.example/x"],
    })

    (record,) = sn.records["sn_si_incident"].values()
    assert result["status"] == "ok" and result["data"]["id"] == record["sys_id"]
    assert result["data"]["url"] == f"{sn.url}/nav_to.do?uri=sn_si_incident.do?sys_id={record['sys_id']}"
    sent = sn.received_at(IMPORT_SET)[0].json
    assert (sent["u_short_description"], sent["u_priority"]) == ("Malware on web-01", "1")
    assert all(sent[f"u_{k}"] is None for k in ("dest_ip", "source_ip", "malware_hash", "malware_url"))
    bulk_path = f"/api/x_elas2_sir_int/elastic_api/incident/{record['sys_id']}/observables/bulk"
    assert [r.path for r in sn.received] == [HEALTH, IMPORT_SET, f"{TABLE}/{record['sys_id']}", HEALTH, bulk_path]
    assert sn.observables[record["sys_id"]] == [
        {"value": "10.0.0.1", "type": "ipv4-addr"}, {"value": "10.0.0.2", "type": "ipv4-addr"},
        {"value": "192.168.1.5", "type": "ipv4-addr"}, {"value": "10.0.0.9", "type": "ipv4-addr"},
        {"value": "a1b2", "type": "SHA256"}, {"value": "https://bad.example/x", "type": "URL"},
    ]


def test_without_observables_there_is_no_bulk_call(app, sn):
    push(app, *basic(sn.url), {"short_description": "quiet", "dest_ip": [], "malware_url": ""})

    assert not any(r.path.endswith("/observables/bulk") for r in sn.received)


def test_a_table_api_connector_joins_the_observables_into_the_record(app, sn):
    push(app, *basic(sn.url, table_api=True),
         {"short_description": "legacy", "dest_ip": ["10.0.0.1", "10.0.0.2"], "malware_hash": "abc"})

    sent = sn.received_at(TABLE)[0].json
    assert (sent["dest_ip"], sent["malware_hash"], sent["source_ip"]) == ("10.0.0.1,10.0.0.2", "abc", None)
    assert not any("observables" in r.path for r in sn.received)


def test_comments_become_work_notes_on_the_security_incident(app, sn):
    result = push(app, *basic(sn.url), {"short_description": "x"}, comments=[{"commentId": "c1", "comment": "seen"}])

    (record,) = sn.records["sn_si_incident"].values()
    assert record["work_notes"] == "seen"
    assert result["data"]["comments"] == [{"commentId": "c1", "pushedDate": result["data"]["pushedDate"]}]


def test_a_failed_observables_call_fails_the_push_in_kibanas_words(app, sn):
    sn.observables_fault = (403, error_body("Operation Failed", "ACL Exception Insert Failed due to security constraints"))

    result = push(app, *basic(sn.url), {"short_description": "x", "dest_ip": "10.0.0.1"})

    (record,) = sn.records["sn_si_incident"].values()
    assert (result["message"], result["retry"]) == (GENERIC_ERROR, False)
    assert result["service_message"] == (
        f"{PREFIX}Unable to add observables to security incident with id {record['sys_id']}. Error: Request failed "
        "with status code 403 Reason: Operation Failed: ACL Exception Insert Failed due to security constraints "
        "[status=403] [method=post] [endpoint=other]")


def test_choices_are_read_for_the_security_incident_table(app, sn):
    result = run(app, *basic(sn.url), "getChoices", {"fields": ["category", "priority"]})

    assert {(c["element"], c["value"]) for c in result["data"]} == {
        ("category", "malware"), ("category", "phishing"), ("priority", "1"), ("priority", "3")}
    assert sn.received[-1].args["sysparm_query"] == (
        "name=task^ORname=sn_si_incident^element=category^ORelement=priority^language=en")


def test_the_category_picker_lists_secops_categories_and_their_subcategories(app, web, sn):
    cid = create_via_form(web, ".servicenow-sir", form_fields(sn.url))
    headers = {"HX-Current-URL": f"http://localhost/connectors/{cid}"}

    def listed(name: str, **form) -> str:
        data = {"choices_for": name.replace(".", "-"), "choices_name": name, **form}
        response = web.post("/types/.servicenow-sir/choices", data=data, htmx=True, headers=headers)
        return html.unescape(response.get_data(as_text=True))

    categories = listed("params.sub.incident.category")
    subcategories = listed("params.sub.incident.subcategory", **{"params.sub.incident.category": "phishing"})

    assert "Malicious code activity (malware)" in categories and "Phishing (phishing)" in categories
    assert "Spear phishing (spear)" in subcategories and "Ransomware" not in subcategories


def test_a_case_is_pushed_with_kibanas_sir_format(app, sn):
    fields = SIR.case_fields(category="malware", subcategory="ransomware", priority="1", destIp=True)
    incident = SIR.case_incident(EXAMPLE_CASE, fields)

    result = push(app, *basic(sn.url), {**incident, "externalId": None})

    sent = sn.received_at(IMPORT_SET)[0].json
    assert (sent["u_short_description"], sent["u_category"], sent["u_priority"]) == (EXAMPLE_CASE.title, "malware", "1")
    assert (sent["u_correlation_id"], sent["u_correlation_display"]) == (EXAMPLE_CASE.id, "Elastic Case")
    assert result["status"] == "ok"
    assert not any("observables" in r.path for r in sn.received)  # the case's alerts carried none


def test_the_password_is_kept_out_of_pages_logs_and_events(app, web, sn, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".servicenow-sir", form_fields(sn.url))
    sn.answer_next(401, error_body(f"Bad password {PASSWORD}", None))
    edit = web.post(f"/connectors/{cid}/edit", data=form_fields(sn.url, password="", name="renamed"))

    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "pushToService",
        "params.sub.incident.short_description": "x"}).get_data(as_text=True))

    assert edit.status_code == 303
    assert "Bad password ••••••" in page
    assert sn.received[-1].headers["Authorization"].startswith("Basic ")
    assert events(app)[-1].status == "error"
    assert_secret_kept_out(app, web, PASSWORD, cid, page, log=caplog.text)


def test_servicenow_secops_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".servicenow-sir"] == {
        **types[".servicenow-sir"], "name": "ServiceNow SecOps", "minimum_license_required": "platinum",
        "supported_feature_ids": ["alerting", "cases", "siem", "workflows"],
    }
