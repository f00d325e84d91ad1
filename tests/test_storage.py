"""Issue #7 item 9: a database that cannot be written. Runs never call a service they cannot record,
every write answers 503 saying why (never a plain 500), nothing stored is lost, and /healthz says so.

The database is made full or read-only for real: SQLite's own size limit (`max_page_count`, the same
SQLITE_FULL a full disk gives) and `query_only` (what a read-only mount gives), set on the app's engine.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select, text

from app.db import db
from app.models import Event
from tests.api_client import Api
from tests.fakes.receiver import Receiver
from tests.helpers import connectors, events

FILL_LIMIT = 5000  # rows; a 4 KB page holds a few dozen of them


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def webhook(api: Api, url: str) -> str:
    created = api.create({"connector_type_id": ".webhook", "name": "hook", "config": {"url": url, "method": "post", "hasAuth": False},
                          "secrets": {}})
    assert created.status_code == 200, created.get_data(as_text=True)
    return created.get_json()["id"]


def on_every_connection(app, pragma: str):
    """Apply a PRAGMA to every connection the app opens from now on; returns the undo."""
    with app.app_context():
        engine = db.engine

        def apply(dbapi_connection, _record):
            dbapi_connection.execute(pragma)

        event.listen(engine, "connect", apply)
        engine.dispose()

    def undo():
        with app.app_context():
            event.remove(engine, "connect", apply)
            engine.dispose()

    return undo


def fill_events_table(app, connector_id: str) -> int:
    """Insert event rows shaped like a run's own until SQLite's size limit refuses one; how many fit."""
    with app.app_context():
        pages = db.session.execute(text("PRAGMA page_count")).scalar()
    undo = on_every_connection(app, f"PRAGMA max_page_count={pages}")
    stored = 0
    with app.app_context():
        row = {"connector_id": connector_id, "connector_name": "hook", "connector_type_id": ".webhook",
               "source": "http_request", "actor": "api key", "duration_ms": 0.0, "status": "running"}
        for _ in range(FILL_LIMIT):
            try:
                db.session.add(Event(**row))
                db.session.commit()
                stored += 1
            except Exception:
                db.session.rollback()
                break
        else:
            pytest.fail(f"{FILL_LIMIT} rows fitted: the size limit did not apply")
    return undo, stored


def test_a_full_database_refuses_runs_with_503_and_the_service_is_never_called(app, receiver):
    api = Api.with_key(app)
    connector_id = webhook(api, receiver.reply("/hook"))
    undo, _ = fill_events_table(app, connector_id)
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Event))

    refused = api.post(f"/api/actions/connector/{connector_id}/_execute", json={"params": {"body": "{}"}})
    assert refused.status_code == 503
    assert "storage is full" in refused.get_json()["message"]
    assert "no connector was called" in refused.get_json()["message"]
    assert refused.headers["Retry-After"] == "30"
    assert receiver.received == []  # never called: its run could not have been recorded

    web_refused = api.client.get("/healthz").get_json()
    assert web_refused["writable"] == "no: storage is full" and web_refused["status"] == "degraded"

    # Reading still works, and nothing stored was lost.
    assert api.get(f"/api/actions/connector/{connector_id}").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == before

    undo()  # space freed
    ran = api.post(f"/api/actions/connector/{connector_id}/_execute", json={"params": {"body": "{}"}})
    assert ran.status_code == 200 and ran.get_json()["status"] == "ok"
    assert len(receiver.received) == 1
    assert api.client.get("/healthz").get_json() == {"status": "ok", "database": "ok", "writable": "ok"}


def test_the_test_pane_on_a_full_database_says_so_in_a_toast_and_calls_nothing(app, web, receiver):
    api = Api.with_key(app)
    connector_id = webhook(api, receiver.reply("/hook"))
    undo, _ = fill_events_table(app, connector_id)
    try:
        response = web.post(f"/connectors/{connector_id}/test", data={"params.__present": "1", "params.body": "{}"},
                            htmx=True)
        assert response.status_code == 503
        assert "storage is full" in response.headers.get("HX-Trigger", "")
        assert receiver.received == []
    finally:
        undo()


def test_a_read_only_database_refuses_changes_with_503_and_keeps_what_is_stored(app, web, receiver):
    api = Api.with_key(app)
    connector_id = webhook(api, receiver.reply("/hook"))
    undo = on_every_connection(app, "PRAGMA query_only=ON")
    try:
        created = api.create({"connector_type_id": ".server-log", "name": "log", "config": {}, "secrets": {}})
        assert created.status_code == 503
        assert "read-only" in created.get_json()["message"]

        updated = api.put(f"/api/actions/connector/{connector_id}",
                          json={"name": "renamed", "config": {"url": receiver.url + "/x", "method": "post", "hasAuth": False},
                                "secrets": {}})
        assert updated.status_code == 503

        page = web.post(f"/connectors/{connector_id}/delete", htmx=True)
        assert page.status_code == 503

        run = api.post(f"/api/actions/connector/{connector_id}/_execute", json={"params": {"body": "{}"}})
        assert run.status_code == 503 and receiver.received == []

        health = api.client.get("/healthz").get_json()
        assert health["writable"] == "no: the database is read-only"
        assert api.get("/api/actions/connectors").status_code == 200  # reads still answer
    finally:
        undo()
    [kept] = [c for c in connectors(app) if c.id == connector_id]
    assert kept.name == "hook" and kept.config["url"].endswith("/hook")
    assert events(app) == []


def test_a_run_whose_outcome_cannot_be_written_still_answers_and_its_start_is_in_the_log(app, receiver):
    """The reserved row is written before the call; if the outcome cannot be written after it, the log
    keeps "running" (the call happened) and the caller still gets the service's answer."""
    api = Api.with_key(app)
    connector_id = webhook(api, receiver.reply("/hook"))
    with app.app_context():
        # Outcome updates are refused by a trigger, as a disk that fills between the two writes would.
        db.session.execute(text(
            "CREATE TRIGGER no_outcome BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        ))
        db.session.commit()
    ran = api.post(f"/api/actions/connector/{connector_id}/_execute", json={"params": {"body": "{}"}})
    assert ran.status_code == 200 and ran.get_json()["status"] == "ok"
    assert len(receiver.received) == 1
    [logged] = events(app)
    assert logged.status == "running" and logged.connector_id == connector_id


def test_the_event_row_exists_while_the_service_is_being_called(app, receiver):
    """What makes "never call a service it cannot record" true: the row is committed before the call."""
    api = Api.with_key(app)
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def on_request(_request):
        with engine.connect() as conn:  # another connection: only committed rows are visible
            seen.extend(conn.execute(text("SELECT status FROM events")).scalars())

    connector_id = webhook(api, receiver.reply("/hook", on_request=on_request))
    ran = api.post(f"/api/actions/connector/{connector_id}/_execute", json={"params": {"body": "{}"}})
    assert ran.get_json()["status"] == "ok"
    assert seen == ["running"]
    assert [e.status for e in events(app)] == ["ok"]
