"""The `.servicenow-itom` type against the fake ServiceNow instance: events for Event Management, posted as
Kibana posts them (no empty fields, the time of event in ServiceNow's GMT format), its severity picker,
and Kibana's "Unable to add event" errors."""

from __future__ import annotations

import html
import logging
import socket

import pytest

from app.types.kit import GENERIC_ERROR
from tests.api_client import Api
from tests.fakes.servicenow import (
    CLIENT_ID,
    CLIENT_SECRET,
    JWT_KEY_ID,
    PASSWORD,
    USER_IDENTIFIER,
    USERNAME,
    FakeServiceNow,
    key_pair,
)
from tests.helpers import assert_secret_kept_out, create_via_form, events

EVENTS = "/api/global/em/jsonv2"
PREFIX = "[Action][ServiceNow]: "


@pytest.fixture
def sn():
    with FakeServiceNow() as fake:
        yield fake


def form_fields(url: str, password: str = PASSWORD, name: str = "itom") -> dict:
    return {"name": name, "config.apiUrl": url, "config.isOAuth": ["false"],
            "secrets.username": USERNAME, "secrets.password": password}


def run(app, url: str, sub_action: str = "addEvent", secrets: dict | None = None, **params) -> dict:
    api = Api.with_key(app)
    body = {"name": "itom", "connector_type_id": ".servicenow-itom", "config": {"apiUrl": url},
            "secrets": secrets or {"username": USERNAME, "password": PASSWORD}}
    cid = api.created(body)["id"]
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def test_the_test_pane_sends_an_event_without_its_empty_fields(app, web, sn):
    cid = create_via_form(web, ".servicenow-itom", form_fields(sn.url))

    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "addEvent", "params.sub.source": "Elastic",
        "params.sub.node": "web-01", "params.sub.severity": "1", "params.sub.message_key": "rule-1:alert-1",
        "params.sub.time_of_event": "2026-12-07T10:30:00+01:00"}).get_data(as_text=True))

    (sent,) = sn.received
    assert (sent.method, sent.path) == ("POST", EVENTS)
    assert sent.json == {"records": [{"source": "Elastic", "node": "web-01", "severity": "1",
                                      "message_key": "rule-1:alert-1", "time_of_event": "2026-12-07 09:30:00"}]}
    assert 'data-status="ok"' in page
    assert (events(app)[-1].sub_action, events(app)[-1].status) == ("addEvent", "ok")


def test_an_event_through_the_api_answers_nothing_and_keeps_kibanas_default_message_key(app, sn):
    result = run(app, sn.url, description="CPU at 99%")

    assert (result["status"], result["data"]) == ("ok", {})
    assert sn.events == [{"description": "CPU at 99%", "message_key": "{{rule.id}}:{{alert.id}}"}]


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2026-12-07T09:30:00Z", "2026-12-07 09:30:00"),
        ("1765099800000", "2025-12-07 09:30:00"),
        ("Mon, 07 Dec 2026 09:30:00 GMT", "2026-12-07 09:30:00"),
        ("  ", None),
        ("yesterday at noon", None),
    ],
)
def test_the_time_of_event_is_sent_as_servicenows_gmt_time_or_not_at_all(app, sn, given, sent):
    run(app, sn.url, time_of_event=given)

    assert sn.events[-1].get("time_of_event") == sent


def test_the_severity_picker_lists_event_managements_severities(app, web, sn):
    cid = create_via_form(web, ".servicenow-itom", form_fields(sn.url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))

    response = web.post("/types/.servicenow-itom/choices", htmx=True,
                        data={"choices_for": "params-sub-severity", "choices_name": "params.sub.severity"},
                        headers={"HX-Current-URL": f"http://localhost/connectors/{cid}"})

    assert 'hx-post="/types/.servicenow-itom/choices"' in detail
    page = html.unescape(response.get_data(as_text=True))
    assert "Critical (1)" in page and "OK (5)" in page and "3 choices listed." in page
    assert sn.received[-1].args["sysparm_query"] == "name=task^ORname=em_event^element=severity^language=en"


def test_a_wrong_password_is_unable_to_add_event_with_no_request_context(app, sn):
    result = run(app, sn.url, secrets={"username": USERNAME, "password": "wrong"}, source="x")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, False)
    assert result["service_message"] == (
        f"{PREFIX}Unable to add event. Error: Request failed with status code 401 Reason: User Not Authenticated: "
        "Required to provide Auth information")


def test_throttling_and_outages_ask_for_a_retry(app, sn):
    sn.throttle(retry_after="120")
    throttled = run(app, sn.url, source="x")
    sn.outage()
    down = run(app, sn.url, source="x")

    assert isinstance(throttled["retry"], str) and throttled["retry"].endswith("Z")
    assert "status code 429 Reason: Rate limit exceeded" in throttled["service_message"]
    assert down["retry"] is True and "status code 500" in down["service_message"]


def test_a_refused_connection_is_worth_a_retry(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    result = run(app, f"http://127.0.0.1:{port}", source="x")

    assert result["retry"] is True and result["service_message"].startswith(f"{PREFIX}Unable to add event. Error: ")


def test_itom_has_no_table_api_switch_and_no_incidents(app, sn):
    api = Api.with_key(app)
    refused = api.create({"name": "itom", "connector_type_id": ".servicenow-itom",
                          "config": {"apiUrl": sn.url, "usesTableApi": False},
                          "secrets": {"username": USERNAME, "password": PASSWORD}})
    pushed = run(app, sn.url, "pushToService", incident={"short_description": "x"})

    assert refused.status_code == 400 and "usesTableApi" in refused.get_json()["message"]
    assert pushed["message"].startswith('Sub action "pushToService" is not registered.')
    assert sn.received == []


def test_oauth_events_carry_the_token(app):
    pem, public = key_pair()
    with FakeServiceNow(public_key=public) as sn:
        api = Api.with_key(app)
        cid = api.created({"name": "itom", "connector_type_id": ".servicenow-itom",
                           "config": {"apiUrl": sn.url, "isOAuth": True, "clientId": CLIENT_ID, "jwtKeyId": JWT_KEY_ID,
                                      "userIdentifierValue": USER_IDENTIFIER},
                           "secrets": {"clientSecret": CLIENT_SECRET, "privateKey": pem}})["id"]
        result = api.execute(cid, {"subAction": "addEvent", "subActionParams": {"source": "x"}}).get_json()

        assert result["status"] == "ok"
        assert sn.received_at(EVENTS)[0].headers["Authorization"].startswith("Bearer ")
        assert sn.grants[0].claims["sub"] == USER_IDENTIFIER


def test_the_password_is_kept_out_and_a_blank_one_on_edit_keeps_it(app, web, sn, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".servicenow-itom", form_fields(sn.url))
    web.post(f"/connectors/{cid}/edit", data=form_fields(sn.url, password="", name="renamed"))
    sn.answer_next(400, {"error": {"message": f"Invalid password {PASSWORD}", "detail": None}, "status": "failure"})

    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.subAction": "addEvent", "params.sub.source": "x"}).get_data(as_text=True))

    assert "Invalid password ••••••" in page
    assert_secret_kept_out(app, web, PASSWORD, cid, page, log=caplog.text)


def test_servicenow_itom_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".servicenow-itom"] == {
        **types[".servicenow-itom"], "name": "ServiceNow ITOM", "minimum_license_required": "platinum",
        "supported_feature_ids": ["alerting", "siem", "workflows"],
    }
