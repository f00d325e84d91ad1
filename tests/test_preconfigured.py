"""The config file: preconfigured connectors (run, never changed) and enabled_types (which types may be used)."""

from __future__ import annotations

import html
import json

import pytest
from cryptography.fernet import Fernet

from app.db import db
from app.settings import ConfigError, FileConfig
from tests.api_client import Api, boom, webhook
from tests.conftest import Browserish, make_app
from tests.fakes.receiver import Receiver
from tests.helpers import connectors, create_via_form, events

PRE_ID = "ops-hook"
ENV = "SWITCHBOARD_TEST_OPS_HOOK_TOKEN"
TOKEN = "env-token-9c2d-do-not-show"


def declared(url: str) -> dict:
    return {
        PRE_ID: {
            "name": "Ops hook",
            "connector_type_id": ".webhook",
            "config": {"url": url, "hasAuth": True, "authType": "webhook-authentication-bearer"},
            "secrets": {"token": {"env": ENV}},
        }
    }


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def pre(tmp_path, receiver, monkeypatch):
    """An app whose config file declares one webhook, its bearer token read from the environment."""
    monkeypatch.setenv(ENV, TOKEN)
    app = make_app(tmp_path, file_config=FileConfig(preconfigured=declared(receiver.reply("/ops"))))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_detail_page_shows_only_the_settings_that_are_set(pre):
    detail = Browserish(pre.test_client()).get(f"/connectors/{PRE_ID}").get_data(as_text=True)
    config = detail.split('<dl class="config">')[1].split("</dl>")[0]
    assert "Headers" not in config and "null" not in config  # headers were never declared
    assert "URL" in config


def test_preconfigured_connectors_are_listed_with_a_badge_and_without_change_buttons(pre):
    web = Browserish(pre.test_client())
    stored = create_via_form(web, ".server-log", {"name": "stored log"})
    listing = web.get("/connectors").get_data(as_text=True)
    row = listing.split(f'data-connector-id="{PRE_ID}"')[1].split("</tr>")[0]
    assert "Ops hook" in row and 'badge-info">preconfigured<' in row
    assert 'name="ids"' not in row and "/delete" not in row
    other = listing.split(f'data-connector-id="{stored}"')[1].split("</tr>")[0]
    assert "preconfigured" not in other and f"/connectors/{stored}/delete" in other  # the admin's usual buttons are there
    assert "type disabled" not in listing  # every type is enabled by default

    detail = web.get(f"/connectors/{PRE_ID}").get_data(as_text=True)
    assert "Declared in the config file" in detail
    assert f"/connectors/{PRE_ID}/edit" not in detail and f"/connectors/{PRE_ID}/delete" not in detail
    assert "Run test" in detail


def test_the_api_lists_them_without_config_or_missing_secrets(pre):
    api = Api.with_key(pre, "viewer")
    (listed,) = api.get("/api/actions/connectors").get_json()
    assert listed == {
        "id": PRE_ID,
        "name": "Ops hook",
        "connector_type_id": ".webhook",
        "is_preconfigured": True,
        "is_deprecated": False,
        "is_system_action": False,
        "is_connector_type_deprecated": False,
        "referenced_by_count": 0,
    }
    got = api.get(f"/api/actions/connector/{PRE_ID}").get_json()
    assert got == {k: v for k, v in listed.items() if k != "referenced_by_count"}


def test_the_test_pane_sends_the_secret_from_the_environment(pre, receiver):
    for role in ("admin", "viewer"):
        browser = Browserish(pre.test_client(), role)
        result = browser.post(f"/connectors/{PRE_ID}/test", data={"params.__present": "1", "params.body": "{}"},
                              htmx=True)
        page = result.get_data(as_text=True)
        assert result.status_code == 200 and 'data-status="ok"' in page
        assert receiver.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"
        pages = page + browser.get(f"/connectors/{PRE_ID}").get_data(as_text=True) + browser.get("/events").get_data(
            as_text=True)
        assert TOKEN not in pages
    assert len(receiver.received) == 2


def test_api_execute_sends_the_secret_from_the_environment(pre, receiver):
    api = Api.with_key(pre, "viewer")
    response = api.execute(PRE_ID, {"body": '{"text": "hi"}'})
    assert response.get_json() == {"connector_id": PRE_ID, "status": "ok", "data": '{"text": "hi"}'}
    assert receiver.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    api.get("/api/actions/connectors")
    api.get(f"/api/actions/connector/{PRE_ID}")
    assert all(TOKEN not in body for body in api.seen)
    assert events(pre)[-1].connector_id == PRE_ID


def test_a_missing_environment_variable_is_a_run_error_naming_it(pre, receiver, monkeypatch):
    monkeypatch.delenv(ENV)
    body = Api.with_key(pre).execute(PRE_ID, {"body": "{}"}).get_json()
    assert body["status"] == "error"
    assert ENV in body["message"] and "not set" in body["message"]

    web = Browserish(pre.test_client())
    page = html.unescape(web.post(f"/connectors/{PRE_ID}/test", data={"params.__present": "1", "params.body": "{}"},
                                  htmx=True).get_data(as_text=True))
    assert 'data-status="error"' in page and f"environment variable {ENV} is not set" in page
    assert receiver.received == []
    assert [e.status for e in events(pre)] == ["error", "error"]


def test_pages_refuse_to_edit_or_delete_them(pre):
    web = Browserish(pre.test_client())
    attempts = [
        web.get(f"/connectors/{PRE_ID}/edit"),
        web.post(f"/connectors/{PRE_ID}/edit", data={"name": "hijacked", "config.url": "http://127.0.0.1:9/x"}),
        web.post(f"/connectors/{PRE_ID}/edit/test", data={"params.__present": "1"}, htmx=True),
        web.post(f"/connectors/{PRE_ID}/delete"),
        web.delete(f"/connectors/{PRE_ID}"),
    ]
    for response in attempts:
        assert response.status_code == 400, response.request.path
    page = web.get(f"/connectors/{PRE_ID}/edit").get_data(as_text=True)
    assert "declared in the config file and cannot be changed here" in page
    web.post("/connectors/bulk-delete", data={"ids": [PRE_ID]})
    (row,) = connectors(pre)
    assert (row.id, row.name, row.is_preconfigured) == (PRE_ID, "Ops hook", True)


def test_the_api_refuses_to_update_or_delete_them(pre):
    api = Api.with_key(pre)
    updated = api.put(f"/api/actions/connector/{PRE_ID}", json={"name": "hijacked", "config": {"url": "http://x.example"}})
    assert updated.status_code == 400
    assert boom(updated)["message"] == f"Preconfigured action {PRE_ID} can not be updated."
    deleted = api.delete(f"/api/actions/connector/{PRE_ID}")
    assert deleted.status_code == 400
    assert boom(deleted)["message"] == f"Preconfigured action {PRE_ID} is not allowed to delete."
    assert api.get(f"/api/actions/connector/{PRE_ID}").get_json()["name"] == "Ops hook"


def test_creating_a_connector_with_a_preconfigured_id_is_refused(pre):
    response = Api.with_key(pre).create({"name": "mine", "connector_type_id": ".server-log"}, PRE_ID)
    assert response.status_code == 400
    assert boom(response)["message"] == f"This {PRE_ID} already exists in a preconfigured action."
    assert connectors(pre)[0].connector_type_id == ".webhook"


def test_export_leaves_them_out(pre):
    api = Api.with_key(pre)
    api.created({"name": "stored log", "connector_type_id": ".server-log"}, "stored-log")
    text = api.post("/api/saved_objects/_export", json={"type": ["action"]}).get_data(as_text=True)
    *lines, details = text.split("\n")
    assert [json.loads(line)["id"] for line in lines] == ["stored-log"]
    assert json.loads(details)["exportedCount"] == 1


def test_asking_to_export_one_by_id_is_refused_with_the_reason(pre):
    response = Api.with_key(pre).post("/api/saved_objects/_export", json={"objects": [{"type": "action", "id": PRE_ID}]})
    assert response.status_code == 400
    assert boom(response)["message"].endswith(f"cannot be exported: {PRE_ID}")


def test_the_list_follows_the_config_file(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)
    first = make_app(tmp_path, file_config=FileConfig(preconfigured=declared(receiver.url + "/ops")))
    Api.with_key(first).created({"name": "stored log", "connector_type_id": ".server-log"}, "stored-log")
    assert {c.id for c in connectors(first)} == {PRE_ID, "stored-log"}

    dropped = make_app(tmp_path)  # the declaration was removed from the file
    assert [c.id for c in connectors(dropped)] == ["stored-log"]

    clash = {"stored-log": {"name": "clash", "connector_type_id": ".server-log"}}
    with pytest.raises(ConfigError, match="a stored connector already has this id"):
        make_app(tmp_path, file_config=FileConfig(preconfigured=clash))


# ---- enabled_types -----------------------------------------------------------------------------


@pytest.fixture
def only_log(tmp_path, receiver):
    """A webhook stored while every type was enabled, then the config enables only the server log."""
    key = Fernet.generate_key().decode()
    before = make_app(tmp_path, keys=[key])
    Api.with_key(before).created(webhook(receiver.reply("/hook"), name="old hook"), "old-hook")
    Api.with_key(before).created({"name": "a log", "connector_type_id": ".server-log"}, "a-log")
    app = make_app(tmp_path, file_config=FileConfig(enabled_types=(".server-log",)), keys=[key])
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_type_picker_hides_disabled_types(only_log):
    page = Browserish(only_log.test_client()).get("/connectors/new").get_data(as_text=True)
    assert 'href="/connectors/new/.server-log"' in page
    assert 'href="/connectors/new/.webhook"' not in page and 'href="/connectors/new/.bedrock"' not in page


def test_the_create_pages_refuse_a_disabled_type(only_log):
    web = Browserish(only_log.test_client())
    fields = {"name": "new hook", "config.url": "http://127.0.0.1:9/x", "config.hasAuth": ["false"]}
    responses = [
        web.get("/connectors/new/.webhook"),
        web.post("/connectors/new/.webhook", data=fields),
        web.post("/connectors/new/.webhook/test", data={**fields, "params.__present": "1"}, htmx=True),
    ]
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert "enabled_types" in responses[0].get_data(as_text=True)
    assert {c.id for c in connectors(only_log)} == {"old-hook", "a-log"}


def test_the_api_refuses_to_create_a_disabled_type(only_log):
    response = Api.with_key(only_log).create(webhook("https://example.com/h"))
    assert response.status_code == 403
    message = boom(response)["message"]
    assert ".webhook" in message and "enabled_types" in message


def test_connector_types_report_disabled_types(only_log):
    types = {t["id"]: t for t in Api.with_key(only_log, "viewer").get("/api/actions/connector_types").get_json()}
    assert (types[".webhook"]["enabled"], types[".webhook"]["enabled_in_config"]) == (False, False)
    assert types[".webhook"]["enabled_in_license"] is True
    assert types[".bedrock"]["enabled"] is False
    assert (types[".server-log"]["enabled"], types[".server-log"]["enabled_in_config"]) == (True, True)


def test_a_connector_of_a_disabled_type_stays_visible_and_its_run_says_why(only_log, receiver):
    web = Browserish(only_log.test_client())
    listing = web.get("/connectors").get_data(as_text=True)
    hook_row = listing.split('data-connector-id="old-hook"')[1].split("</tr>")[0]
    log_row = listing.split('data-connector-id="a-log"')[1].split("</tr>")[0]
    assert "old hook" in hook_row and "type disabled" in hook_row
    assert "type disabled" not in log_row
    detail = web.get("/connectors/old-hook").get_data(as_text=True)
    assert "are not enabled in this Switchboard" in detail

    pane = html.unescape(web.post("/connectors/old-hook/test", data={"params.__present": "1", "params.body": "{}"},
                                  htmx=True).get_data(as_text=True))
    assert 'data-status="error"' in pane
    assert 'connector type ".webhook" is not enabled in the Switchboard config (enabled_types)' in pane

    api = Api.with_key(only_log)
    assert {c["id"] for c in api.get("/api/actions/connectors").get_json()} == {"old-hook", "a-log"}
    run = api.execute("old-hook", {"body": "{}"})
    assert run.status_code == 403
    assert "enabled_types" in boom(run)["message"]
    assert receiver.received == []
    assert api.execute("a-log", {"message": "still fine"}).get_json()["status"] == "ok"
