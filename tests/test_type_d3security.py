"""The `.d3security` type end to end, against the fake D3 SOAR intake: `run` and `test` post the body
wrapped as one Elasticsearch hit with the `d3key` header; failures come back in the sub-action framework's
words, and an answer without a string `refid` is not a success."""

from __future__ import annotations

import html
import logging
import socket

import pytest

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import GENERIC_ERROR
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.d3security import INTAKE_PATH, KEY_HEADER, TOKEN, FakeD3
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events

D3 = get_type(".d3security")


@pytest.fixture
def d3():
    with FakeD3() as fake:
        yield fake


def d3_fields(url: str, token: str = TOKEN, name: str = "d3") -> dict:
    return {"name": name, "config.url": url, "secrets.token": token}


def run_test_pane(web, connector_id: str, **params) -> str:
    """What the test pane posts for the `test` sub-action; fields left out keep the form's defaults."""
    data = {"params.__present": "1", "params.subAction": "test", "params.sub.body": '{"alert": "a-1"}',
            **{f"params.sub.{k}": v for k, v in params.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str, *, token: str = TOKEN):
    cid = create_via_form(web, ".d3security", d3_fields(url, token))
    return run_test_pane(web, cid), events(app)[-1]


def api_connector(api: Api, url: str, token: str = TOKEN) -> str:
    body = {"name": "d3", "connector_type_id": ".d3security", "config": {"url": url}, "secrets": {"token": token}}
    return api.created(body)["id"]


def run_api(app, url: str, sub_action: str = "run", **params) -> tuple[str, dict]:
    api = Api.with_key(app)
    cid = api_connector(api, url)
    return cid, api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_sends_the_body_as_one_hit_with_the_d3key_header(app, web, d3):
    cid = create_via_form(web, ".d3security", d3_fields(d3.intake_url))

    page = run_test_pane(web, cid, body='{"alert": {"id": "a-1"}}', severity="high", eventType="Malware found")

    got = d3.received[-1]
    assert (got.method, got.path) == ("POST", INTAKE_PATH)
    assert got.headers[KEY_HEADER] == TOKEN
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"hits": {"hits": {"_source": {
        "rawData": {"alert": {"id": "a-1"}}, "event.type": "Malware found", "kibana.alert.severity": "high",
    }}}}
    assert 'data-status="ok"' in page and "200 OK" in page
    assert '"refid": "EVT-1001"' in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status, event.http_status) == (
        ".d3security", "test", "ok", 200)


def test_run_through_the_api_answers_with_d3s_refid(app, d3):
    cid, result = run_api(app, d3.intake_url, "run", body='{"rule": {"name": "r"}}')

    assert result == {"connector_id": cid, "status": "ok", "data": {"refid": "EVT-1001"}}
    assert d3.received[-1].source == {"rawData": {"rule": {"name": "r"}}, "event.type": "",
                                      "kibana.alert.severity": ""}


def test_the_prefilled_test_params_run(app, web, d3):
    cid = create_via_form(web, ".d3security", d3_fields(d3.intake_url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert "Test event from Switchboard" in detail and '<option value="test" selected>' in detail

    result = Api.with_key(app).execute(cid, D3.test_params).get_json()

    assert result["status"] == "ok"
    assert d3.received[-1].source["rawData"] == {"message": "Test event from Switchboard"}


@pytest.mark.parametrize(
    ("body", "raw_data"),
    [
        ("plain words, not JSON", "plain words, not JSON"),
        ('{"score": NaN}', '{"score": NaN}'),  # JSON.parse refuses NaN, so it travels as text
        ('"a JSON string"', "a JSON string"),
        ("[1, 2]", [1, 2]),
        ("", ""),
        (None, ""),
    ],
)
def test_a_body_that_is_not_a_json_object_is_sent_as_it_parses(app, d3, body, raw_data):
    params = {} if body is None else {"body": body}
    _, result = run_api(app, d3.intake_url, **params)

    assert result["status"] == "ok"
    assert d3.received[-1].source["rawData"] == raw_data


# ---- params -----------------------------------------------------------------------------------------------


def test_an_unknown_sub_action_is_refused_with_kibanas_text(app, d3):
    cid, result = run_api(app, d3.intake_url, "pushToService", body="{}")

    assert result["message"] == (f'Sub action "pushToService" is not registered. Connector id: {cid}. '
                                 "Connector name: d3. Connector type: .d3security")
    assert d3.received == []


def test_unknown_params_fail_request_validation(app, d3):
    _, result = run_api(app, d3.intake_url, body="{}", priority="P1")

    assert result["status"] == "error"
    assert result["message"].startswith("Request validation failed ([priority]: Extra inputs")
    assert d3.received == []


# ---- errors: the sub-action framework's words -------------------------------------------------------------


def test_wrong_key_is_an_unauthorized_api_error_and_final(app, web, d3):
    page, event = run_stored(app, web, d3.intake_url, token="not-the-key")

    assert GENERIC_ERROR in page
    assert "Status code: 401. Message: Unauthorized API Error" in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_an_empty_key_is_sent_and_refused(app, d3):
    api = Api.with_key(app)
    cid = api_connector(api, d3.intake_url, token="")

    result = api.execute(cid, {"subAction": "run", "subActionParams": {"body": "{}"}}).get_json()

    assert d3.received[-1].headers[KEY_HEADER] == ""
    assert result["service_message"] == "Status code: 401. Message: Unauthorized API Error"


def test_a_wrong_url_names_the_status_and_its_reason(app, d3):
    _, result = run_api(app, d3.url + "/elasticsearch/VSOC/api/Data/Kibana/Nowhere/CreateEvents", body="{}")

    assert result == {**result, "status": "error", "message": GENERIC_ERROR, "retry": False,
                      "service_message": "Status code: 404. Message: API Error: 404 - Not Found"}


def test_throttling_asks_for_a_retry(app, web, d3):
    d3.throttle(retry_after="1")

    page, event = run_stored(app, web, d3.intake_url)

    # The sub-action framework reads no Retry-After: the task's own backoff decides when.
    assert "Status code: 429. Message: API Error: 429 - Too Many Requests" in page
    assert (event.retry, event.http_status) == ("true", 429)


def test_a_server_error_asks_for_a_retry(app, d3):
    d3.outage()

    _, result = run_api(app, d3.intake_url, body="{}")

    assert (result["message"], result["retry"]) == (GENERIC_ERROR, True)
    assert result["service_message"] == "Status code: 500. Message: API Error: 500 - Internal Server Error"


def test_a_refused_connection_is_an_unknown_api_error_worth_retrying(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}{INTAKE_PATH}")

    assert GENERIC_ERROR in page
    assert "Status code: undefined. Message: Unknown API Error" in page  # Kibana's D3 text
    assert "connection to http://127.0.0.1:" in page  # and the trace says what happened
    assert (event.retry, event.http_status) == ("true", None)


@pytest.mark.parametrize(
    ("status", "answer", "detail"),
    [
        (200, {"result": "success"}, "[refid]: expected value of type [string] but got [undefined]"),
        (200, {"refid": 1001}, "[refid]: expected value of type [string] but got [number]"),
        (200, {"refid": None}, "[refid]: expected value of type [string] but got [null]"),
        (200, "<html><body>Event received</body></html>", "Response is not a valid JSON"),
        (201, '["EVT-1"]', "Response is not a valid JSON object"),
    ],
)
def test_an_answer_without_a_string_refid_fails_response_validation(app, d3, status, answer, detail):
    d3.answer_next(status, answer)

    _, result = run_api(app, d3.intake_url, body="{}")

    assert result["status"] == "error" and result["message"] == GENERIC_ERROR
    assert result["service_message"] == f"Response validation failed ({detail})"
    assert result["retry"] is False


# ---- the URL ---------------------------------------------------------------------------------------------


def test_a_url_outside_the_allowed_hosts_is_refused_with_the_frameworks_prefix(tmp_path, d3):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("d3.example.com",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.d3security", data=d3_fields(d3.intake_url))

    assert response.status_code == 422
    assert ('error validating url: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert d3.received == []


def test_a_url_that_is_not_http_is_refused(web):
    response = web.post("/connectors/new/.d3security", data=d3_fields("ftp://d3.example.com/intake"))

    assert response.status_code == 422
    assert "must be an http(s) URL with a host" in html.unescape(response.get_data(as_text=True))


# ---- secrets ----------------------------------------------------------------------------------------------


def test_the_key_is_sent_but_never_shown_in_the_pane_or_the_event_log(app, web, d3, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".d3security", d3_fields(d3.intake_url))
    d3.answer_next(500, {"Message": f"Key {TOKEN} is disabled."})  # a service that echoes the secret

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.d3security/test",
                       data={**d3_fields(d3.intake_url), "params.__present": "1", "params.subAction": "test",
                             "params.sub.body": "{}"},
                       htmx=True).get_data(as_text=True)

    assert [r.headers[KEY_HEADER] for r in d3.received] == [TOKEN, TOKEN]
    assert "d3key" in page  # header names are shown
    assert "Key •••••• is disabled." in page
    assert_secret_kept_out(app, web, TOKEN, cid, page, unsaved, log=caplog.text)


def test_connector_is_created_through_the_form_without_its_key_in_config(app, web, d3):
    cid = create_via_form(web, ".d3security", d3_fields(d3.intake_url, name="D3 SOAR"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "D3 SOAR", ".d3security")
    assert connector.config == {"url": d3.intake_url}
    assert connector.secret_fields == {"token": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"url": d3.intake_url} and "secrets" not in shown


def test_a_blank_key_on_edit_keeps_the_stored_one(app, web, d3):
    cid = create_via_form(web, ".d3security", d3_fields(d3.intake_url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=d3_fields(d3.intake_url, token="", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    assert d3.received[-1].headers[KEY_HEADER] == TOKEN
    assert connectors(app)[0].name == "renamed"


# ---- the type in the API ----------------------------------------------------------------------------------


def test_d3_security_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".d3security"] == {
        **types[".d3security"], "name": "D3 Security", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "siem", "workflows", "agentBuilder"], "is_system_action_type": False,
    }
