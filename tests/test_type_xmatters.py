"""The `.xmatters` type end to end, against the fake xMatters HTTP trigger: the signal is posted with basic
auth to the configured URL, or to the secret URL that carries the API key; Kibana's rules pick exactly one
of the two, and every failure is a clear error with Kibana's words and retry flag."""

from __future__ import annotations

import base64
import html
import logging
import socket
import sqlite3

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.kit import InvalidSettings
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.xmatters import API_KEY, PASSWORD, TRIGGER_PATH, USER, FakeXmatters
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

XMATTERS = get_type(".xmatters")
SIGNAL = {"alertActionGroupName": "Threshold met", "signalId": "rule-1:alert-1", "ruleName": "CPU high",
          "date": "2026-12-07T07:00:00.000Z", "severity": "critical", "spaceId": "default", "tags": "prod, cpu"}


@pytest.fixture
def xmatters():
    with FakeXmatters() as fake:
        yield fake


def basic_fields(url: str, user: str = USER, password: str = PASSWORD, name: str = "xmatters") -> dict:
    return {"name": name, "config.usesBasic": ["false", "true"], "config.configUrl": url,
            "secrets.user": user, "secrets.password": password}


def url_fields(secrets_url: str, name: str = "xmatters") -> dict:
    return {"name": name, "config.usesBasic": ["false"], "secrets.secretsUrl": secrets_url}


def run_test_pane(web, connector_id: str, **params) -> str:
    data = {"params.__present": "1", **{f"params.{k}": v for k, v in (params or SIGNAL).items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, fields: dict):
    cid = create_via_form(web, ".xmatters", fields)
    return run_test_pane(web, cid), events(app)[-1]


def basic_connector(url: str, user: str = USER, password: str = PASSWORD) -> dict:
    return {"name": "xmatters", "connector_type_id": ".xmatters", "config": {"usesBasic": True, "configUrl": url},
            "secrets": {"user": user, "password": password}}


def url_connector(secrets_url: str) -> dict:
    return {"name": "xmatters", "connector_type_id": ".xmatters", "config": {"usesBasic": False},
            "secrets": {"secretsUrl": secrets_url}}


def run_api(app, body: dict, params: dict | None = None) -> dict:
    api = Api.with_key(app)
    cid = api.created(body)["id"]
    return api.execute(cid, SIGNAL if params is None else params).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_posts_the_signal_with_basic_auth(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url))

    page = run_test_pane(web, cid)

    got = xmatters.received[-1]
    assert (got.method, got.path) == ("POST", TRIGGER_PATH)
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == SIGNAL
    assert 'data-status="ok"' in page and "202 Accepted" in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.status, event.http_status) == (".xmatters", "ok", 202)


def test_url_authentication_posts_to_the_secret_url_without_credentials(app, xmatters):
    result = run_api(app, url_connector(xmatters.api_key_url()))

    got = xmatters.received[-1]
    assert got.path == TRIGGER_PATH and "Authorization" not in got.headers
    assert result["status"] == "ok"
    assert result["data"] == SIGNAL  # Kibana answers with what it sent


def test_the_prefilled_test_params_run(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert 'value="test-rule:test-alert"' in detail

    result = Api.with_key(app).execute(cid, XMATTERS.test_params).get_json()

    assert result["status"] == "ok"
    assert xmatters.received[-1].json == XMATTERS.test_params


def test_fields_left_out_are_left_out_and_an_empty_severity_is_high(app, xmatters):
    run_api(app, basic_connector(xmatters.trigger_url), {"severity": "low"})
    run_api(app, basic_connector(xmatters.trigger_url), {"severity": "", "signalId": "s-1"})

    assert [r.json for r in xmatters.received] == [{"severity": "low"}, {"severity": "High", "signalId": "s-1"}]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"signalId": "s-1"}, "[severity]: Field required"),
        ({"severity": "high", "priority": "P1"}, "[priority]: Extra inputs are not permitted"),
        ({"severity": "high", "tags": ["a", "b"]}, "[tags]: Input should be a valid string"),
    ],
)
def test_params_are_checked_before_calling_xmatters(app, xmatters, params, detail):
    result = run_api(app, basic_connector(xmatters.trigger_url), params)

    assert result["status"] == "error"
    assert result["message"].startswith(f"error validating action params: {detail}")
    assert xmatters.received == []


# ---- errors, with Kibana's words --------------------------------------------------------------------------


def test_a_wrong_password_is_an_unexpected_status_and_final(app, web, xmatters):
    page, event = run_stored(app, web, basic_fields(xmatters.trigger_url, password="not-the-password"))

    assert "Error triggering xMatters flow: unexpected status 401" in page
    assert "[401] Unauthorized: The request could not be authenticated." in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 401)


def test_a_wrong_api_key_in_the_url_is_refused_the_same_way(app, xmatters):
    result = run_api(app, url_connector(xmatters.api_key_url("revoked-key-1234")))

    assert result == {**result, "status": "error", "message": "Error triggering xMatters flow: unexpected status 401",
                      "retry": False}


def test_an_unknown_trigger_is_an_unexpected_status(app, xmatters):
    result = run_api(app, basic_connector(xmatters.url + "/api/integration/1/functions/nope/triggers"))

    assert result["message"] == "Error triggering xMatters flow: unexpected status 404"
    assert result["service_message"] == ("[404] Not Found: Could not find a trigger at "
                                         "/api/integration/1/functions/nope/triggers")
    assert result["retry"] is False


def test_throttling_asks_for_a_retry_later(app, web, xmatters):
    xmatters.throttle(retry_after="60")

    page, event = run_stored(app, web, basic_fields(xmatters.trigger_url))

    # Kibana's xMatters executor reads no Retry-After: the task's own backoff decides when.
    assert "Error triggering xMatters flow: http status 429, retry later" in page
    assert "[429] Too Many Requests: Rate limit exceeded; retry later." in page
    assert (event.retry, event.http_status) == ("true", 429)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_asks_for_a_retry_later(app, xmatters, status):
    xmatters.outage(status)

    result = run_api(app, basic_connector(xmatters.trigger_url))

    assert (result["message"], result["retry"]) == (f"Error triggering xMatters flow: http status {status}, retry later", True)
    assert result["service_message"].startswith(f"[{status}] ")


def test_a_refused_connection_is_a_failed_workflow_trigger_worth_retrying(app, web):
    page, event = run_stored(app, web, basic_fields(f"http://127.0.0.1:{free_port()}{TRIGGER_PATH}"))

    assert "Error triggering xMatters workflow" in page
    assert "[connection_refused]" in page
    assert (event.retry, event.http_status) == ("true", None)


# ---- Kibana's rules: exactly one way to authenticate ------------------------------------------------------

TRIGGER = "https://company.xmatters.com/api/integration/1/functions/x/triggers"
KEYED = TRIGGER + "?apiKey=abc"


@pytest.mark.parametrize(
    ("config", "secrets", "field", "message"),
    [
        ({"usesBasic": True, "configUrl": TRIGGER}, {}, "secrets.user",
         "Provide either secretsUrl link or user/password to authenticate"),
        ({"usesBasic": False}, {}, "secrets.secretsUrl", "Provide either secretsUrl link or user/password to authenticate"),
        ({"usesBasic": False}, {"secretsUrl": KEYED, "user": "bob"}, "secrets.user",
         "Cannot use user/password for URL authentication. Provide valid secretsUrl or use Basic Authentication."),
        ({"usesBasic": False}, {"secretsUrl": KEYED, "password": "pw"}, "secrets.password",
         "Cannot use user/password for URL authentication. Provide valid secretsUrl or use Basic Authentication."),
        ({"usesBasic": True, "configUrl": TRIGGER}, {"user": "bob"}, "secrets.password", "Both user and password must be specified."),
        ({"usesBasic": True, "configUrl": TRIGGER}, {"password": "pw"}, "secrets.user", "Both user and password must be specified."),
        ({"usesBasic": True, "configUrl": TRIGGER}, {"user": "", "password": "pw"}, "secrets.user",
         "Both user and password must be specified."),
        ({"usesBasic": True}, {"secretsUrl": KEYED}, "secrets.secretsUrl", "secretsUrl should not be provided when usesBasic is true"),
        ({"usesBasic": True}, {"user": "bob", "password": "pw"}, "config.configUrl", "Provide valid configUrl"),
        ({"usesBasic": False, "configUrl": TRIGGER}, {"user": "bob", "password": "pw"}, "secrets.user",
         "Username and password should not be provided when usesBasic is false"),
        ({"usesBasic": False, "configUrl": TRIGGER}, {"secretsUrl": KEYED}, "config.configUrl",
         "configUrl should not be provided when usesBasic is false"),
    ],
)
def test_exactly_one_way_to_authenticate_with_kibanas_messages(config, secrets, field, message):
    with pytest.raises(InvalidSettings) as refused:
        XMATTERS.validate_connector(config, secrets, allowed_hosts=("*",))

    assert refused.value.errors == {field: message}


@pytest.mark.parametrize(
    ("config", "secrets"),
    [
        ({"configUrl": TRIGGER}, {"user": "bob", "password": "pw"}),  # usesBasic defaults to true
        ({"usesBasic": False, "configUrl": None}, {"secretsUrl": KEYED, "user": None, "password": None}),
    ],
)
def test_either_way_alone_is_accepted(config, secrets):
    validated, _ = XMATTERS.validate_connector(config, secrets, allowed_hosts=("*",))

    assert validated.usesBasic is config.get("usesBasic", True)


def test_the_api_refuses_both_ways_at_once_with_kibanas_message(app):
    body = {**basic_connector(TRIGGER), "secrets": {"user": "bob", "password": "pw", "secretsUrl": KEYED}}

    response = Api.with_key(app).create(body)

    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "error validating action type secrets: [user]: Cannot use user/password for URL authentication. "
        "Provide valid secretsUrl or use Basic Authentication.")


def test_an_unparseable_secret_url_is_refused_without_showing_its_key(app, web):
    response = Api.with_key(app).create(url_connector("company.xmatters.com/triggers?apiKey=leaky-key-9"))
    form = web.post("/connectors/new/.xmatters", data=url_fields("company.xmatters.com/triggers?apiKey=leaky-key-9"))

    assert response.status_code == 400
    assert response.get_json()["message"] == "error validating action type secrets: [secretsUrl]: Invalid secretsUrl: TypeError: Invalid URL"
    page = html.unescape(form.get_data(as_text=True))
    assert form.status_code == 422 and "Invalid secretsUrl: TypeError: Invalid URL" in page
    assert "leaky-key-9" not in response.get_data(as_text=True) + page


def test_an_unparseable_config_url_is_refused_with_kibanas_prefix(web):
    response = web.post("/connectors/new/.xmatters", data=basic_fields("company.xmatters.com/triggers"))

    assert response.status_code == 422
    assert "Error configuring xMatters action: unable to parse url" in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("fields", ["basic", "url"])
def test_a_url_outside_the_allowed_hosts_is_refused(tmp_path, xmatters, fields):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("company.xmatters.com",)))
    web = Browserish(app.test_client())
    data = basic_fields(xmatters.trigger_url) if fields == "basic" else url_fields(xmatters.api_key_url())

    response = web.post("/connectors/new/.xmatters", data=data)

    assert response.status_code == 422
    assert ('Error configuring xMatters action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in html.unescape(response.get_data(as_text=True)))
    assert xmatters.received == []


# ---- secrets ----------------------------------------------------------------------------------------------


def test_the_password_is_sent_but_never_shown_in_the_pane_or_the_event_log(app, web, xmatters, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url))
    xmatters.answer_next(401, {"code": 401, "reason": "Unauthorized", "message": f"password {PASSWORD} expired"})

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.xmatters/test",
                       data={**basic_fields(xmatters.trigger_url), "params.__present": "1", "params.severity": "high"},
                       htmx=True).get_data(as_text=True)

    assert len(xmatters.received) == 2
    assert "Authorization" in page  # header names are shown
    assert "password •••••• expired" in page
    assert_secret_kept_out(app, web, PASSWORD, cid, page, unsaved, log=caplog.text)


def test_the_secret_url_and_its_key_are_never_shown(app, web, xmatters, caplog):
    # Not DEBUG: urllib3's own debug line carries the request target, query and all (a kit gap).
    caplog.set_level(logging.INFO)
    cid = create_via_form(web, ".xmatters", url_fields(xmatters.api_key_url()))
    xmatters.answer_next(403, {"code": 403, "reason": "Forbidden", "message": "This user may not run this flow"})

    page = run_test_pane(web, cid)

    assert xmatters.received[-1].path == TRIGGER_PATH  # the key reached xMatters in the query
    assert "[403] Forbidden: This user may not run this flow" in page
    assert_secret_kept_out(app, web, xmatters.api_key_url(), cid, page, log=caplog.text)
    assert_secret_kept_out(app, web, API_KEY, cid, page, log=caplog.text)


def test_a_key_echoed_by_xmatters_is_masked(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", url_fields(xmatters.api_key_url()))
    xmatters.answer_next(403, {"code": 403, "reason": "Forbidden", "message": f"apiKey {API_KEY} may not run this flow"})

    page = run_test_pane(web, cid)

    assert_secret_kept_out(app, web, API_KEY, cid, page)


def test_connector_is_created_through_the_form_with_its_credentials_as_secrets(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url, name="Paging xMatters"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "Paging xMatters", ".xmatters")
    assert connector.config == {"usesBasic": True, "configUrl": xmatters.trigger_url}
    assert connector.secret_fields == {"user": True, "password": True}


def test_a_blank_password_on_edit_keeps_the_stored_one(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url))
    assert PASSWORD not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=basic_fields(xmatters.trigger_url, user="", password="", name="renamed"))
    run_test_pane(web, cid)

    assert edit.status_code == 303
    assert xmatters.received[-1].headers["Authorization"].endswith(base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    assert connectors(app)[0].name == "renamed"


def test_switching_to_url_authentication_needs_the_stored_credentials_removed(app, web, xmatters):
    cid = create_via_form(web, ".xmatters", basic_fields(xmatters.trigger_url))

    kept = web.post(f"/connectors/{cid}/edit", data=url_fields(xmatters.api_key_url()))
    switched = web.post(f"/connectors/{cid}/edit", data={**url_fields(xmatters.api_key_url()),
                                                         "secrets.user.__clear": "1", "secrets.password.__clear": "1"})
    run_test_pane(web, cid)

    assert kept.status_code == 422
    assert ("Cannot use user/password for URL authentication. Provide valid secretsUrl or use Basic Authentication."
            in html.unescape(kept.get_data(as_text=True)))
    assert switched.status_code == 303
    (connector,) = connectors(app)
    assert connector.config["usesBasic"] is False and not connector.config.get("configUrl")
    assert connector.secret_fields == {"secretsUrl": True}
    assert "Authorization" not in xmatters.received[-1].headers


def test_xmatters_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".xmatters"] == {
        **types[".xmatters"], "name": "xMatters", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "siem"], "is_system_action_type": False,
    }


# ---- in the browser ---------------------------------------------------------------------------------------


@pytest.fixture
def live_xmatters():
    with FakeXmatters() as fake:
        yield fake


def live_row(live: LiveServer, sql: str, *args) -> tuple:
    with sqlite3.connect(f"file:{live.instance / 'switchboard.db'}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchone()


@drives_browser
def test_create_a_connector_with_url_authentication_then_test_it(page: Page, live: LiveServer, live_xmatters: FakeXmatters):
    page.goto(f"{live.url}/connectors/new/.xmatters")
    page.get_by_role("textbox", name="Name", exact=True).fill("xMatters by URL")
    basic = page.get_by_label("Basic authentication")
    expect(basic).to_be_checked()  # Kibana's default
    trigger_url = page.get_by_label("Trigger URL", exact=True)
    expect(trigger_url).to_be_visible()
    basic.uncheck()
    expect(trigger_url).to_be_hidden()  # basic auth's URL steps aside (and is not posted)
    page.get_by_label("Trigger URL with API key").fill(live_xmatters.api_key_url())
    page.get_by_role("button", name="Create connector").click()

    expect(page.get_by_role("heading", name="xMatters by URL", level=1)).to_be_visible()
    cid = page.url.rsplit("/", 1)[1]
    config, shape = live_row(live, "SELECT config, secret_fields FROM connectors WHERE id = ?", cid)
    assert '"usesBasic": false' in config and shape == '{"secretsUrl": true}'

    expect(page.get_by_label("Signal id")).to_have_value("test-alert")
    page.get_by_label("Severity").fill("critical")
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("202 Accepted")
    assert live_xmatters.received[-1].json["severity"] == "critical"
    assert "Authorization" not in live_xmatters.received[-1].headers
    assert live_row(live, "SELECT status, http_status FROM events WHERE connector_id = ? ORDER BY id DESC", cid) == ("ok", 202)


@drives_browser
def test_a_basic_auth_connector_created_in_the_browser_sends_its_credentials(
    page: Page, live: LiveServer, live_xmatters: FakeXmatters
):
    cid = post_create(page, live, ".xmatters", {"name": "xMatters basic", "config.usesBasic": "true",
                                                "config.configUrl": live_xmatters.trigger_url,
                                                "secrets.user": USER, "secrets.password": PASSWORD})
    page.goto(f"{live.url}/connectors/{cid}")
    page.get_by_role("button", name="Run test").click()

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    assert live_xmatters.received[-1].headers["Authorization"].startswith("Basic ")
