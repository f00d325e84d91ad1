"""The `.pagerduty` type end to end, against the fake Events API v2: the test pane and `_execute` post
Kibana's event body with the routing key in `X-Routing-Key`; acknowledge and resolve need a dedup key;
every failure is Kibana's "error posting pagerduty event" text with PagerDuty's own words beside it."""

from __future__ import annotations

import html
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.settings import OutboundSettings
from app.types import get_type
from tests.api_client import Api
from tests.browser import drives_browser, post_create
from tests.conftest import Browserish, make_app
from tests.fakes.pagerduty import ENQUEUE, ROUTING_KEY, FakePagerDuty
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events, pane_data

PAGERDUTY = get_type(".pagerduty")
UNEXPECTED = "error posting pagerduty event: unexpected status {}"


@pytest.fixture
def pagerduty():
    with FakePagerDuty() as fake:
        yield fake


def pagerduty_fields(url: str, key: str = ROUTING_KEY, name: str = "on-call") -> dict:
    return {"name": name, "config.apiUrl": url, "secrets.routingKey": key}


def run_test_pane(web, connector_id: str, params: dict | None = None) -> str:
    response = web.post(f"/connectors/{connector_id}/test", data=pane_data(PAGERDUTY, params), htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_stored(app, web, url: str, *, key: str = ROUTING_KEY):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(url, key))
    return run_test_pane(web, cid), events(app)[-1]


def execute(app, url: str, params: dict, key: str = ROUTING_KEY) -> tuple[str, dict]:
    """Create a connector through the REST API and `_execute` it: its id and the run's result."""
    api = Api.with_key(app)
    body = {"name": "on-call", "connector_type_id": ".pagerduty", "config": {"apiUrl": url},
            "secrets": {"routingKey": key}}
    cid = api.created(body)["id"]
    return cid, api.execute(cid, params).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- success ------------------------------------------------------------------------------------------


def test_test_pane_triggers_an_event_with_the_routing_key_in_its_header(app, web, pagerduty):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url))

    page = run_test_pane(web, cid)

    got = pagerduty.received[-1]
    assert (got.method, got.path) == ("POST", ENQUEUE)
    assert got.headers["X-Routing-Key"] == ROUTING_KEY
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {  # Kibana's body: no routing_key in it
        "event_action": "trigger",
        "payload": {"summary": "Test event from Switchboard", "source": f"Kibana Action {cid}", "severity": "info"},
    }
    assert 'data-status="ok"' in page and "202 Accepted" in page
    assert '"message": "Event processed"' in page and '"dedup_key"' in page
    event = events(app)[-1]
    assert (event.connector_type_id, event.status, event.http_status) == (".pagerduty", "ok", 202)


def test_no_params_send_kibanas_defaults_and_return_pagerdutys_answer(app, pagerduty):
    cid, result = execute(app, pagerduty.enqueue_url, {})

    assert pagerduty.received[-1].json == {
        "event_action": "trigger",
        "payload": {"summary": "No summary provided.", "source": f"Kibana Action {cid}", "severity": "info"},
    }
    assert result["status"] == "ok"
    assert result["data"]["status"] == "success" and result["data"]["message"] == "Event processed"
    assert len(result["data"]["dedup_key"]) == 32  # PagerDuty made one: a trigger without a key is a new alert


def test_a_full_trigger_carries_every_payload_field_and_the_links(app, pagerduty):
    params = {
        "eventAction": "trigger", "dedupKey": "db-primary-down", "summary": "Primary database is down",
        "source": "db-01.example.com", "severity": "critical", "timestamp": "1963-09-23T01:23:45Z",
        "component": "postgres", "group": "prod-datapipe", "class": "availability",
        "customDetails": {"ping time": "1500ms", "load avg": 0.75, "replicas": ["db-02"]},
        "links": [{"href": "https://status.example.com", "text": "Status page"}],
    }

    _, result = execute(app, pagerduty.enqueue_url, params)

    assert result["status"] == "ok" and result["data"]["dedup_key"] == "db-primary-down"
    assert pagerduty.received[-1].json == {
        "event_action": "trigger",
        "dedup_key": "db-primary-down",
        "payload": {
            "summary": "Primary database is down", "source": "db-01.example.com", "severity": "critical",
            "timestamp": "1963-09-23T01:23:45.000Z", "component": "postgres", "group": "prod-datapipe",
            "class": "availability", "custom_details": {"ping time": "1500ms", "load avg": 0.75, "replicas": ["db-02"]},
        },
        "links": [{"href": "https://status.example.com", "text": "Status page"}],
    }


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_send_only_the_action_and_the_dedup_key(app, pagerduty, action):
    params = {"eventAction": action, "dedupKey": "db-primary-down", "summary": "ignored", "severity": "critical",
              "timestamp": "2025-01-31T09:30:00Z", "customDetails": {"a": 1}, "links": [{"href": "h", "text": "t"}]}

    _, result = execute(app, pagerduty.enqueue_url, params)

    assert result["status"] == "ok"
    assert pagerduty.received[-1].json == {"event_action": action, "dedup_key": "db-primary-down"}


@pytest.mark.parametrize(
    ("timestamp", "sent"),
    [
        ("2011-05-06T03:30-07", "2011-05-06T10:30:00.000Z"),
        ("2015-07-17T08:42:58.315+0000", "2015-07-17T08:42:58.315Z"),
        ("   1963-09-23 01:23:45  ", "1963-09-23T01:23:45.000Z"),  # trimmed; no offset is read as UTC
        ("2011-05-06", "2011-05-06T00:00:00.000Z"),
        ("1725880672", "1970-01-20T23:24:40.672Z"),  # a plain integer is epoch milliseconds, as in Kibana
        ("Mon, 23 Sep 1963 01:23:45 GMT", "1963-09-23T01:23:45.000Z"),
        ("", None),
        ("   ", None),
        ("0", None),  # epoch 0 is falsy to Kibana's executor: no timestamp is sent
    ],
)
def test_the_timestamp_is_sent_as_an_iso_date_in_utc(app, pagerduty, timestamp, sent):
    _, result = execute(app, pagerduty.enqueue_url, {"summary": "s", "timestamp": timestamp})

    assert result["status"] == "ok"
    assert pagerduty.received[-1].json["payload"].get("timestamp") == sent


def test_custom_details_given_as_json_text_are_sent_as_an_object(app, pagerduty):
    _, result = execute(app, pagerduty.enqueue_url, {"customDetails": '{"region": "eu-west-1", "pods": 3}'})

    assert result["status"] == "ok"
    assert pagerduty.received[-1].json["payload"]["custom_details"] == {"region": "eu-west-1", "pods": 3}


def test_the_test_pane_sends_custom_details_links_and_class_typed_in_the_form(app, web, pagerduty):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url))
    form = {**pane_data(PAGERDUTY, {"summary": "Disk almost full", "severity": "warning"}),
            "params.class_": "disk", "params.component": "sda1",
            "params.customDetails": '{"used": "97%"}',
            "params.links": '[{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"}]'}

    response = web.post(f"/connectors/{cid}/test", data=form, htmx=True)

    assert 'data-status="ok"' in response.get_data(as_text=True)
    sent = pagerduty.received[-1].json
    assert sent["payload"] == {"summary": "Disk almost full", "source": f"Kibana Action {cid}", "severity": "warning",
                               "component": "sda1", "class": "disk", "custom_details": {"used": "97%"}}
    assert sent["links"] == [{"href": "https://grafana.example.com/d/disk", "text": "Dashboard"}]


def test_a_blank_api_url_posts_to_pagerdutys_own_endpoint(tmp_path, pagerduty):
    # Only 127.0.0.1 is allowed, so the outbound client refuses the default host before any connection.
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
    web = Browserish(app.test_client())
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(""))

    page = run_test_pane(web, cid)

    assert connectors(app)[0].config.get("apiUrl") is None
    assert "error posting pagerduty event" in page
    assert '[host_not_allowed] target hostname "events.pagerduty.com"' in page
    assert pagerduty.received == []


# ---- errors, with Kibana's words -------------------------------------------------------------------------


def test_a_wrong_routing_key_is_pagerdutys_invalid_event_and_final(app, web, pagerduty):
    page, event = run_stored(app, web, pagerduty.enqueue_url, key="0" * 32)

    assert UNEXPECTED.format(400) in page
    assert "[400] Bad Request: Event object is invalid: Invalid routing key" in page
    assert (event.status, event.retry, event.http_status) == ("error", "false", 400)


def test_an_empty_routing_key_is_sent_and_refused_by_pagerduty(app, pagerduty):
    # Kibana's schema takes an empty key (only its form insists on one); PagerDuty refuses it.
    _, result = execute(app, pagerduty.enqueue_url, {}, key="")

    assert pagerduty.received[-1].headers["X-Routing-Key"] == ""
    assert result == {
        "connector_id": result["connector_id"], "status": "error", "message": UNEXPECTED.format(400),
        "service_message": "[400] Bad Request: Event object is invalid: 'routing_key' is missing or blank",
        "retry": False,
    }


@pytest.mark.parametrize(("status", "body"), [
    (401, {"status": "unauthorized", "message": "Unauthorized"}),
    (403, {"status": "forbidden", "message": "Forbidden"}),
    (200, {"status": "success", "message": "Event processed"}),  # only 202 is success to Kibana
])
def test_any_other_status_is_unexpected_and_final(app, pagerduty, status, body):
    pagerduty.answer_next(status, body)

    _, result = execute(app, pagerduty.enqueue_url, {})

    assert (result["status"], result["message"], result["retry"]) == ("error", UNEXPECTED.format(status), False)
    assert result["service_message"].startswith(f"[{status}] ")


def test_an_api_url_pagerduty_does_not_serve_is_unexpected_404(app, web, pagerduty):
    page, event = run_stored(app, web, pagerduty.url + "/v1/enqueue")

    assert UNEXPECTED.format(404) in page
    assert "[404] Not Found: Not Found" in page
    assert event.retry == "false"


def test_throttling_with_retry_after_retries_at_that_date(app, web, pagerduty):
    pagerduty.throttle(retry_after="120")
    before = datetime.now(UTC)

    page, event = run_stored(app, web, pagerduty.enqueue_url)

    assert "error posting pagerduty event: http status 429, retry later" in page
    assert "[429] Too Many Requests: Requests for this service are arriving too quickly" in page
    when = datetime.fromisoformat(event.retry.replace("Z", "+00:00"))
    assert before + timedelta(seconds=115) <= when <= datetime.now(UTC) + timedelta(seconds=125)
    assert f"Retry: {event.retry}" in page


def test_throttling_without_retry_after_retries_later(app, pagerduty):
    pagerduty.throttle()

    _, result = execute(app, pagerduty.enqueue_url, {})

    assert (result["message"], result["retry"]) == ("error posting pagerduty event: http status 429, retry later", True)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_later(app, web, pagerduty, status):
    pagerduty.outage(status)

    page, event = run_stored(app, web, pagerduty.enqueue_url)

    assert f"error posting pagerduty event: http status {status}, retry later" in page
    assert "internal server error" in page
    assert (event.retry, event.http_status) == ("true", status)


def test_a_refused_connection_is_a_posting_error_worth_retrying(app, web):
    page, event = run_stored(app, web, f"http://127.0.0.1:{free_port()}{ENQUEUE}")

    assert "error posting pagerduty event" in page
    assert "[connection_refused]" in page
    assert (event.status, event.retry, event.http_status) == ("error", "true", None)


# ---- params refused before anything is sent ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize("dedup_key", [None, ""])
def test_acknowledge_and_resolve_need_a_dedup_key(app, pagerduty, action, dedup_key):
    params = {"eventAction": action} | ({"dedupKey": dedup_key} if dedup_key is not None else {})

    _, result = execute(app, pagerduty.enqueue_url, params)

    assert result["status"] == "error"
    assert result["message"] == f'error validating action params: DedupKey is required when eventAction is "{action}"'
    assert pagerduty.received == []


def test_the_test_pane_shows_the_missing_dedup_key_in_the_result(app, web, pagerduty):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url))

    page = run_test_pane(web, cid, {"eventAction": "resolve"})

    assert 'error validating action params: DedupKey is required when eventAction is "resolve"' in page
    assert pagerduty.received == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timestamp": "1963-09-55 90:23:45"}, 'error parsing timestamp "1963-09-55 90:23:45"'),
        ({"timestamp": "yesterday-ish"}, 'error parsing timestamp "yesterday-ish"'),
        ({"eventAction": "ackynollage"}, "[eventAction]: Input should be 'trigger', 'resolve' or 'acknowledge'"),
        ({"severity": "high"}, "[severity]: Input should be 'critical', 'error', 'warning' or 'info'"),
        ({"summary": "x" * 1025}, "[summary]: String should have at most 1024 characters"),
        ({"dedupKey": "k" * 256}, "[dedupKey]: String should have at most 255 characters"),
        ({"customDetails": "{not json"}, "[customDetails]: Expecting property name enclosed in double quotes"),
        ({"customDetails": "[1, 2]"}, "[customDetails]: Input should be a valid dictionary"),
        ({"links": [{"href": "https://x.example"}]}, "[links.0.text]: Field required"),
        ({"routing_key": "abc"}, "[routing_key]: Extra inputs are not permitted"),
    ],
)
def test_params_kibana_refuses_are_refused_with_its_words(app, pagerduty, params, message):
    _, result = execute(app, pagerduty.enqueue_url, params)

    assert result["status"] == "error"
    assert result["message"].startswith(f"error validating action params: {message}")
    assert pagerduty.received == []


def test_an_invalid_timestamp_on_resolve_is_still_refused(app, pagerduty):
    # Kibana checks the timestamp whatever the action, and says so before the missing dedup key.
    _, result = execute(app, pagerduty.enqueue_url, {"eventAction": "resolve", "timestamp": "never"})

    assert result["message"] == 'error validating action params: error parsing timestamp "never"'


# ---- config and secrets -------------------------------------------------------------------------------------


def test_an_unparseable_api_url_is_refused_in_pagerdutys_words(web):
    response = web.post("/connectors/new/.pagerduty", data=pagerduty_fields("events.pagerduty.com/v2/enqueue"))

    assert response.status_code == 422
    assert "error configuring pagerduty action: unable to parse url" in html.unescape(response.get_data(as_text=True))


def test_an_api_url_outside_the_allowed_hosts_is_refused_at_save(tmp_path, pagerduty):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("events.pagerduty.com",)))

    response = Api.with_key(app).create({"name": "pd", "connector_type_id": ".pagerduty",
                                         "config": {"apiUrl": pagerduty.enqueue_url},
                                         "secrets": {"routingKey": ROUTING_KEY}})

    assert response.status_code == 400
    assert ('error configuring pagerduty action: target hostname "127.0.0.1" is not in the allowed hosts list'
            in response.get_json()["message"])


def test_a_routing_key_is_required_when_created(web, pagerduty):
    response = web.post("/connectors/new/.pagerduty", data=pagerduty_fields(pagerduty.enqueue_url, key=""))

    assert response.status_code == 422


def test_connector_is_created_through_the_form_with_the_key_kept_secret(app, web, pagerduty):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url, name="Payments on-call"))

    (connector,) = connectors(app)
    assert (connector.id, connector.name, connector.connector_type_id) == (cid, "Payments on-call", ".pagerduty")
    assert connector.config == {"apiUrl": pagerduty.enqueue_url}
    assert connector.secret_fields == {"routingKey": True}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"] == {"apiUrl": pagerduty.enqueue_url} and "secrets" not in shown


def test_a_blank_routing_key_on_edit_keeps_the_stored_one(app, web, pagerduty):
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url))
    assert ROUTING_KEY not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=pagerduty_fields(pagerduty.enqueue_url, key="", name="renamed"))
    page = run_test_pane(web, cid)

    assert edit.status_code == 303
    assert 'data-status="ok"' in page
    assert pagerduty.received[-1].headers["X-Routing-Key"] == ROUTING_KEY
    assert connectors(app)[0].name == "renamed"


def test_the_routing_key_never_shows_in_pages_logs_or_events(app, web, pagerduty, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".pagerduty", pagerduty_fields(pagerduty.enqueue_url))
    pagerduty.routing_key, pagerduty.echo_key = "f" * 32, True  # refuses the key and repeats it back

    page = run_test_pane(web, cid)
    unsaved = web.post("/connectors/new/.pagerduty/test",
                       data={**pagerduty_fields(pagerduty.enqueue_url), **pane_data(PAGERDUTY)},
                       htmx=True).get_data(as_text=True)

    assert [r.headers["X-Routing-Key"] for r in pagerduty.received] == [ROUTING_KEY, ROUTING_KEY]
    assert "X-Routing-Key" in page  # header names are shown
    assert "Invalid routing key (••••••)" in page
    assert_secret_kept_out(app, web, ROUTING_KEY, cid, page, unsaved, log=caplog.text)


def test_pagerduty_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".pagerduty"] == {
        **types[".pagerduty"], "name": "PagerDuty", "enabled": True, "minimum_license_required": "gold",
        "supported_feature_ids": ["alerting", "uptime", "siem", "workflows"], "is_system_action_type": False,
    }


# ---- the test pane in a browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pagerduty_for_browser():
    with FakePagerDuty() as fake:
        yield fake


@drives_browser
def test_the_test_pane_fields_follow_the_event_action(page, live, pagerduty_for_browser):
    fake = pagerduty_for_browser
    cid = post_create(page, live, ".pagerduty", pagerduty_fields(fake.enqueue_url, name="Browser on-call"))
    page.goto(f"{live.url}/connectors/{cid}")
    action, dedup_key = page.get_by_label("Event action"), page.get_by_label("DedupKey")
    payload = [page.get_by_label(label, exact=True) for label in
               ("Summary", "Severity", "Timestamp", "Component", "Group", "Source", "Class", "Custom details", "Links")]

    # A trigger: the payload fields, and the dedup key (optional on a trigger, as in Kibana).
    expect(page.get_by_label("Summary", exact=True)).to_have_value("Test event from Switchboard")
    for field in (dedup_key, *payload):
        expect(field).to_be_visible()

    action.select_option("resolve")
    expect(dedup_key).to_be_visible()
    for field in payload:
        expect(field).to_be_hidden()

    # Without a dedup key the run is refused with Kibana's message, and nothing reaches PagerDuty.
    sent_before = len(fake.received)
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "error")
    expect(result).to_contain_text('DedupKey is required when eventAction is "resolve"')
    assert len(fake.received) == sent_before

    dedup_key.fill("checkout-latency-7")
    page.get_by_role("button", name="Run test").click()
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("202 Accepted")
    assert fake.received[-1].json == {"event_action": "resolve", "dedup_key": "checkout-latency-7"}
    assert fake.received[-1].headers["X-Routing-Key"] == ROUTING_KEY

    action.select_option("trigger")
    for field in payload:
        expect(field).to_be_visible()
