"""The event log a person trusts: exact times with how long ago, readable durations, filters that keep
each other and survive the pager, and a page per run with its whole record."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from app.db import db
from app.models import Connector, Event
from app.web.events import byte_size, duration, relative, utc_text
from tests.api_client import Api, bearer_webhook, new_api_key, webhook
from tests.browser import create_server_log, create_webhook, csrf_token, drives_browser
from tests.fakes.receiver import Receiver
from tests.helpers import create_via_form, events, webhook_fields
from tests.live_server import LiveServer

ROW_ID = re.compile(r'<tr id="event-(\d+)"')


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def add_event(app, **fields) -> int:
    """An event row written directly, with chosen values (times, sources) no real run would give."""
    values = {"connector_id": "gone", "connector_name": "seeded", "connector_type_id": ".webhook", "source": "test_pane",
              "actor": "admin", "duration_ms": 12.0, "status": "ok", "started_at": datetime.now(UTC)}
    values.update(fields)
    with app.app_context():
        event = Event(**values)
        db.session.add(event)
        db.session.commit()
        return event.id


def shown_ids(web, url: str, htmx: bool = False) -> set[int]:
    response = web.get(url, htmx=htmx)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return {int(i) for i in ROW_ID.findall(response.get_data(as_text=True))}


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field(page: str, name: str) -> str:
    """The text of a run page's field (`<dd data-field=name>`), tags removed."""
    match = re.search(rf'<dd data-field="{name}">(.*?)</dd>', page, re.S)
    assert match, f"no field {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


# --- Filters --------------------------------------------------------------------------------------------


def test_each_filter_narrows_the_rows(app, web):
    ok_hook = add_event(app, status="ok", connector_type_id=".webhook", source="test_pane")
    failed_hook = add_event(app, status="error", connector_type_id=".webhook", source="http_request")
    ok_log = add_event(app, status="ok", connector_type_id=".server-log", source="http_request")
    lookup = add_event(app, status="error", connector_type_id=".slack_api", source="form")
    everything = {ok_hook, failed_hook, ok_log, lookup}

    assert shown_ids(web, "/events") == everything
    assert shown_ids(web, "/events?status=ok") == {ok_hook, ok_log}
    assert shown_ids(web, "/events?status=error") == {failed_hook, lookup}
    assert shown_ids(web, "/events?type=.webhook") == {ok_hook, failed_hook}
    assert shown_ids(web, "/events?type=.server-log") == {ok_log}
    assert shown_ids(web, "/events?source=test_pane") == {ok_hook}
    assert shown_ids(web, "/events?source=http_request") == {failed_hook, ok_log}
    assert shown_ids(web, "/events?source=form") == {lookup}
    # Empty values, as a form without JavaScript sends them, do not narrow.
    assert shown_ids(web, "/events?type=&status=&source=&range=&from=&to=") == everything


def test_the_filters_offer_human_labels_and_show_what_is_applied(app, web):
    add_event(app, connector_type_id=".server-log")
    page = text_of(web.get("/events?source=http_request&type=.server-log"))
    assert '<option value="http_request" selected>API</option>' in page
    assert '<option value="test_pane" >Test pane</option>' in page and ">Form lookup</option>" in page
    assert '<option value=".server-log" selected>Server log</option>' in page  # the type's name, not its id
    for label in ("Last hour", "Last 24 hours", "Last 7 days", "Any time"):
        assert f">{label}</option>" in page
    assert 'action="/events" method="get"' in page and '<button type="submit"' in page  # works without JavaScript
    assert 'hx-get="/events"' in page and 'hx-push-url="true"' in page and 'data-follows-url' in page


def test_time_range_narrows_by_when_the_run_started(app, web):
    now = datetime.now(UTC)
    recent = add_event(app, started_at=now - timedelta(minutes=30))
    today = add_event(app, started_at=now - timedelta(hours=3))
    this_week = add_event(app, started_at=now - timedelta(days=2))
    old = add_event(app, started_at=now - timedelta(days=30))

    assert shown_ids(web, "/events?range=1h") == {recent}
    assert shown_ids(web, "/events?range=24h") == {recent, today}
    assert shown_ids(web, "/events?range=7d") == {recent, today, this_week}
    assert shown_ids(web, "/events") == {recent, today, this_week, old}


def test_from_and_to_dates_are_whole_utc_days(app, web):
    first = add_event(app, started_at=datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC))
    late = add_event(app, started_at=datetime(2026, 11, 3, 23, 59, 59, tzinfo=UTC))
    after = add_event(app, started_at=datetime(2026, 11, 4, 0, 0, 1, tzinfo=UTC))
    before = add_event(app, started_at=datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))

    assert shown_ids(web, "/events?from=2026-11-01&to=2026-11-03") == {first, late}
    assert shown_ids(web, "/events?from=2026-11-04") >= {after}
    assert before not in shown_ids(web, "/events?from=2026-11-01")
    assert shown_ids(web, "/events?to=2026-10-31") == {before}


def test_combined_filters_and_the_pager_keep_each_other(app, web):
    wanted = {add_event(app, status="error", connector_type_id=".webhook", source="http_request") for _ in range(55)}
    add_event(app, status="ok", connector_type_id=".webhook", source="http_request")
    add_event(app, status="error", connector_type_id=".server-log", source="http_request")
    add_event(app, status="error", connector_type_id=".webhook", source="test_pane")
    add_event(app, status="error", connector_type_id=".webhook", source="http_request",
              started_at=datetime.now(UTC) - timedelta(days=3))

    query = "status=error&type=.webhook&source=http_request&range=24h"
    first = web.get(f"/events?{query}").get_data(as_text=True)
    assert "55 runs, newest first" in first and "Page 1 of 2" in first
    next_link = html.unescape(re.search(r'<a href="([^"]+)" rel="next"', first).group(1))
    for part in ("status=error", "type=.webhook", "source=http_request", "range=24h", "page=2"):
        assert part in next_link
    second = shown_ids(web, next_link)
    assert len(second) == 5 and second <= wanted
    assert shown_ids(web, f"/events?{query}") | second == wanted

    # A run's page links back to the same filtered list.
    run = web.get(f"/events/{max(second)}?{query}")
    back = html.unescape(re.search(r'<a href="([^"]+)">← Back to the event log</a>', run.get_data(as_text=True)).group(1))
    assert shown_ids(web, back) | second == wanted


def test_next_and_previous_walk_the_log_newest_first_without_gaps(app, web):
    ids = [add_event(app, status="error") for _ in range(120)]
    add_event(app, status="ok")
    pages, url = [], "/events?status=error"
    for _ in range(5):  # three pages; more would be a bug
        page = web.get(url).get_data(as_text=True)
        pages.append(page)
        found = re.search(r'<a href="([^"]+)" rel="next"', page)
        if found is None:
            break
        url = html.unescape(found.group(1))
    shown = [[int(i) for i in ROW_ID.findall(page)] for page in pages]
    assert [f"Page {n} of 3" in page for n, page in enumerate(pages, 1)] == [True, True, True]
    assert [i for page in shown for i in page] == sorted(ids, reverse=True)
    back = html.unescape(re.search(r'<a href="([^"]+)" rel="prev"', pages[-1]).group(1))
    assert [int(i) for i in ROW_ID.findall(web.get(back).get_data(as_text=True))] == shown[1]


def test_filters_answer_htmx_with_the_results_block_only(app, web):
    failed = add_event(app, status="error")
    add_event(app, status="ok")
    response = web.get("/events?status=error", htmx=True)
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<form" not in body
    assert "1 run, newest first" in body and shown_ids(web, "/events?status=error", htmx=True) == {failed}
    assert "HX-Request" in response.headers["Vary"]


def test_filters_of_one_connectors_runs(app, web):
    cid = create_via_form(web, ".server-log", {"name": "log"})
    for message in ("one", "two"):
        web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": message}, htmx=True)
    other = add_event(app, connector_type_id=".server-log")
    ids = shown_ids(web, f"/connectors/{cid}/events?source=test_pane")
    assert len(ids) == 2 and other not in ids
    assert shown_ids(web, f"/connectors/{cid}/events?source=http_request") == set()
    run = max(ids)
    page = web.get(f"/connectors/{cid}/events?status=ok").get_data(as_text=True)
    assert f'href="/events/{run}?status=ok&amp;scope=connector"' in page
    back = web.get(f"/events/{run}?status=ok&scope=connector").get_data(as_text=True)
    assert f'href="/connectors/{cid}/events?status=ok"' in back


@pytest.mark.parametrize("query", [
    "status=bogus", "source=cron", "range=forever", "from=yesterday", "to=2026-13-45", "type=<script>",
    "page=abc", "page=-3", "page=99999999999999999999", "from=9999-12-31&to=9999-12-31", "to=0001-01-01",
    "type=" + "x" * 300, "status=ok&status=error",
])
def test_bad_filter_values_are_ignored_never_a_server_error(app, web, query):
    ok, failed = add_event(app, status="ok"), add_event(app, status="error")
    response = web.get(f"/events?{query}")
    assert response.status_code == 200
    assert shown_ids(web, f"/events?{query}") <= {ok, failed}
    assert web.get(f"/events?{query}", htmx=True).status_code == 200


def test_an_ignored_filter_value_is_named(app, web):
    add_event(app)
    page = text_of(web.get("/events?status=bogus&range=forever"))
    assert "Ignored filter values not understood: status=bogus, range=forever." in page
    assert '<option value="" selected>Any status</option>' in page


# --- How times and durations read ---------------------------------------------------------------------------


def test_relative_times_for_fixed_times():
    now = datetime(2026, 12, 7, 7, 31, 5, tzinfo=UTC)
    cases = {
        timedelta(seconds=2): "just now",
        timedelta(seconds=42): "42 s ago",
        timedelta(minutes=3, seconds=10): "3 min ago",
        timedelta(minutes=1): "1 min ago",
        timedelta(hours=2, minutes=59): "2 h ago",
        timedelta(days=1, hours=3): "1 day ago",
        timedelta(days=5): "5 days ago",
        timedelta(days=65): "2 months ago",
        timedelta(days=800): "2 years ago",
        timedelta(minutes=-5): "in 5 min",
    }
    for ago, expected in cases.items():
        assert relative(now - ago, now) == expected, ago
    # SQLite gives back naive datetimes; they are UTC.
    assert relative(datetime(2026, 12, 7, 7, 28, 5), now) == "3 min ago"


def test_times_have_seconds_and_zone_and_durations_read_as_a_person_says_them():
    assert utc_text(datetime(2026, 12, 7, 7, 31, 5, 123456, tzinfo=UTC)) == "2026-12-07 07:31:05 UTC"
    assert utc_text(datetime(2026, 12, 7, 8, 31, 5, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))) == "2026-12-07 08:31:05 UTC"
    assert [duration(ms) for ms in (0.2, 4, 340.4, 999.4, 1200, 12_345, 125_000, 120_000)] == [
        "< 1 ms", "4 ms", "340 ms", "999 ms", "1.2 s", "12.3 s", "2 min 5 s", "2 min"]
    assert [byte_size(n) for n in (0, 512, 1234, 3_400_000)] == ["0 B", "512 B", "1.2 kB", "3.4 MB"]


def test_the_log_shows_exact_time_relative_time_and_duration(app, web):
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3, seconds=20)
    add_event(app, started_at=started, duration_ms=1234.0)
    page = web.get("/events").get_data(as_text=True)
    iso = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'<time datetime="{iso}" title="3 min ago">{started:%Y-%m-%d %H:%M:%S} UTC</time>' in page
    assert '<small class="muted ago">3 min ago</small>' in page
    assert "1.2 s" in page


# --- A run's page -----------------------------------------------------------------------------------------


def test_a_failed_test_pane_run_shows_its_whole_record(app, web, receiver):
    url = receiver.reply("/hook", status=500, body=b'{"message": "database down"}')
    cid = create_via_form(web, ".webhook", webhook_fields(url, name="ops hook"))
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": '{"text": "hi"}'}, htmx=True)
    (event,) = events(app)

    listing = web.get("/events").get_data(as_text=True)
    assert f'href="/events/{event.id}"' in listing  # the row opens the run
    response = web.get(f"/events/{event.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert field(page, "message") == "error calling webhook, retry later"
    assert field(page, "service_message") == "[500] INTERNAL SERVER ERROR: database down"
    assert field(page, "http_status") == "500 Internal Server Error"
    assert field(page, "retry").startswith("Yes")
    assert field(page, "actor") == "admin"
    assert field(page, "source") == "Test pane"
    assert field(page, "request_size") == "14 B"  # {"text": "hi"}
    assert field(page, "duration") == duration(event.duration_ms)
    assert field(page, "started_at").startswith(utc_text(event.started_at))
    assert field(page, "tokens") == "none used"
    assert field(page, "type").startswith("Webhook")
    assert f'<a href="/connectors/{cid}">ops hook</a>' in page
    assert "; retry:" not in page  # the stored form of the message is not shown raw


def test_an_api_run_shows_who_ran_it_and_the_http_status(app, web, receiver):
    key = new_api_key(app, "admin", name="nightly")
    api = Api(app.test_client(), "ApiKey " + key)
    cid = api.created(webhook(receiver.reply("/ok", status=202, body=b'{"queued": true}')))["id"]
    assert api.execute(cid, {"body": '{"text": "deployed"}'}).get_json()["status"] == "ok"
    (event,) = events(app)

    page = text_of(web.get(f"/events/{event.id}"))
    assert field(page, "status").startswith("ok")
    assert field(page, "http_status") == "202 Accepted"
    assert field(page, "retry") == "—"
    assert field(page, "actor") == "api key nightly"
    assert field(page, "source") == "API"
    assert field(page, "request_size") == "20 B"
    assert 'data-field="message"' not in page  # a run that succeeded has no error to show


def test_token_usage_is_shown_prompt_completion_and_total(app, web):
    run = add_event(app, connector_type_id=".bedrock", prompt_tokens=12, completion_tokens=30, total_tokens=42,
                    sub_action="invokeAI", request_body_bytes=2345)
    page = text_of(web.get(f"/events/{run}"))
    assert field(page, "tokens") == "12 prompt / 30 completion / 42 total"
    assert field(page, "sub_action") == "invokeAI"
    assert field(page, "request_size") == "2.3 kB (2345 bytes)"


def test_a_deleted_connectors_run_says_so(app, web):
    cid = create_via_form(web, ".server-log", {"name": "short-lived"})
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": "bye"}, htmx=True)
    (event,) = events(app)
    with app.app_context():
        db.session.delete(db.session.get(Connector, cid))
        db.session.commit()
    page = text_of(web.get(f"/events/{event.id}"))
    assert "deleted" in field(page, "connector") and "short-lived" in field(page, "connector")
    assert f'href="/connectors/{cid}"' not in page
    listing = text_of(web.get("/events"))
    assert "short-lived <small class=\"muted\">(deleted)</small>" in listing
    assert f'href="/connectors/{cid}"' not in listing


def test_a_run_of_unsaved_form_values_says_so(app, web):
    run = add_event(app, connector_id="", connector_name="(unsaved connector)")
    page = text_of(web.get(f"/events/{run}"))
    assert "unsaved form values" in field(page, "connector")


def test_a_viewer_may_open_a_run(app, web, viewer):
    cid = create_via_form(web, ".server-log", {"name": "ops log"})
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": "hello"}, htmx=True)
    (event,) = events(app)
    response = viewer.get(f"/events/{event.id}")
    assert response.status_code == 200
    assert field(text_of(response), "actor") == "admin"


def test_an_unknown_run_is_404(app, web):
    for url in ("/events/12345", "/events/0", "/events/99999999999999999999", "/events/abc", "/events/-1"):
        assert web.get(url).status_code == 404, url


def test_a_run_page_never_shows_a_secret(app, web, receiver):
    token = "canary-bearer-token-8d1f"
    api = Api.with_key(app)
    cid = api.created(bearer_webhook(receiver.reply("/secret", status=401, body=b'{"message": "nope"}'), token))["id"]
    api.execute(cid, {"body": "{}"})
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": "{}"}, htmx=True)
    for event in events(app):
        page = web.get(f"/events/{event.id}").get_data(as_text=True)
        assert "nope" in page and token not in page


def test_a_stored_message_with_quoted_names_splits_at_the_service_message(app, web):
    run = add_event(app, status="error", retry="false",
                    message='Connector "a: b" failed: the service said: no; retry: false')
    page = text_of(web.get(f"/events/{run}"))
    assert field(page, "message") == 'Connector "a: b" failed'
    assert field(page, "service_message") == "the service said: no"
    assert field(page, "retry").startswith("No")


def test_recent_runs_on_the_connector_page_link_to_each_run(app, web):
    cid = create_via_form(web, ".server-log", {"name": "log"})
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": "x"}, htmx=True)
    (event,) = events(app)
    page = web.get(f"/connectors/{cid}").get_data(as_text=True)
    assert "Recent runs" in page and f'href="/events/{event.id}"' in page
    assert 'class="striped events stack-table"' in page and 'data-label="Status"' in page


# --- In the browser ---------------------------------------------------------------------------------------


@drives_browser
def test_filter_by_status_open_a_run_and_go_back(page: Page, live: LiveServer, receiver: Receiver, tmp_path: Path):
    hook = receiver.reply("/down", status=503, body='{"message": "maintenance until noon"}')
    hook_id = create_webhook(page, live, "Flaky hook", hook)
    log_id = create_server_log(page, live, "Quiet log")
    for cid, params in ((log_id, {"params.__present": "1", "params.message": "fine"}),
                        (hook_id, {"params.__present": "1", "params.body": "{}"})):
        answer = page.request.post(f"{live.url}/connectors/{cid}/test", form=params, headers={"X-CSRFToken": csrf_token(page)})
        assert answer.ok

    page.goto(live.url + "/events")
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Status").select_option("error")
    expect(page).to_have_url(re.compile(r"status=error"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Flaky hook")

    rows.first.locator("a.event-link").click()
    expect(page).to_have_url(re.compile(r"/events/\d+\?status=error$"))
    expect(page.locator('[data-field="service_message"]')).to_contain_text("[503] SERVICE UNAVAILABLE: maintenance until noon")
    expect(page.locator('[data-field="http_status"]')).to_have_text("503 Service Unavailable")
    expect(page.locator('[data-field="message"]')).to_be_visible()
    for name, size in {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 900}}.items():
        page.set_viewport_size(size)
        page.screenshot(path=tmp_path / f"{name}-event-run.png", full_page=True)
        assert (tmp_path / f"{name}-event-run.png").stat().st_size > 0
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), name
        expect(page.locator('[data-field="service_message"]')).to_be_in_viewport(ratio=0.1)
        expect(page.locator('[data-field="http_status"]')).to_be_visible()

    page.go_back()
    expect(page).to_have_url(re.compile(r"/events\?.*status=error"))
    expect(page.get_by_label("Status")).to_have_value("error")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Flaky hook")
    for name, size in {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 900}}.items():
        page.set_viewport_size(size)
        page.screenshot(path=tmp_path / f"{name}-event-log.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), name
