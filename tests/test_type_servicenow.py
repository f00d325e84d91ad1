"""The `.servicenow` (ITSM) type end to end, against the fake ServiceNow instance: incidents pushed through
the Elastic app's Import Set API (after its health check) or the legacy Table API, read back from the
table, commented as work notes and closed; basic auth or an OAuth JWT-bearer token; Kibana's error texts;
the choice pickers of the test pane."""

from __future__ import annotations

import html
import logging
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import EXAMPLE_CASE, GENERIC_ERROR
from tests.api_client import Api
from tests.browser import drives_browser
from tests.conftest import Browserish, make_app
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
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events

ITSM = get_type(".servicenow")
IMPORT_SET = "/api/now/import/x_elas2_inc_int_elastic_incident"
HEALTH = "/api/x_elas2_inc_int/elastic_api/health"
TABLE = "/api/now/v2/table/incident"
PREFIX = "[Action][ServiceNow]: "
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def keys():
    return key_pair()


@pytest.fixture
def sn(keys):
    with FakeServiceNow(public_key=keys[1]) as fake:
        yield fake


def basic_fields(url: str, *, table_api: bool = False, name: str = "sn", username: str = USERNAME,
                 password: str = PASSWORD) -> dict:
    return {"name": name, "config.apiUrl": url, "config.isOAuth": ["false"],
            "config.usesTableApi": ["false", "true"] if table_api else ["false"],
            "secrets.username": username, "secrets.password": password}


def oauth_config(url: str, **extra) -> dict:
    return {"apiUrl": url, "usesTableApi": False, "isOAuth": True, "clientId": CLIENT_ID, "jwtKeyId": JWT_KEY_ID,
            "userIdentifierValue": USER_IDENTIFIER, **extra}


def pane(web, cid: str, sub_action: str = "pushToService", **fields) -> str:
    """The test pane for a saved connector; `incident.x` fields go into pushToService's incident."""
    data = {"params.__present": "1", "params.subAction": sub_action,
            **{f"params.sub.{k.replace('__', '.')}": v for k, v in fields.items()}}
    response = web.post(f"/connectors/{cid}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def api_connector(api: Api, config: dict, secrets: dict, type_id: str = ".servicenow") -> str:
    return api.created({"name": "sn", "connector_type_id": type_id, "config": config, "secrets": secrets})["id"]


def basic(url: str, table_api: bool = False) -> tuple[dict, dict]:
    return {"apiUrl": url, "usesTableApi": table_api}, {"username": USERNAME, "password": PASSWORD}


def push(app, config: dict, secrets: dict, incident: dict, comments=None) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, config, secrets)
    params = {"subAction": "pushToService", "subActionParams": {"incident": incident, "comments": comments}}
    return api.execute(cid, params).get_json()


def run(app, config: dict, secrets: dict, sub_action: str, params: dict) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, config, secrets)
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- creating and editing --------------------------------------------------------------------------------


def test_connector_is_created_through_the_form_on_the_elastic_app(app, web, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url, name="ITSM"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "ITSM", ".servicenow")
    assert connector.config == {"apiUrl": sn.url, "isOAuth": False, "usesTableApi": False}
    assert connector.secret_fields == {"username": True, "password": True}


def test_the_new_form_starts_on_the_app_while_the_api_defaults_to_the_table_api(app, web, sn):
    form = html.unescape(web.get("/connectors/new/.servicenow").get_data(as_text=True))
    assert not re.search(r'name="config.usesTableApi"[^>]*checked', form)

    shown = Api.with_key(app).created(
        {"name": "legacy", "connector_type_id": ".servicenow", "config": {"apiUrl": sn.url},
         "secrets": {"username": USERNAME, "password": PASSWORD}})

    assert shown["config"]["usesTableApi"] is True


def test_a_blank_password_on_edit_keeps_the_stored_one(app, web, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))
    assert PASSWORD not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=basic_fields(sn.url, name="renamed", password=""))
    page = pane(web, cid, incident__short_description="after the edit")

    assert edit.status_code == 303
    assert 'data-status="ok"' in page
    assert connectors(app)[0].name == "renamed"
    assert sn.received_at(IMPORT_SET)[-1].headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("config", "secrets", "field", "message"),
    [
        ({}, {}, "secrets.username", "Either basic auth or OAuth credentials must be specified"),
        ({}, {"username": USERNAME}, "secrets.password", "username and password must both be specified"),
        ({"isOAuth": True, "clientId": CLIENT_ID, "jwtKeyId": JWT_KEY_ID}, {"clientSecret": "s", "privateKey": "k"},
         "config.userIdentifierValue", "userIdentifierValue must be provided when isOAuth = true"),
        ({"isOAuth": True, "userIdentifierValue": "u", "jwtKeyId": "k"}, {"clientSecret": "s", "privateKey": "k"},
         "config.clientId", "clientId must be provided when isOAuth = true"),
        ({"isOAuth": True, "userIdentifierValue": "u", "clientId": "c", "jwtKeyId": "k"}, {"clientSecret": "s"},
         "secrets.privateKey", "clientSecret and privateKey must both be specified"),
        ({"isOAuth": True, "userIdentifierValue": "u", "clientId": "c", "jwtKeyId": "k"},
         {"username": USERNAME, "password": PASSWORD}, "secrets.clientSecret",
         "clientSecret must be provided when isOAuth = true"),
        ({"isOAuth": True, "userIdentifierValue": "u", "clientId": "c", "jwtKeyId": "k"},
         {"username": USERNAME, "password": PASSWORD, "clientSecret": "s", "privateKey": "k"}, "secrets.username",
         "Username and password should not be provided with isOAuth = true"),
        ({"clientId": "c"}, {"username": USERNAME, "password": PASSWORD}, "config.clientId",
         "clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey should not be provided with "
         "isOAuth = false"),
        ({}, {"clientSecret": "s", "privateKey": "k"}, "secrets.username", "username must be provided when isOAuth = false"),
    ],
)
def test_kibanas_rules_for_basic_and_oauth_settings(config, secrets, field, message):
    errors = {}
    try:
        ITSM.validate_connector({"apiUrl": "https://dev1.service-now.com", **config}, secrets)
    except ValueError as exc:
        errors = exc.errors
    assert errors.get(field) == message, errors


def test_the_form_shows_kibanas_message_at_the_field(web, sn):
    response = web.post("/connectors/new/.servicenow", data=basic_fields(sn.url, password=""))

    assert response.status_code == 422
    assert "username and password must both be specified" in html.unescape(response.get_data(as_text=True))


def test_an_instance_outside_the_allowed_hosts_is_refused_in_kibanas_words(tmp_path, sn):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("dev1.service-now.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.servicenow", data=basic_fields(sn.url))

    assert response.status_code == 422
    assert ('error configuring connector action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert sn.received == []


# ---- pushing incidents through the Elastic app -----------------------------------------------------------


def test_the_test_pane_creates_an_incident_through_the_app_and_reads_it_back(app, web, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))

    page = pane(web, cid, **{"incident__short_description": "Disk full on web-01", "incident__urgency": "1",
                             "incident__category": "software", "incident__correlation_id": "rule-1:alert-1"})

    health, created, read = sn.received
    assert (health.method, health.path) == ("GET", HEALTH)
    assert (created.method, created.path) == ("POST", IMPORT_SET)
    assert created.headers["Content-Type"] == "application/json"
    assert created.json == {
        "u_short_description": "Disk full on web-01", "u_description": None, "u_category": "software",
        "u_subcategory": None, "u_correlation_id": "rule-1:alert-1", "u_correlation_display": None,
        "u_severity": None, "u_urgency": "1", "u_impact": None, "u_caller_id": USERNAME, "u_opened_by": USERNAME,
    }
    (record,) = sn.records["incident"].values()
    assert (read.method, read.path) == ("GET", f"{TABLE}/{record['sys_id']}")
    assert 'data-status="ok"' in page and record["number"] in page
    assert record["caller_id"] == USERNAME and record["urgency"] == "1"
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status) == (".servicenow", "pushToService", "ok")


def test_a_push_answers_the_incident_its_url_and_each_comment(app, sn):
    result = push(app, *basic(sn.url), {"short_description": "Outage"},
                  comments=[{"commentId": "c1", "comment": "First look"}, {"commentId": "c2", "comment": "Fixed"}])

    (record,) = sn.records["incident"].values()
    data = result["data"]
    assert result["status"] == "ok"
    assert data == {"id": record["sys_id"], "title": record["number"], "pushedDate": data["pushedDate"],
                    "url": f"{sn.url}/nav_to.do?uri=incident.do?sys_id={record['sys_id']}",
                    "comments": [{"commentId": "c1", "pushedDate": data["pushedDate"]},
                                 {"commentId": "c2", "pushedDate": data["pushedDate"]}]}
    assert ISO_DATE.match(data["pushedDate"])
    updates = [r.json for r in sn.received_at(IMPORT_SET)[1:]]
    assert [u["u_work_notes"] for u in updates] == ["First look", "Fixed"]
    assert all(u["elastic_incident_id"] == record["sys_id"] and "u_caller_id" not in u for u in updates)
    assert record["work_notes"] == "Fixed"


def test_pushing_with_an_external_id_updates_that_incident(app, sn):
    existing = sn.seed("incident", short_description="old", correlation_id="x")

    result = push(app, *basic(sn.url), {"short_description": "new words", "externalId": existing["sys_id"]})

    assert result["data"]["id"] == existing["sys_id"]
    assert sn.received_at(IMPORT_SET)[-1].json["elastic_incident_id"] == existing["sys_id"]
    assert sn.records["incident"][existing["sys_id"]]["short_description"] == "new words"
    assert len(sn.records["incident"]) == 1


def test_additional_fields_travel_beside_the_apps_fields(app, sn):
    push(app, *basic(sn.url), {"short_description": "x", "additional_fields": {"assignment_group": "network"}})

    sent = sn.received_at(IMPORT_SET)[-1].json
    assert sent["assignment_group"] == "network" and "u_additional_fields" not in sent


def test_additional_fields_may_not_name_the_incidents_own_fields(app, sn):
    result = push(app, *basic(sn.url), {"short_description": "x", "additional_fields": {"short_description": "y"}})

    assert result["status"] == "error"
    assert ("The following properties cannot be defined inside additional_fields: short_description."
            in result["message"])
    assert sn.received == []


# ---- the legacy Table API --------------------------------------------------------------------------------


def test_a_table_api_connector_posts_the_raw_fields_then_patches_each_comment(app, sn):
    result = push(app, *basic(sn.url, table_api=True), {"short_description": "Legacy", "impact": "2"},
                  comments=[{"commentId": "c1", "comment": "note"}])

    (record,) = sn.records["incident"].values()
    assert [(r.method, r.path) for r in sn.received] == [
        ("POST", TABLE), ("GET", f"{TABLE}/{record['sys_id']}"),
        ("PATCH", f"{TABLE}/{record['sys_id']}"), ("GET", f"{TABLE}/{record['sys_id']}")]
    assert sn.received[0].json["short_description"] == "Legacy" and sn.received[0].json["caller_id"] == USERNAME
    assert sn.received[2].json["work_notes"] == "note"
    assert result["data"]["title"] == record["number"]


def test_additional_fields_are_refused_for_a_deprecated_connector(app, sn):
    result = push(app, *basic(sn.url, table_api=True), {"short_description": "x", "additional_fields": {"a": 1}})

    assert result["service_message"] == (
        f"{PREFIX}Unable to create incident. Error: ServiceNow additional fields are not supported for deprecated "
        "connectors. [status=400] [method=post] [endpoint=table]")
    assert sn.received == []


# ---- reading and closing ---------------------------------------------------------------------------------


def test_get_incident_fields_and_choices(app, sn):
    record = sn.seed("incident", short_description="seeded")
    config, secrets = basic(sn.url)

    incident = run(app, config, secrets, "getIncident", {"externalId": record["sys_id"]})
    fields = run(app, config, secrets, "getFields", {})
    choices = run(app, config, secrets, "getChoices", {"fields": ["category", "subcategory"]})

    assert incident["data"]["number"] == record["number"]
    assert [f["element"] for f in fields["data"]] == ["short_description", "description", "correlation_id"]
    assert {(c["element"], c["value"]) for c in choices["data"]} >= {("category", "network"), ("subcategory", "vpn")}
    dictionary, choice = sn.received[-2], sn.received[-1]
    assert dictionary.path == "/api/now/table/sys_dictionary"
    assert dictionary.args["sysparm_query"] == "name=task^ORname=incident^internal_type=string"
    assert (dictionary.args["active"], dictionary.args["read_only"]) == ("true", "false")
    assert choice.path == "/api/now/table/sys_choice"
    assert choice.args["sysparm_query"] == "name=task^ORname=incident^element=category^ORelement=subcategory^language=en"
    assert choice.args["sysparm_fields"] == "label,value,dependent_value,element"


def test_close_incident_closes_the_newest_incident_with_the_correlation_id(app, sn):
    sn.seed("incident", short_description="older", correlation_id="rule-1:alert-1")
    newest = sn.seed("incident", short_description="newer", correlation_id="rule-1:alert-1")
    newest["sys_created_on"] = "2099-01-01 00:00:00"

    result = run(app, *basic(sn.url), "closeIncident", {"incident": {"correlation_id": "rule-1:alert-1"}})

    assert result["status"] == "ok" and result["data"]["id"] == newest["sys_id"]
    sent = sn.received_at(IMPORT_SET)[-1].json
    assert sent["elastic_incident_id"] == newest["sys_id"]
    assert (sent["u_state"], sent["u_close_code"], sent["u_close_notes"]) == (
        "7", "Closed/Resolved by Caller", "Closed by Caller")
    assert sn.records["incident"][newest["sys_id"]]["state"] == "7"


def test_closing_an_incident_already_closed_or_missing_changes_nothing(app, sn):
    closed = sn.seed("incident", short_description="done", state="7")
    config, secrets = basic(sn.url)

    again = run(app, config, secrets, "closeIncident", {"incident": {"externalId": closed["sys_id"]}})
    missing = run(app, config, secrets, "closeIncident", {"incident": {"externalId": "0" * 32}})
    nothing = run(app, config, secrets, "closeIncident", {"incident": {"correlation_id": "no-such"}})
    neither = run(app, config, secrets, "closeIncident", {"incident": {"externalId": None, "correlation_id": None}})

    assert again["data"]["id"] == closed["sys_id"]
    assert (missing["status"], missing["data"]) == ("ok", {})
    assert (nothing["status"], nothing["data"]) == ("ok", {})
    assert neither["service_message"] == (f"{PREFIX}Unable to close incident. Error: No correlationId or incidentId "
                                          "found. [status=none] [method=post] [endpoint=import_set]")
    assert sn.received_at(IMPORT_SET) == []


# ---- errors: Kibana's words, the project's retry rule -----------------------------------------------------


def test_a_wrong_password_is_final_and_quotes_servicenow(app, sn):
    config, secrets = basic(sn.url)
    result = push(app, config, {**secrets, "password": "wrong-password"}, {"short_description": "x"})

    reason = "Reason: User Not Authenticated: Required to provide Auth information"
    assert (result["message"], result["retry"]) == (GENERIC_ERROR, False)
    assert result["service_message"] == (
        f"{PREFIX}Unable to create incident. Error: {PREFIX}Unable to get application version. Error: Request "
        f"failed with status code 401 {reason} [status=401] [method=get] [endpoint=health] {reason} [status=401] "
        "[method=post] [endpoint=import_set]")


def test_an_unknown_incident_is_a_404_in_kibanas_words(app, sn):
    result = run(app, *basic(sn.url), "getIncident", {"externalId": "nope"})

    assert result["retry"] is False
    assert result["service_message"] == (
        f"{PREFIX}Unable to get incident with id nope. Error: Request failed with status code 404 Reason: No Record "
        "found: Record doesn't exist or ACL restricts the record retrieval [status=404] [method=get] [endpoint=table]")


def test_an_instance_without_the_elastic_app_says_so(app, keys):
    with FakeServiceNow(public_key=keys[1], app_installed=False) as sn:
        result = push(app, *basic(sn.url), {"short_description": "x"})

    assert "Unable to get application version. Error: Request failed with status code 400 Reason: Requested URI " \
           "does not represent any resource [status=400] [method=get] [endpoint=health]" in result["service_message"]
    assert [r.path for r in sn.received] == [HEALTH]


def test_throttling_retries_at_servicenows_retry_after(app, web, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))
    sn.throttle(retry_after="30")

    before = datetime.now(UTC)
    page = pane(web, cid, incident__short_description="x")

    assert "Request failed with status code 429 Reason: Rate limit exceeded: Too many requests; try again later." \
           " [status=429] [method=get] [endpoint=health]" in page
    retry_at = datetime.fromisoformat(events(app)[-1].retry)
    assert before + timedelta(seconds=29) <= retry_at <= datetime.now(UTC) + timedelta(seconds=31)


def test_a_server_error_asks_for_a_retry(app, sn):
    sn.outage()

    result = run(app, *basic(sn.url), "getFields", {})

    assert result["retry"] is True
    assert result["service_message"] == (
        f"{PREFIX}Unable to get fields. Error: Request failed with status code 500 Reason: Internal server error: "
        "The instance is unavailable. [status=500] [method=get] [endpoint=table]")


def test_a_refused_connection_is_worth_a_retry(app):
    result = run(app, *basic(f"http://127.0.0.1:{free_port()}"), "getChoices", {"fields": ["urgency"]})

    assert result["retry"] is True
    assert result["service_message"].startswith(f"{PREFIX}Unable to get choices. Error: ")
    assert result["service_message"].endswith("[status=connection_refused] [method=get] [endpoint=table]")


def test_an_answer_that_is_not_servicenows_api_is_an_instance_issue(app, sn):
    sn.answer_next(200, "<html><body>Your instance is hibernating</body></html>")

    result = run(app, *basic(sn.url), "getChoices", {"fields": ["urgency"]})

    assert result["service_message"] == (
        f"{PREFIX}Unable to get choices. Error: There is an issue with your Service Now Instance. Please check "
        "127.0.0.1. [status=none] [method=get] [endpoint=table]")


def test_an_import_set_row_in_error_fails_the_push(app, sn):
    sn.answer_next(200, {"result": []})  # the health check
    sn.answer_next(201, {"import_set": "ISET1", "result": [
        {"status": "error", "error_message": "Transform failed: caller not found", "sys_id": ""}]})

    result = push(app, *basic(sn.url), {"short_description": "x"})

    assert result["service_message"] == (
        f"{PREFIX}Unable to create incident. Error: Transform failed: caller not found [status=201] [method=post] "
        "[endpoint=import_set]")


# ---- OAuth: a JWT-bearer token --------------------------------------------------------------------------


def test_oauth_signs_a_jwt_servicenow_verifies_and_uses_the_token(app, sn, keys):
    api = Api.with_key(app)
    cid = api_connector(api, oauth_config(sn.url), {"clientSecret": CLIENT_SECRET, "privateKey": keys[0]})

    first = api.execute(cid, {"subAction": "getFields", "subActionParams": {}}).get_json()
    second = api.execute(cid, {"subAction": "getFields", "subActionParams": {}}).get_json()

    assert first["status"] == second["status"] == "ok"
    (grant,) = sn.grants  # the second run used the cached token
    assert grant.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (grant.form["client_id"], grant.form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert grant.header == {"alg": "RS256", "typ": "JWT", "kid": JWT_KEY_ID}
    claims = grant.claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (CLIENT_ID, CLIENT_ID, USER_IDENTIFIER)
    assert claims["exp"] - claims["iat"] == 3600
    calls = sn.received_at("/api/now/table/sys_dictionary")
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in calls)
    assert calls[0].headers["Authorization"] == calls[1].headers["Authorization"]


def test_an_encrypted_private_key_is_opened_with_its_password(app, tmp_path):
    pem, public = key_pair("key-password-1")
    with FakeServiceNow(public_key=public) as sn:
        result = run(app, oauth_config(sn.url),
                     {"clientSecret": CLIENT_SECRET, "privateKey": pem, "privateKeyPassword": "key-password-1"},
                     "getChoices", {"fields": ["urgency"]})

    assert result["status"] == "ok" and len(result["data"]) == 3


def test_a_token_servicenow_no_longer_accepts_is_dropped_and_renewed_next_run(app, sn, keys):
    api = Api.with_key(app)
    cid = api_connector(api, oauth_config(sn.url), {"clientSecret": CLIENT_SECRET, "privateKey": keys[0]})
    params = {"subAction": "getChoices", "subActionParams": {"fields": ["impact"]}}
    api.execute(cid, params)
    sn.expire_tokens()

    refused = api.execute(cid, params).get_json()
    renewed = api.execute(cid, params).get_json()

    assert "status code 401" in refused["service_message"] and refused["retry"] is False
    assert renewed["status"] == "ok"
    assert len(sn.grants) == 2


def test_a_wrong_client_secret_is_an_access_token_error(app, sn, keys):
    api = Api.with_key(app)
    cid = api_connector(api, oauth_config(sn.url), {"clientSecret": "not-the-secret", "privateKey": keys[0]})

    result = api.execute(cid, {"subAction": "getFields", "subActionParams": {}}).get_json()

    assert result["service_message"].startswith(
        f"{PREFIX}Unable to get fields. Error: Unable to retrieve access token for connectorId: {cid} Reason: ")
    assert "server_error: access_denied" in result["service_message"]
    assert result["service_message"].endswith("[status=401] [method=get] [endpoint=table]")
    assert sn.received_at("/api/now/table/sys_dictionary") == []


def test_a_private_key_that_is_not_one_fails_before_calling_servicenow(app, sn):
    result = run(app, oauth_config(sn.url), {"clientSecret": CLIENT_SECRET, "privateKey": "not a key"},
                 "getFields", {})

    assert "Unable to generate JWT token. Error: the private key is not a PEM private key" in result["service_message"]
    assert sn.received == []


# ---- secrets ----------------------------------------------------------------------------------------------


def test_the_password_is_sent_but_never_shown(app, web, sn, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))
    sn.answer_next(500, {"error": {"message": f"Password {PASSWORD} expired", "detail": None}, "status": "failure"})

    page = pane(web, cid, incident__short_description="x")

    assert "Authorization" in page and "Password •••••• expired" in page
    assert_secret_kept_out(app, web, PASSWORD, cid, page, log=caplog.text)


def test_the_client_secret_and_private_key_stay_out_of_pages(app, web, sn, keys, caplog):
    caplog.set_level(logging.DEBUG)
    form = {"name": "oauth", "config.apiUrl": sn.url, "config.isOAuth": ["false", "true"],
            "config.usesTableApi": ["false"], "config.clientId": CLIENT_ID, "config.jwtKeyId": JWT_KEY_ID,
            "config.userIdentifierValue": USER_IDENTIFIER, "secrets.clientSecret": CLIENT_SECRET,
            "secrets.privateKey": keys[0]}
    cid = create_via_form(web, ".servicenow", form)

    page = pane(web, cid, incident__short_description="x")

    assert 'data-status="ok"' in page
    key_line = keys[0].splitlines()[1]
    for secret in (CLIENT_SECRET, key_line):
        assert_secret_kept_out(app, web, secret, cid, page, log=caplog.text)


# ---- cases -----------------------------------------------------------------------------------------------


def test_a_case_is_pushed_with_its_fields_and_kibanas_correlation(app, sn):
    fields = ITSM.case_fields(urgency="2", category="network", subcategory="vpn",
                              additionalFields='{"assignment_group": "net-ops"}')
    incident = ITSM.case_incident(EXAMPLE_CASE, fields)

    result = push(app, *basic(sn.url), {**incident, "externalId": None})

    sent = sn.received_at(IMPORT_SET)[-1].json
    assert (sent["u_short_description"], sent["u_description"]) == (EXAMPLE_CASE.title, EXAMPLE_CASE.description)
    assert (sent["u_urgency"], sent["u_category"], sent["u_subcategory"]) == ("2", "network", "vpn")
    assert (sent["u_correlation_id"], sent["u_correlation_display"]) == (EXAMPLE_CASE.id, "Elastic Case")
    assert sent["assignment_group"] == "net-ops"
    assert set(result["data"]) == {"id", "title", "url", "pushedDate", "comments"}


# ---- the pickers ------------------------------------------------------------------------------------------


def choices(web, cid: str, name: str, **form) -> str:
    fid = name.replace(".", "-")
    response = web.post("/types/.servicenow/choices", htmx=True,
                        data={"choices_for": fid, "choices_name": name, **form},
                        headers={"HX-Current-URL": f"http://localhost/connectors/{cid}"})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_the_pickers_list_servicenows_choices_and_subcategories_of_the_category(app, web, viewer, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))

    urgency = choices(viewer, cid, "params.sub.incident.urgency", **{"params.sub.incident.urgency": "2"})
    before = choices(web, cid, "params.sub.incident.subcategory")
    network = choices(web, cid, "params.sub.incident.subcategory", **{"params.sub.incident.category": "network"})

    assert '<option value="2" selected>2 - Medium (2)</option>' in urgency and "3 choices listed." in urgency
    assert "Choose a category first." in before
    assert "VPN (vpn)" in network and "DNS (dns)" in network and "Email" not in network
    assert [e.sub_action for e in events(app)] == ["getChoices", "getChoices"]


def test_the_pickers_of_a_new_connector_ask_with_the_forms_values(web, sn):
    data = {**basic_fields(sn.url), "choices_for": "params-sub-incident-impact",
            "choices_name": "params.sub.incident.impact"}

    page = html.unescape(web.post("/types/.servicenow/choices", data=data, htmx=True).get_data(as_text=True))

    assert "1 - High (1)" in page
    assert sn.received[-1].args["sysparm_query"].endswith("element=impact^language=en")


def test_the_test_pane_draws_the_incidents_fields_with_their_pickers(app, web, sn):
    cid = create_via_form(web, ".servicenow", basic_fields(sn.url))

    page = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))

    assert 'name="params.sub.incident.short_description"' in page
    assert 'value="Switchboard test incident"' in page
    assert 'hx-post="/types/.servicenow/choices"' in page
    assert 'hx-trigger="click, change from:#params-sub-incident-category-box"' in page


@drives_browser
def test_picking_a_category_then_a_subcategory_pushes_them(page, live, sn):
    from playwright.sync_api import expect

    from tests.browser import post_create

    cid = post_create(page, live, ".servicenow", {**basic_fields(sn.url), "config.isOAuth": "false",
                                                  "config.usesTableApi": "false"})
    page.goto(f"{live.url}/connectors/{cid}")
    category = page.locator("#params-sub-incident-category")
    subcategory = page.locator("#params-sub-incident-subcategory")

    page.locator("#params-sub-incident-category-box + button").click()
    expect(category.locator("option[value=network]")).to_have_count(1)
    category.select_option("network")
    expect(subcategory.locator("option[value=vpn]")).to_have_count(1)  # listed again for the category
    expect(subcategory.locator("option[value=email]")).to_have_count(0)
    subcategory.select_option("vpn")
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result [data-status]")).to_have_attribute("data-status", "ok")

    sent = sn.received_at(IMPORT_SET)[-1].json
    assert (sent["u_category"], sent["u_subcategory"]) == ("network", "vpn")
    (record,) = sn.records["incident"].values()
    assert (record["category"], record["subcategory"]) == ("network", "vpn")


# ---- the type in the API ----------------------------------------------------------------------------------


def test_servicenow_itsm_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".servicenow"] == {
        **types[".servicenow"], "name": "ServiceNow ITSM", "minimum_license_required": "platinum",
        "supported_feature_ids": ["alerting", "cases", "uptime", "siem"],
    }
