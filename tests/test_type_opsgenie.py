"""The `.opsgenie` type end to end, against the fake Opsgenie Alert API: `createAlert` posts the alert and
`closeAlert` posts to the alias's close path, both with `Authorization: GenieKey`; failures come back in the
sub-action framework's words with Opsgenie's own message (and its `errors`) beside them."""

from __future__ import annotations

import hashlib
import html
import logging
import socket
import sqlite3

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import GENERIC_ERROR
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.opsgenie import API_KEY, READ_ONLY_KEY, FakeOpsgenie
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

OPSGENIE = get_type(".opsgenie")


@pytest.fixture
def opsgenie():
    with FakeOpsgenie() as fake:
        yield fake


def opsgenie_fields(url: str, key: str = API_KEY, name: str = "opsgenie") -> dict:
    return {"name": name, "config.apiUrl": url, "secrets.apiKey": key}


def run_test_pane(web, connector_id: str, sub_action: str = "createAlert", **params) -> str:
    """What the test pane posts; fields left out are not sent."""
    data = {"params.__present": "1", "params.subAction": sub_action, **{f"params.sub.{k}": v for k, v in params.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str, *, key: str = API_KEY):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(url, key))
    return run_test_pane(web, cid, message="Disk full on db-1"), events(app)[-1]


def api_connector(api: Api, url: str, key: str = API_KEY) -> str:
    body = {"name": "opsgenie", "connector_type_id": ".opsgenie", "config": {"apiUrl": url}, "secrets": {"apiKey": key}}
    return api.created(body)["id"]


def run_api(app, url: str, sub_action: str = "createAlert", key: str = API_KEY, **params) -> dict:
    api = Api.with_key(app)
    cid = api_connector(api, url, key)
    return api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- createAlert ------------------------------------------------------------------------------------------


def test_test_pane_creates_the_alert_with_the_genie_key(app, web, opsgenie):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url))

    page = run_test_pane(web, cid, message="Disk full on db-1", alias="rule-1:alert-1", priority="P2",
                         tags='["prod", "db"]', **{"details.name": "host", "details.value": "db-1"})

    got = opsgenie.received[-1]
    assert (got.method, got.path) == ("POST", "/v2/alerts")
    assert got.headers["Authorization"] == f"GenieKey {API_KEY}"
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"message": "Disk full on db-1", "alias": "rule-1:alert-1", "priority": "P2",
                        "tags": ["prod", "db"], "details": {"host": "db-1"}}
    assert 'data-status="ok"' in page and "202 Accepted" in page
    assert '"result": "Request will be processed"' in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status, event.http_status) == (
        ".opsgenie", "createAlert", "ok", 202)


def test_the_prefilled_test_params_create_an_alert_and_answer_with_opsgenies_request_id(app, web, opsgenie):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '<option value="createAlert" selected>' in detail and "Test alert from Switchboard" in detail

    result = Api.with_key(app).execute(cid, OPSGENIE.test_params).get_json()

    assert result["status"] == "ok"
    assert set(result["data"]) == {"result", "took", "requestId"}
    assert opsgenie.alerts["switchboard-test"]["message"] == "Test alert from Switchboard"


def test_every_alert_field_is_sent_as_given(app, opsgenie):
    params = {
        "message": "m", "alias": "a", "description": "d", "entity": "checkout", "source": "Switchboard",
        "priority": "P1", "user": "ops-bot", "note": "n", "actions": ["Restart", "Ping"], "tags": ["t"],
        "details": {"region": "eu"},
        "responders": [{"type": "team", "name": "SRE"}, {"type": "user", "username": "ann@example.com"},
                       {"type": "escalation", "id": "4513b7ea"}, {"type": "schedule", "name": "Nights"}],
        "visibleTo": [{"type": "team", "id": "4513b7ea"}, {"type": "user", "username": "bob@example.com"}],
    }

    result = run_api(app, opsgenie.url, **params)

    assert result["status"] == "ok"
    assert opsgenie.received[-1].json == params


def test_a_message_over_130_characters_is_cut_to_130(app, opsgenie):
    run_api(app, opsgenie.url, message="x" * 130)
    run_api(app, opsgenie.url, message="y" * 131)

    assert [r.json["message"] for r in opsgenie.received] == ["x" * 130, "y" * 130]


def test_an_alias_over_512_characters_becomes_its_sha256_on_create_and_close_alike(app, opsgenie):
    long_alias = "a" * 513
    hashed = "sha-" + hashlib.sha256(long_alias.encode()).hexdigest()

    run_api(app, opsgenie.url, message="m", alias="b" * 512)
    run_api(app, opsgenie.url, message="m", alias=long_alias)
    run_api(app, opsgenie.url, "closeAlert", alias=long_alias)

    assert [r.json.get("alias") for r in opsgenie.received[:2]] == ["b" * 512, hashed]
    assert opsgenie.closed == [hashed]


def test_an_empty_alias_is_sent_as_it_is(app, opsgenie):
    run_api(app, opsgenie.url, message="m", alias="")

    assert opsgenie.received[-1].json == {"message": "m", "alias": ""}


# ---- closeAlert -------------------------------------------------------------------------------------------


def test_close_alert_posts_to_the_alias_close_path_without_the_alias_in_the_body(app, opsgenie):
    result = run_api(app, opsgenie.url, "closeAlert", alias="rule-1:alert-1", user="ops-bot", note="recovered")

    got = opsgenie.received[-1]
    assert opsgenie.targets[-1] == "/v2/alerts/rule-1:alert-1/close?identifierType=alias"
    assert got.headers["Authorization"] == f"GenieKey {API_KEY}"
    assert got.json == {"user": "ops-bot", "note": "recovered"}
    assert result["status"] == "ok" and opsgenie.closed == ["rule-1:alert-1"]


def test_close_alert_with_only_an_alias_sends_an_empty_object(app, opsgenie):
    run_api(app, opsgenie.url, "closeAlert", alias="a-1")

    assert opsgenie.received[-1].body == b"{}"


@pytest.mark.parametrize(
    ("alias", "target"),
    [
        ("rule 1:alert é", "/v2/alerts/rule%201:alert%20%C3%A9/close?identifierType=alias"),
        ('{"x"}<y>', "/v2/alerts/%7B%22x%22%7D%3Cy%3E/close?identifierType=alias"),
        # Kibana's URL parser would end the path at ? or #; encoded, the close still reaches this alias.
        ("a?b#c", "/v2/alerts/a%3Fb%23c/close?identifierType=alias"),
    ],
)
def test_the_alias_is_percent_encoded_in_the_close_path(app, opsgenie, alias, target):
    result = run_api(app, opsgenie.url, "closeAlert", alias=alias)

    assert result["status"] == "ok"
    assert opsgenie.targets[-1] == target
    assert opsgenie.closed == [alias]


def test_the_api_url_is_resolved_as_kibanas_url_parser_does(app, opsgenie):
    run_api(app, opsgenie.url + "/", message="m")
    run_api(app, opsgenie.url + "/opsgenie", "closeAlert", alias="a")  # the last segment is replaced

    assert opsgenie.targets == ["/v2/alerts", "/v2/alerts/a/close?identifierType=alias"]


# ---- params -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "detail"),
    [
        ("createAlert", {}, "[message]: Field required"),
        ("createAlert", {"message": ""}, "[message]: String should have at least 1 character"),
        ("createAlert", {"message": "  \n "}, "[message]: must be populated with a value other than just whitespace"),
        ("createAlert", {"message": "m" * 15001}, "[message]: String should have at most 15000 characters"),
        ("createAlert", {"message": "m", "responders": [{"type": "team"}]},
         '[responders.0]: Each responder must have a "type" (team|user|escalation|schedule) and one of "name", "id", '
         'or "username"'),
        ("createAlert", {"message": "m", "responders": [{"type": "team", "username": "a@b.c"}]},
         '[responders.0]: Each responder must have a "type"'),
        ("createAlert", {"message": "m", "responders": [{"type": "squad", "name": "x"}]},
         '[responders.0]: Each responder must have a "type"'),
        ("createAlert", {"message": "m", "visibleTo": [{"type": "user", "name": "ann"}]},
         '[visibleTo.0]: Each visible target must have a "type" (team|user) and one of "name", "id", or "username"'),
        ("createAlert", {"message": "m", "responders": [{"type": "team", "name": "t"}] * 51},
         "[responders]: List should have at most 50 items"),
        ("createAlert", {"message": "m", "actions": ["a"] * 11}, "[actions]: List should have at most 10 items"),
        ("createAlert", {"message": "m", "tags": ["t" * 51]}, "[tags.0]: String should have at most 50 characters"),
        ("createAlert", {"message": "m", "priority": "P6"}, "[priority]: Input should be 'P1', 'P2', 'P3', 'P4' or 'P5'"),
        ("createAlert", {"message": "m", "alias": None}, "[alias]: Input should be a valid string"),
        ("createAlert", {"message": "m", "source": "s" * 101}, "[source]: String should have at most 100 characters"),
        ("createAlert", {"message": "m", "details": {"n": 1}}, "[details.n]: Input should be a valid string"),
        ("createAlert", {"message": "m", "color": "red"}, "[color]: Extra inputs are not permitted"),
        ("closeAlert", {"user": "u"}, "[alias]: Field required"),
        ("closeAlert", {"alias": "a", "note": "n" * 25001}, "[note]: String should have at most 25000 characters"),
    ],
)
def test_params_are_checked_with_kibanas_rules_before_calling_opsgenie(app, opsgenie, sub_action, params, detail):
    result = run_api(app, opsgenie.url, sub_action, **params)

    assert result["status"] == "error"
    assert result["message"].startswith(f"Request validation failed ({detail}")
    assert opsgenie.received == []


def test_an_unknown_sub_action_is_refused_with_kibanas_text(app, opsgenie):
    api = Api.with_key(app)
    cid = api_connector(api, opsgenie.url)

    result = api.execute(cid, {"subAction": "acknowledgeAlert", "subActionParams": {"alias": "a"}}).get_json()

    assert result["message"] == (f'Sub action "acknowledgeAlert" is not registered. Connector id: {cid}. '
                                 "Connector name: opsgenie. Connector type: .opsgenie")
    assert opsgenie.received == []


def test_the_test_pane_reports_a_blank_message_without_calling_opsgenie(app, web, opsgenie):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url))

    page = run_test_pane(web, cid, message="   ")

    assert ("Request validation failed ([message]: must be populated with a value other than just whitespace)"
            in page)
    assert opsgenie.received == []
    assert [(e.status, e.http_status) for e in events(app)] == [("error", None)]


# ---- errors: the sub-action framework's words, Opsgenie's message -----------------------------------------


def test_a_wrong_key_is_refused_and_final(app, web, opsgenie):
    page, event = run_stored(app, web, opsgenie.url, key="not-the-key")

    assert GENERIC_ERROR in page
    assert "Status code: 401. Message: Could not authenticate" in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_a_read_only_key_is_forbidden(app, opsgenie):
    result = run_api(app, opsgenie.url, key=READ_ONLY_KEY, message="m")

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": False,
                      "service_message": "Status code: 403. Message: You are not authorized to take this action."}


def test_opsgenies_field_errors_follow_its_message_as_compact_json(app, opsgenie):
    opsgenie.answer_next(422, {"message": "Request body is not processable. Please check the errors.",
                               "errors": {"message": "Message can not be empty.", "username": "must be an email"},
                               "took": 0.001, "requestId": "r-1"})

    result = run_api(app, opsgenie.url, message="m")

    assert result["service_message"] == (
        'Status code: 422. Message: Request body is not processable. Please check the errors.: '
        '{"message":"Message can not be empty.","username":"must be an email"}')
    assert result["retry"] is False


def test_a_path_with_no_handler_is_not_found(app, opsgenie):
    result = run_api(app, opsgenie.url + "/api/", message="m")

    assert opsgenie.targets[-1] == "/api/v2/alerts"
    assert (result["service_message"], result["retry"]) == (
        "Status code: 404. Message: Could not find handler for request", False)


def test_throttling_asks_for_a_retry(app, web, opsgenie):
    opsgenie.throttle(retry_after="30")

    page, event = run_stored(app, web, opsgenie.url)

    # The sub-action framework reads no Retry-After: the task's own backoff decides when.
    assert ("Status code: 429. Message: You are making too many requests! To avoid errors, we recommend you "
            "limit requests.") in page
    assert (event.retry, event.http_status) == ("true", 429)


def test_a_server_error_asks_for_a_retry_with_opsgenies_message(app, opsgenie):
    opsgenie.outage()

    result = run_api(app, opsgenie.url, message="m")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == "Status code: 500. Message: Internal Server Error"


def test_an_error_page_without_a_message_is_named_by_its_status(app, opsgenie):
    opsgenie.proxy_down()

    result = run_api(app, opsgenie.url, "closeAlert", alias="a")

    assert result["service_message"] == "Status code: 503. Message: Request failed with status code 503"
    assert result["retry"] is True


def test_a_refused_connection_names_no_status_and_asks_for_a_retry(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}")

    assert GENERIC_ERROR in page
    assert "Status code: undefined. Message: " in page
    assert (event.retry, event.http_status) == ("true", None)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ({"result": "Request will be processed", "took": 0.1}, "[requestId]: expected value of type [string] but got [undefined]"),
        ({"result": "ok", "took": 0.1, "requestId": 7}, "[requestId]: expected value of type [string] but got [number]"),
        ({"result": "ok", "requestId": "r-1"}, "[took]: expected value of type [number] but got [undefined]"),
        ("Accepted", "Response is not a valid JSON"),
    ],
)
def test_an_answer_without_opsgenies_fields_fails_response_validation(app, opsgenie, answer, detail):
    opsgenie.answer_next(202, answer)

    result = run_api(app, opsgenie.url, message="m")

    assert result["status"] == "error" and result["retry"] is False
    assert result["service_message"] == f"Response validation failed ({detail})"


# ---- the connector ----------------------------------------------------------------------------------------


def test_a_new_form_starts_with_opsgenies_api_url(web):
    page = html.unescape(web.get("/connectors/new/.opsgenie").get_data(as_text=True))

    assert 'name="config.apiUrl" value="https://api.opsgenie.com"' in page


def test_the_api_url_is_required(app):
    response = Api.with_key(app).create({"name": "o", "connector_type_id": ".opsgenie", "config": {},
                                         "secrets": {"apiKey": API_KEY}})

    assert response.status_code == 400
    assert response.get_json()["message"] == "error validating action type config: [apiUrl]: Required."


def test_a_url_outside_the_allowed_hosts_is_refused_with_kibanas_prefix(tmp_path, opsgenie):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("api.opsgenie.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.opsgenie", data=opsgenie_fields(opsgenie.url))

    assert response.status_code == 422
    assert ('error validating url: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert opsgenie.received == []


def test_the_eu_api_url_is_accepted():
    config, _ = OPSGENIE.validate_connector({"apiUrl": "https://api.eu.opsgenie.com"}, {"apiKey": "k"},
                                            allowed_hosts=("*",))

    assert config.apiUrl == "https://api.eu.opsgenie.com"


def test_the_key_is_sent_but_never_shown_in_the_pane_or_the_event_log(app, web, opsgenie, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url))
    opsgenie.answer_next(401, {"message": f"Key {API_KEY} is disabled", "took": 0.0, "requestId": "r-1"})

    page = run_test_pane(web, cid, message="m")
    unsaved = web.post("/connectors/new/.opsgenie/test",
                       data={**opsgenie_fields(opsgenie.url), "params.__present": "1", "params.subAction": "closeAlert",
                             "params.sub.alias": "a-1"},
                       htmx=True).get_data(as_text=True)

    assert [r.headers["Authorization"] for r in opsgenie.received] == [f"GenieKey {API_KEY}"] * 2
    assert "Authorization" in page  # header names are shown
    assert "Key •••••• is disabled" in page
    assert_secret_kept_out(app, web, API_KEY, cid, page, unsaved, log=caplog.text)


def test_connector_is_created_through_the_form_without_its_key_in_config(app, web, opsgenie):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url, name="On-call Opsgenie"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "On-call Opsgenie", ".opsgenie")
    assert connector.config == {"apiUrl": opsgenie.url}
    assert connector.secret_fields == {"apiKey": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"apiUrl": opsgenie.url} and "secrets" not in shown


def test_a_blank_key_on_edit_keeps_the_stored_one(app, web, opsgenie):
    cid = create_via_form(web, ".opsgenie", opsgenie_fields(opsgenie.url))
    assert API_KEY not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=opsgenie_fields(opsgenie.url, key="", name="renamed"))
    run_test_pane(web, cid, message="m")

    assert edit.status_code == 303
    assert opsgenie.received[-1].headers["Authorization"] == f"GenieKey {API_KEY}"
    assert connectors(app)[0].name == "renamed"


def test_a_key_is_required_when_created(web, opsgenie):
    response = web.post("/connectors/new/.opsgenie", data=opsgenie_fields(opsgenie.url, key=""))

    assert response.status_code == 422


def test_opsgenie_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".opsgenie"] == {
        **types[".opsgenie"], "name": "Opsgenie", "enabled": True, "minimum_license_required": "platinum",
        "supported_feature_ids": ["alerting", "uptime", "siem", "workflows", "agentBuilder"],
        "is_system_action_type": False,
    }


# ---- in the browser ---------------------------------------------------------------------------------------


@pytest.fixture
def live_opsgenie():
    with FakeOpsgenie() as fake:
        yield fake


def live_events(live: LiveServer) -> list[tuple]:
    with sqlite3.connect(f"file:{live.instance / 'switchboard.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT connector_type_id, sub_action, status, http_status FROM events ORDER BY id").fetchall()


@drives_browser
def test_close_an_alert_from_the_test_pane(page: Page, live: LiveServer, live_opsgenie: FakeOpsgenie):
    cid = post_create(page, live, ".opsgenie", opsgenie_fields(live_opsgenie.url, name="Pager e2e"))
    page.goto(f"{live.url}/connectors/{cid}")

    sub_action = page.get_by_label("Sub-action")
    expect(sub_action).to_have_value("createAlert")
    expect(page.get_by_label("Message")).to_have_value("Test alert from Switchboard")
    sub_action.select_option("closeAlert")  # the fields are swapped for closeAlert's (htmx)
    expect(page.get_by_label("Message")).to_have_count(0)
    page.get_by_label("Alias").fill("rule 7:alert 3")
    page.get_by_label("Note").fill("Recovered on its own")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("202 Accepted")
    assert live_opsgenie.closed == ["rule 7:alert 3"]
    assert live_opsgenie.targets[-1] == "/v2/alerts/rule%207:alert%203/close?identifierType=alias"
    assert live_opsgenie.received[-1].json == {"note": "Recovered on its own"}
    assert live_events(live)[-1] == (".opsgenie", "closeAlert", "ok", 202)


@drives_browser
def test_a_blank_message_fails_in_the_test_pane_without_reaching_opsgenie(
    page: Page, live: LiveServer, live_opsgenie: FakeOpsgenie
):
    cid = post_create(page, live, ".opsgenie", opsgenie_fields(live_opsgenie.url, name="Pager blank"))
    page.goto(f"{live.url}/connectors/{cid}")
    before = len(live_events(live))

    page.get_by_label("Message").fill("   ")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "error")
    expect(result).to_contain_text("must be populated with a value other than just whitespace")
    assert live_opsgenie.received == []
    assert [row[2:] for row in live_events(live)[before:]] == [("error", None)]
