"""The connector pages: list with search, filter, sort and paging; create, edit and delete."""

from __future__ import annotations

import html
import re

from app.db import db
from app.models import Connector
from tests.helpers import connectors, create_via_form, webhook_fields


def seed(app, names_and_types):
    with app.app_context():
        for i, (name, type_id) in enumerate(names_and_types):
            db.session.add(Connector(id=f"id-{i:05d}", name=name, connector_type_id=type_id, config={}, secret_fields={}))
        db.session.commit()


def names_in(page: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(r'<a href="/connectors/id-\d+">([^<]+)</a>', page)]


def test_empty_list_invites_creating_the_first_connector(web):
    page = web.get("/connectors").get_data(as_text=True)
    assert "No connectors yet" in page
    assert 'href="/connectors/new"' in page


def test_search_matches_name_and_type_and_answers_htmx_with_the_fragment(app, web):
    seed(app, [("Ops pager", ".webhook"), ("Claude prod", ".bedrock"), ("Audit log", ".server-log")])
    fragment = web.get("/connectors?q=claude", htmx=True)
    body = fragment.get_data(as_text=True)
    assert names_in(body) == ["Claude prod"]
    assert "<html" not in body  # only the results block
    assert "HX-Request" in fragment.headers["Vary"]
    assert names_in(web.get("/connectors?q=bedrock").get_data(as_text=True)) == ["Claude prod"]  # type name
    assert names_in(web.get("/connectors?q=server-log").get_data(as_text=True)) == ["Audit log"]  # type id
    full = web.get("/connectors?q=claude").get_data(as_text=True)
    assert "<html" in full and "HX-Request" in web.get("/connectors").headers["Vary"]


def test_search_treats_wildcards_literally(app, web):
    seed(app, [("100% uptime", ".webhook"), ("plain", ".webhook")])
    assert names_in(web.get("/connectors?q=%25").get_data(as_text=True)) == ["100% uptime"]
    assert names_in(web.get("/connectors?q=_").get_data(as_text=True)) == []


def test_type_filter_and_sort(app, web):
    seed(app, [("b-hook", ".webhook"), ("a-log", ".server-log"), ("c-hook", ".webhook")])
    assert names_in(web.get("/connectors?type=.webhook").get_data(as_text=True)) == ["b-hook", "c-hook"]
    assert names_in(web.get("/connectors?sort=name&order=desc").get_data(as_text=True)) == ["c-hook", "b-hook", "a-log"]
    assert names_in(web.get("/connectors?sort=type").get_data(as_text=True)) == ["a-log", "b-hook", "c-hook"]


def test_names_sort_regardless_of_case(app, web):
    seed(app, [("beta", ".webhook"), ("Alpha", ".webhook"), ("gamma", ".webhook"), ("Delta", ".webhook")])
    assert names_in(web.get("/connectors").get_data(as_text=True)) == ["Alpha", "beta", "Delta", "gamma"]


def test_paging_shows_fifty_a_page(app, web):
    seed(app, [(f"conn {i:03d}", ".webhook") for i in range(120)])
    first = web.get("/connectors").get_data(as_text=True)
    third = web.get("/connectors?page=3").get_data(as_text=True)
    assert len(names_in(first)) == 50 and names_in(first)[0] == "conn 000"
    assert names_in(third) == [f"conn {i:03d}" for i in range(100, 120)]
    assert "Page 3 of 3" in third
    assert "120 connectors" in first
    assert names_in(web.get("/connectors?page=99").get_data(as_text=True))[-1] == "conn 119"  # clamped


def test_bulk_delete_removes_only_the_selected(app, web):
    seed(app, [("keep", ".webhook"), ("drop 1", ".webhook"), ("drop 2", ".webhook")])
    response = web.post("/connectors/bulk-delete", data={"ids": ["id-00001", "id-00002"]}, htmx=True)
    assert response.status_code == 200
    assert "Deleted 2 connectors" in response.headers["HX-Trigger"]
    assert names_in(response.get_data(as_text=True)) == ["keep"]
    assert [c.name for c in connectors(app)] == ["keep"]


def test_row_delete_needs_the_csrf_token(app, web):
    seed(app, [("target", ".webhook")])
    refused = web.client.delete("/connectors/id-00000", headers={"HX-Request": "true"})
    assert refused.status_code == 400
    assert len(connectors(app)) == 1
    assert web.delete("/connectors/id-00000").status_code == 200
    assert connectors(app) == []


def test_type_picker_filters_as_you_type(web):
    page = web.get("/connectors/new?q=bedr", htmx=True).get_data(as_text=True)
    assert "Amazon Bedrock" in page and "Webhook" not in page
    assert "No connector type matches" in web.get("/connectors/new?q=zzz", htmx=True).get_data(as_text=True)


def test_validation_errors_rerender_with_messages_at_fields_and_values_kept(app, web):
    fields = webhook_fields("not a url", name="My hook", **{"config.headers.name": ["X-Env"], "config.headers.value": ["prod"]})
    response = web.post("/connectors/new/.webhook", data=fields, htmx=True)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'id="config-url-help"' in page and "unable to parse url" in page
    assert 'value="My hook"' in page and 'value="not a url"' in page
    assert 'value="X-Env"' in page and 'value="prod"' in page
    assert connectors(app) == []


def test_create_then_edit_keeps_type_and_updates_config(app, web):
    cid = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/a"))
    detail = web.get(f"/connectors/{cid}").get_data(as_text=True)
    assert "Created connector" in detail
    response = web.post(f"/connectors/{cid}/edit", data=webhook_fields("http://127.0.0.1:9/b", name="hook 2"), htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/connectors/{cid}"
    (c,) = connectors(app)
    assert c.name == "hook 2" and c.config["url"] == "http://127.0.0.1:9/b" and c.connector_type_id == ".webhook"


def test_last_run_status_is_shown_per_row(app, web):
    cid = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/a"))
    assert "never" in web.get("/connectors").get_data(as_text=True)
    web.post(f"/connectors/{cid}/test", data={"params.__present": "1"}, htmx=True)
    listing = web.get("/connectors").get_data(as_text=True)
    assert 'class="badge badge-error">error' in listing and "<time" in listing


def test_event_log_lists_runs_newest_first_and_filters_by_status(app, web):
    cid = create_via_form(web, ".server-log", {"name": "log"})
    for message in ("first", "second"):
        web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": message}, htmx=True)
    bad = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/a"))
    web.post(f"/connectors/{bad}/test", data={"params.__present": "1"}, htmx=True)
    page = web.get("/events").get_data(as_text=True)
    assert page.index('data-event-status="error"') < page.index('data-event-status="ok"')
    assert "3 runs" in page
    assert "1 run," in web.get("/events?status=error", htmx=True).get_data(as_text=True)
    per_connector = web.get(f"/connectors/{cid}/events").get_data(as_text=True)
    assert "2 runs" in per_connector and 'data-event-status="error"' not in per_connector


def test_healthz_reports_the_database(web):
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "writable": "ok"}


def test_test_pane_works_without_javascript(app, web):
    cid = create_via_form(web, ".server-log", {"name": "log"})
    response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": "no js"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in page
    assert 'data-status="ok"' in page
    assert page.count('data-event-status="ok"') == 1  # recent runs already include this one


def test_recent_runs_reload_after_a_test_run(app, web):
    cid = create_via_form(web, ".server-log", {"name": "log"})
    run = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": "x"}, htmx=True)
    assert run.headers["HX-Trigger"] == "runFinished"
    section = web.get(f"/connectors/{cid}", htmx=True, headers={"HX-Target": "recent-runs"}).get_data(as_text=True)
    assert "Recent runs" in section and section.count('data-event-status="ok"') == 1
    assert "<h1>" not in section  # only the section's block


def test_without_javascript_delete_asks_on_a_page_then_deletes(app, web):
    seed(app, [("doomed", ".webhook")])
    listing = web.get("/connectors").get_data(as_text=True)
    assert 'href="/connectors/id-00000/delete"' in listing  # the row's Delete is a plain link

    question = web.get("/connectors/id-00000/delete")
    page = question.get_data(as_text=True)
    assert question.status_code == 200 and "Delete connector “doomed”?" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert connectors(app)[0].name == "doomed"  # asking deletes nothing

    done = web.client.post("/connectors/id-00000/delete", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/connectors"
    assert connectors(app) == []
