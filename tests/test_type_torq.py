"""The `.torq` type end to end, against the fake Torq webhook: the test pane and `_execute` post the body
with the integration's token header; every failure is a clear error with Kibana's words and retry flag."""

from __future__ import annotations

import html
import json
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest

from app.settings import OutboundSettings
from app.types import get_type
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.torq import INTEGRATION_ID, TOKEN, TOKEN_HEADER, FakeTorq
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events

TORQ = get_type(".torq")
NOT_A_TORQ_URL = (
    "error configuring send to Torq action: url must begin with https://hooks.torq.io or https://hooks.eu.torq.io"
)


@pytest.fixture
def torq():
    with FakeTorq() as fake:
        yield fake


def torq_fields(url: str, token: str = TOKEN, name: str = "torq") -> dict:
    return {"name": name, "config.webhookIntegrationUrl": url, "secrets.token": token}


def run_test_pane(web, connector_id: str, body: str = '{"alert": {"id": "a-1"}}') -> str:
    response = web.post(f"/connectors/{connector_id}/test", data={"params.__present": "1", "params.body": body},
                        htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str, *, token: str = TOKEN, body: str = '{"alert": {"id": "a-1"}}'):
    cid = create_via_form(web, ".torq", torq_fields(url, token))
    return run_test_pane(web, cid, body), events(app)[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_connector(api: Api, url: str, token: str = TOKEN) -> str:
    body = {"name": "torq", "connector_type_id": ".torq", "config": {"webhookIntegrationUrl": url},
            "secrets": {"token": token}}
    return api.created(body)["id"]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_posts_the_json_body_with_the_token_header(app, web, torq):
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url))

    page = run_test_pane(web, cid, '{"alert": {"id": "a-1", "severity": "high"}, "rule": {"name": "r"}}')

    got = torq.received[-1]
    assert (got.method, got.path) == ("POST", f"/v1/webhooks/{INTEGRATION_ID}")
    assert got.headers[TOKEN_HEADER] == TOKEN
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"alert": {"id": "a-1", "severity": "high"}, "rule": {"name": "r"}}
    assert 'data-status="ok"' in page and "200 OK" in page
    assert '"event_id"' in page  # Torq's answer, shown in the exchange
    event = events(app)[-1]
    assert (event.connector_type_id, event.status, event.http_status) == (".torq", "ok", 200)


def test_the_prefilled_test_body_runs_and_is_the_result_data(app, web, torq):
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '"name": "Test from Switchboard"' in detail  # test_params prefill the pane

    response = Api.with_key(app).execute(cid, TORQ.test_params)

    assert response.get_json() == {"connector_id": cid, "status": "ok", "data": TORQ.test_params["body"]}
    assert torq.received[-1].json == json.loads(TORQ.test_params["body"])


def test_an_empty_body_is_sent_as_json_null(app, torq):
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url)

    result = api.execute(cid, {"body": ""}).get_json()

    assert result["status"] == "ok"
    assert torq.received[-1].body == b"null"


# ---- errors, with Kibana's words ------------------------------------------------------------------------


def test_wrong_token_is_unauthorised_and_final(app, web, torq):
    page, event = run_stored(app, web, torq.webhook_url, token="not-the-token")

    assert "error triggering Torq workflow, unauthorised" in page
    assert "[401] Unauthorized: invalid webhook authentication header" in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_an_empty_token_is_sent_as_an_empty_header_and_refused(app, torq):
    # Kibana's schema takes an empty token and sends `X-Torq-Token: `; only its form insists on one.
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url, token="")

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert torq.received[-1].headers[TOKEN_HEADER] == ""
    assert result["message"] == "error triggering Torq workflow, unauthorised"
    assert result["retry"] is False


def test_unknown_webhook_asks_to_check_the_url(app, web, torq):
    page, event = run_stored(app, web, torq.hook_url("00000000-0000-0000-0000-000000000000"))

    assert "error triggering Torq workflow, make sure the webhook URL is valid" in page
    assert "[404] Not Found: webhook not found" in page
    assert event.retry == "false"


def test_method_not_allowed_says_the_method_is_not_supported(app, web, torq):
    torq.answer_next(405, {"message": "method not allowed"}, {"Allow": "GET, OPTIONS"})

    page, event = run_stored(app, web, torq.webhook_url)

    assert "error triggering Torq workflow, method is not supported" in page
    assert "[405] Method Not Allowed: method not allowed" in page
    assert event.retry == "false"


def test_other_client_errors_are_an_invalid_response(app, torq):
    torq.answer_next(400, {"message": "payload too deeply nested"})
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url)

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert result == {
        "connector_id": cid, "status": "error", "message": "error triggering Torq workflow, invalid response",
        "service_message": "[400] Bad Request: payload too deeply nested", "retry": False,
    }


def test_throttling_with_retry_after_says_when_to_retry(app, web, torq):
    torq.throttle(retry_after="120")
    before = datetime.now(UTC)

    page, event = run_stored(app, web, torq.webhook_url)

    assert "error triggering Torq workflow, retry at " + event.retry in page
    assert "[429] Too Many Requests: rate limit exceeded, please retry later" in page
    when = datetime.fromisoformat(event.retry.replace("Z", "+00:00"))
    assert before + timedelta(seconds=115) <= when <= datetime.now(UTC) + timedelta(seconds=125)


def test_throttling_without_retry_after_retries_later(app, torq):
    torq.throttle(retry_after=None)
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url)

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert (result["message"], result["retry"]) == ("error triggering Torq workflow, retry later", True)


def test_server_error_retries_later_with_the_service_message(app, web, torq):
    torq.outage(503)

    page, event = run_stored(app, web, torq.webhook_url)

    assert "error triggering Torq workflow, retry later" in page
    assert "[503] Service Unavailable: service temporarily unavailable" in page
    assert (event.retry, event.http_status) == ("true", 503)


def test_refused_connection_is_a_failed_request_worth_retrying(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}/v1/webhooks/{INTEGRATION_ID}")

    assert "error triggering Torq workflow, request failed" in page
    assert "[connection_refused]" in page
    assert (event.retry, event.http_status) == ("true", None)


@pytest.mark.parametrize(
    ("body", "service_message"),
    [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ('{"alert": ', "Expecting value: line 1 column 11 (char 10)"),
        ('{"score": NaN}', "NaN is not valid JSON"),
    ],
)
def test_a_body_that_is_not_json_is_refused_before_calling_torq(app, torq, body, service_message):
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url)

    result = api.execute(cid, {"body": body}).get_json()

    assert result["status"] == "error"
    assert result["message"] == "error triggering Torq workflow, invalid body"
    assert result["service_message"] == service_message
    assert torq.received == []


def test_the_test_pane_asks_for_json_before_running(app, web, torq):
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url))

    response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": "not json"},
                        htmx=True)

    assert response.status_code == 422
    assert "Invalid JSON: Expecting value (line 1, column 1)." in html.unescape(response.get_data(as_text=True))
    assert torq.received == []  # nothing is sent; the refusal is a failed run, logged (one rule for every type)
    (event,) = events(app)
    assert event.status == "error" and event.message.startswith("error validating action params: [body]: Invalid JSON")


def test_params_other_than_body_are_refused(app, torq):
    api = Api.with_key(app)
    cid = api_connector(api, torq.webhook_url)

    result = api.execute(cid, {"body": "{}", "method": "put"}).get_json()

    assert result["status"] == "error"
    assert result["message"].startswith("error validating action params: [method]: Extra inputs")
    assert torq.received == []


# ---- the URL rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.torq.io/v1/webhooks/af6aab8d-0b1e-4c6f-9d1a-74259a93b18f",
        "https://hooks.eu.torq.io/v1/webhooks/af6aab8d-0b1e-4c6f-9d1a-74259a93b18f",
        "https://HOOKS.TORQ.IO/v1/webhooks/x",
        "http://localhost:8080/v1/webhooks/x",
        "http://127.0.0.1:8080/v1/webhooks/x",  # our reading of Kibana's localhost: its loopback address too
        "http://[::1]:8080/v1/webhooks/x",
    ],
)
def test_torq_hooks_hosts_and_this_machine_are_accepted(url):
    config, _ = TORQ.validate_connector({"webhookIntegrationUrl": url}, {"token": TOKEN}, allowed_hosts=("*",))
    assert config.webhookIntegrationUrl == url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/v1/webhooks/x",
        "https://torq.io/v1/webhooks/x",
        "https://hooks.us.torq.io/v1/webhooks/x",
        "https://hooks.torq.io.example.com/v1/webhooks/x",
        "https://evil.hooks.torq.io/v1/webhooks/x",
        "http://10.0.0.1/v1/webhooks/x",
    ],
)
def test_other_hosts_are_refused_with_kibanas_message(web, url):
    response = web.post("/connectors/new/.torq", data=torq_fields(url))

    assert response.status_code == 422
    assert NOT_A_TORQ_URL in html.unescape(response.get_data(as_text=True))


def test_the_api_refuses_other_hosts_with_kibanas_message(app):
    response = Api.with_key(app).create({"name": "torq", "connector_type_id": ".torq",
                                         "config": {"webhookIntegrationUrl": "https://hooks.example.com/x"},
                                         "secrets": {"token": TOKEN}})

    assert response.status_code == 400
    assert NOT_A_TORQ_URL in response.get_json()["message"]


def test_localhost_reaches_a_torq_on_this_machine(app, web, torq):
    page, _ = run_stored(app, web, f"http://localhost:{torq.port}/v1/webhooks/{INTEGRATION_ID}")

    assert 'data-status="ok"' in page
    assert torq.received[-1].headers["Host"] == f"localhost:{torq.port}"


def test_a_host_outside_the_allowed_hosts_is_refused_first_with_torqs_prefix(tmp_path, torq):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("hooks.torq.io",)))
    web = Browserish(app.test_client())

    response = web.post("/connectors/new/.torq", data=torq_fields(torq.webhook_url))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert ('error configuring send to Torq action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in page)
    assert torq.received == []


def test_an_unparseable_url_is_refused(web):
    response = web.post("/connectors/new/.torq", data=torq_fields("hooks.torq.io/v1/webhooks/x"))

    assert response.status_code == 422
    assert "must be an http(s) URL with a host" in html.unescape(response.get_data(as_text=True))


# ---- secrets ----------------------------------------------------------------------------------------------


def test_the_token_is_sent_but_never_shown_in_the_pane_or_the_event_log(app, web, torq, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url))
    torq.answer_next(401, {"message": f"token {TOKEN} was revoked"})  # a service that echoes the secret

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.torq/test",
                       data={**torq_fields(torq.webhook_url), "params.__present": "1", "params.body": "{}"},
                       htmx=True).get_data(as_text=True)

    assert [r.headers[TOKEN_HEADER] for r in torq.received] == [TOKEN, TOKEN]
    assert TOKEN_HEADER in page  # header names are shown
    assert "token •••••• was revoked" in page
    assert_secret_kept_out(app, web, TOKEN, cid, page, unsaved, log=caplog.text)


def test_connector_is_created_through_the_form_without_its_token_in_config(app, web, torq):
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url, name="SecOps Torq"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "SecOps Torq", ".torq")
    assert connector.config == {"webhookIntegrationUrl": torq.webhook_url}
    assert connector.secret_fields == {"token": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"webhookIntegrationUrl": torq.webhook_url} and "secrets" not in shown


def test_a_blank_token_on_edit_keeps_the_stored_one(app, web, torq):
    cid = create_via_form(web, ".torq", torq_fields(torq.webhook_url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=torq_fields(torq.webhook_url, token="", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    assert torq.received[-1].headers[TOKEN_HEADER] == TOKEN
    assert connectors(app)[0].name == "renamed"


def test_a_token_is_required_when_created(web, torq):
    response = web.post("/connectors/new/.torq", data=torq_fields(torq.webhook_url, token=""))

    assert response.status_code == 422


# ---- the type in the API ----------------------------------------------------------------------------------


def test_torq_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".torq"] == {
        **types[".torq"], "name": "Torq", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "uptime", "siem", "workflows"], "is_system_action_type": False,
    }
