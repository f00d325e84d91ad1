"""Kibana saved-object NDJSON: export without secrets, import with conflicts, copies and missing-secrets flags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.db import db
from app.models import Connector
from app.services import connectors
from app.services.transfer import (
    MAX_OBJECTS,
    ImportFileError,
    export_ndjson,
    import_ndjson,
    unexportable,
)
from tests.conftest import make_app

KIBANA_FILE = Path(__file__).parent / "data" / "kibana-connectors-export.ndjson"
CANARY = "canary-transfer-51d0-do-not-export"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WEBHOOK_ID = "4d2d8da0-4d1f-11ee-9367-577408be4681"


def saved(cid: str, type_id: str, name: str, config: dict | None = None, missing: bool = False, **extra) -> dict:
    attrs = {"actionTypeId": type_id, "name": name, "isMissingSecrets": missing, "config": config or {}, "secrets": {}}
    return {"id": cid, "type": "action", "attributes": attrs, "references": [], **extra}


def ndjson(*objects: dict | str) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objects).encode()


def stored() -> dict[str, Connector]:
    return {c.id: c for c in db.session.scalars(db.select(Connector))}


def test_a_kibana_export_imports_all_three_connectors_flagged_for_missing_secrets(app):
    with app.app_context():
        result = import_ndjson(KIBANA_FILE.read_bytes())
        assert result.success and result.successCount == 3 and result.errors == []
        ids = {WEBHOOK_ID, "my-server-log", "b7c1e0f2-9a64-4c41-8d3e-2f7a1b5c9d10"}
        assert {r["id"] for r in result.successResults} == ids
        assert all(r["meta"]["icon"] == "connector" and "destinationId" not in r for r in result.successResults)
        assert result.warnings == [
            {
                "type": "action_required",
                "message": "2 connectors have sensitive information that require updates.",
                "actionPath": "/connectors?missing=1",
                "buttonLabel": "Go to connectors",
            }
        ]
        rows = stored()
        webhook = rows[WEBHOOK_ID]
        assert (webhook.name, webhook.connector_type_id) == ("my-webhook", ".webhook")
        assert webhook.config == {"hasAuth": True, "method": "post", "url": "https://example.com/hook"}
        assert webhook.is_missing_secrets and webhook.secrets_encrypted is None and webhook.secret_fields == {}
        assert rows["my-server-log"].is_missing_secrets is False
        assert rows["b7c1e0f2-9a64-4c41-8d3e-2f7a1b5c9d10"].is_missing_secrets is True
        assert result.to_dict()["successCount"] == 3


def test_export_then_import_into_a_fresh_app_keeps_ids_names_and_configs(app, tmp_path):
    with app.app_context():
        connectors.create(".server-log", "Log", {}, {}, connector_id="log-1")
        connectors.create(".webhook", "Open hook", {"url": "https://example.com/a", "hasAuth": False}, {})
        connectors.create(
            ".webhook", "Bearer hook",
            {"url": "https://example.com/b", "hasAuth": True, "authType": "webhook-authentication-bearer"},
            {"token": CANARY},
        )
        connectors.create(".bedrock", "Bedrock", {"region": "eu-west-1"}, {"accessKey": "AKIA", "secret": CANARY})
        before = {c.id: (c.name, c.connector_type_id, c.config) for c in stored().values()}
        text = export_ndjson(list(stored().values()))
    (tmp_path / "other").mkdir()
    other = make_app(tmp_path / "other")
    try:
        with other.app_context():
            result = import_ndjson(text.encode())
            assert result.success and result.successCount == 4
            after = stored()
            assert {c.id: (c.name, c.connector_type_id, c.config) for c in after.values()} == before
            missing = {c.name: c.is_missing_secrets for c in after.values()}
            assert missing == {"Log": False, "Open hook": False, "Bearer hook": True, "Bedrock": True}
            assert result.warnings[0]["message"] == "2 connectors have sensitive information that require updates."
    finally:
        with other.app_context():
            db.engine.dispose()


def test_export_never_contains_secrets(app):
    with app.app_context():
        connectors.create(
            ".webhook", "Secret hook",
            {"url": "https://example.com/b", "hasAuth": True, "authType": "webhook-authentication-bearer"},
            {"token": CANARY, "secretHeaders": {"X-Key": CANARY}},
        )
        connectors.create(".bedrock", "Bedrock", {}, {"accessKey": CANARY, "secret": CANARY})
        text = export_ndjson(list(stored().values()))
    assert CANARY not in text
    for line in text.splitlines()[:-1]:
        assert json.loads(line)["attributes"]["secrets"] == {}


def test_export_lines_have_kibanas_envelope_and_missing_secrets_rule_and_skip_preconfigured(app):
    with app.app_context():
        connectors.create(".server-log", "Log", {}, {}, connector_id="log-1")
        connectors.create(".webhook", "Open hook", {"url": "https://example.com/a", "hasAuth": False}, {}, "hook-1")
        db.session.add(Connector(id="pre-1", name="From file", connector_type_id=".server-log", is_preconfigured=True))
        db.session.commit()
        rows = sorted(stored().values(), key=lambda c: c.id)
        text = export_ndjson(rows)
        assert [c.id for c in unexportable(rows)] == ["pre-1"]
    *lines, details = text.split("\n")
    assert json.loads(details) == {
        "excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": 2,
        "missingRefCount": 0, "missingReferences": [],
    }
    first = json.loads(lines[0])
    assert first["attributes"] == {
        "actionTypeId": ".webhook", "name": "Open hook", "isMissingSecrets": False,
        "config": {"url": "https://example.com/a", "method": "post", "hasAuth": False}, "secrets": {},
    }
    assert (first["id"], first["type"], first["references"], first["managed"]) == ("hook-1", "action", [], False)
    assert (first["coreMigrationVersion"], first["typeMigrationVersion"]) == ("8.8.0", "8.3.0")
    assert ISO_MS.match(first["created_at"]) and ISO_MS.match(first["updated_at"])
    assert json.loads(lines[1])["attributes"]["isMissingSecrets"] is False
    assert "pre-1" not in text


def test_bad_json_on_line_3_fails_the_whole_import_naming_line_3(app):
    data = ndjson(saved("a", ".server-log", "A"), saved("b", ".server-log", "B"), '{"id": "c", "type": ')
    with app.app_context():
        with pytest.raises(ImportFileError) as caught:
            import_ndjson(data)
        assert caught.value.line == 3 and "Line 3" in str(caught.value)
        assert stored() == {}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"type": "action", "attributes": {}}', '"id"'),
        ('{"id": "x", "type": "action"}', '"attributes"'),
        ('{"id": "x", "type": "action", "attributes": {}, "references": {}}', '"references"'),
        ('{"id": "a", "type": "action", "attributes": {"actionTypeId": ".server-log", "name": "again"}}', "repeats"),
        ('{"id": "x", "type": "action", "attributes": {"n": NaN}}', "not valid JSON"),
    ],
)
def test_a_line_that_is_not_a_saved_object_fails_the_whole_import(app, bad, words):
    data = ndjson(saved("a", ".server-log", "A"), "", bad)
    with app.app_context():
        with pytest.raises(ImportFileError, match=re.escape(words)) as caught:
            import_ndjson(data)
        assert caught.value.line == 3
        assert stored() == {}


def test_a_file_that_is_not_utf8_names_the_line(app):
    with app.app_context(), pytest.raises(ImportFileError) as caught:
        import_ndjson(ndjson(saved("a", ".server-log", "A")) + b"\n\xff\xfe")
    assert caught.value.line == 2


def test_more_than_the_object_limit_is_refused(app):
    data = ndjson(*(saved(f"c{i}", ".server-log", f"C{i}") for i in range(MAX_OBJECTS + 1)))
    with app.app_context():
        with pytest.raises(ImportFileError, match=f"more than {MAX_OBJECTS} objects"):
            import_ndjson(data)
        assert stored() == {}


def test_an_existing_id_is_a_conflict_unless_overwrite_is_asked(app):
    with app.app_context():
        connectors.create(
            ".webhook", "Old", {"url": "https://example.com/old", "hasAuth": True},
            {"user": "u", "password": CANARY}, connector_id="hook-1",
        )
        incoming = ndjson(saved("hook-1", ".webhook", "New", {"url": "https://example.com/new", "hasAuth": False}))

        refused = import_ndjson(incoming)
        assert not refused.success and refused.successCount == 0
        assert refused.errors == [
            {"id": "hook-1", "type": "action", "title": "New", "meta": {"title": "New", "icon": "connector"},
             "error": {"type": "conflict"}}
        ]
        assert stored()["hook-1"].name == "Old"

        replaced = import_ndjson(incoming, overwrite=True)
        assert replaced.success and replaced.successResults[0]["overwrite"] is True
        db.session.expire_all()
        row = stored()["hook-1"]
        assert (row.name, row.config["url"], row.config["hasAuth"]) == ("New", "https://example.com/new", False)
        assert row.secrets_encrypted is None and row.secret_fields == {} and row.is_missing_secrets is False
        assert replaced.warnings == []


def test_create_new_copies_gives_every_object_a_fresh_id(app):
    with app.app_context():
        connectors.create(".server-log", "Log", {}, {}, connector_id="log-1")
        result = import_ndjson(ndjson(saved("log-1", ".server-log", "Log copy")), create_new_copies=True)
        assert result.success
        (entry,) = result.successResults
        assert entry["id"] == "log-1" and entry["destinationId"] not in (None, "log-1")
        assert stored()[entry["destinationId"]].name == "Log copy"
        assert stored()["log-1"].name == "Log"


def test_overwrite_and_create_new_copies_together_are_refused(app):
    with app.app_context(), pytest.raises(ValueError, match="cannot be used together"):
        import_ndjson(ndjson(saved("a", ".server-log", "A")), overwrite=True, create_new_copies=True)


def test_objects_that_are_not_connectors_are_reported_as_unsupported(app):
    dashboard = {"id": "d1", "type": "dashboard", "attributes": {"title": "Sales"}, "references": []}
    with app.app_context():
        result = import_ndjson(ndjson(dashboard, saved("a", ".server-log", "A")))
        assert not result.success and result.successCount == 1
        assert result.errors == [
            {"id": "d1", "type": "dashboard", "title": "Sales", "meta": {"title": "Sales"},
             "error": {"type": "unsupported_type"}}
        ]
        assert list(stored()) == ["a"]


def test_an_unregistered_connector_type_is_an_error_entry(app):
    with app.app_context():
        result = import_ndjson(ndjson(saved("j", ".made-up-type", "Made up")))
        assert result.errors[0]["error"] == {
            "type": "unknown", "message": 'Action type ".made-up-type" is not registered.', "statusCode": 400
        }
        assert stored() == {}


def test_invalid_config_is_an_error_naming_the_field(app):
    with app.app_context():
        result = import_ndjson(ndjson(saved("h", ".webhook", "Hook", {"method": "post", "hasAuth": False})))
        (error,) = result.errors
        assert error["error"]["type"] == "unknown" and "[url]" in error["error"]["message"]
        result = import_ndjson(ndjson(saved("h", ".webhook", "Hook", {"url": "https://x.example", "color": "red"})))
        assert "[color]" in result.errors[0]["error"]["message"]
        assert stored() == {}


def test_kibana_null_config_fields_this_app_lacks_are_ignored(app):
    config = {"url": "https://example.com/h", "hasAuth": False, "certType": None, "headers": None}
    with app.app_context():
        result = import_ndjson(ndjson(saved("h", ".webhook", "Hook", config)))
        assert result.success
        assert stored()["h"].config == {"url": "https://example.com/h", "hasAuth": False, "method": "post"}


def test_a_blank_name_is_an_error_entry(app):
    with app.app_context():
        result = import_ndjson(ndjson(saved("s", ".server-log", "   ")))
        assert result.errors[0]["error"]["message"] == "Name is required."


def test_a_preconfigured_id_cannot_be_replaced_even_with_overwrite(app):
    with app.app_context():
        db.session.add(Connector(id="pre-1", name="From file", connector_type_id=".server-log", is_preconfigured=True))
        db.session.commit()
        result = import_ndjson(ndjson(saved("pre-1", ".server-log", "Hijack")), overwrite=True)
        (error,) = result.errors
        assert error["error"]["type"] == "unknown" and "preconfigured" in error["error"]["message"]
        db.session.expire_all()
        assert stored()["pre-1"].name == "From file"


def test_a_type_that_needs_secrets_is_flagged_even_if_the_file_says_otherwise(app):
    with app.app_context():
        result = import_ndjson(ndjson(saved("b", ".bedrock", "Bedrock", missing=False)))
        assert stored()["b"].is_missing_secrets is True
        assert result.warnings[0]["message"] == "1 connector has sensitive information that require updates."


def test_a_failed_commit_stores_nothing_and_reraises(app, monkeypatch):
    def broken_commit():
        raise RuntimeError("disk full")

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", broken_commit)
        with pytest.raises(RuntimeError, match="disk full"):
            import_ndjson(ndjson(saved("a", ".server-log", "A")))
        monkeypatch.undo()
        assert stored() == {}


# ---- issue #7 items 10 and 11: imported ids and secret requirements, through the API ----------


def _import_via_api(app, data: bytes, query: str = ""):
    import io

    from tests.api_client import Api

    api = Api.with_key(app)
    return api, api.post(f"/api/saved_objects/_import{query}", data={"file": (io.BytesIO(data), "export.ndjson")})


@pytest.mark.parametrize("bad_id", ["a/b", "..", ".", "-x", "a b", "a?b", "a%2Fb", "é", "x" * 256])
def test_import_refuses_ids_the_api_refuses(app, bad_id):
    api, response = _import_via_api(app, ndjson(saved(bad_id, ".server-log", "Log"), saved("fine-1", ".server-log", "Ok")))
    assert response.status_code == 200
    body = response.get_json()
    assert [e["id"] for e in body["errors"]] == [bad_id]
    assert "id" in body["errors"][0]["error"]["message"].lower()
    assert [r["id"] for r in body["successResults"]] == ["fine-1"]
    with app.app_context():
        assert set(stored()) == {"fine-1"}
    # The API itself refuses the same id on create, so both doors agree.
    from urllib.parse import quote

    created = api.post(f"/api/actions/connector/{quote(bad_id, safe='')}", json={"name": "x", "connector_type_id": ".server-log"})
    assert created.status_code in (400, 404, 405)


def test_import_with_create_new_copies_does_not_check_the_files_ids(app):
    _, response = _import_via_api(app, ndjson(saved("a/b", ".server-log", "Log")), "?createNewCopies=true")
    body = response.get_json()
    assert body["success"] is True and body["successResults"][0]["destinationId"] != "a/b"


def test_an_imported_webhook_that_needs_auth_is_flagged_missing_secrets_and_does_not_run(app):
    from tests.fakes.receiver import Receiver

    with Receiver() as receiver:
        url = receiver.reply("/hook")
        objects = [
            saved("basic-hook", ".webhook", "Basic", {"url": url, "method": "post", "hasAuth": True}, missing=False),
            saved("bearer-hook", ".webhook", "Bearer",
                  {"url": url, "method": "post", "hasAuth": True, "authType": "webhook-authentication-bearer"}),
            saved("open-hook", ".webhook", "Open", {"url": url, "method": "post", "hasAuth": False}),
        ]
        api, response = _import_via_api(app, ndjson(*objects))
        body = response.get_json()
        assert body["successCount"] == 3
        assert body["warnings"][0]["message"] == "2 connectors have sensitive information that require updates."
        flags = {cid: api.get(f"/api/actions/connector/{cid}").get_json()["is_missing_secrets"]
                 for cid in ("basic-hook", "bearer-hook", "open-hook")}
        assert flags == {"basic-hook": True, "bearer-hook": True, "open-hook": False}
        listed = api.get("/api/actions/connectors").get_json()
        assert {c["id"] for c in listed if c["is_missing_secrets"]} == {"basic-hook", "bearer-hook"}

        refused = api.post("/api/actions/connector/basic-hook/_execute", json={"params": {"body": "{}"}}).get_json()
        assert refused["status"] == "error" and "missing secrets" in refused["message"]
        assert receiver.received == []  # never sent without its credentials
        ran = api.post("/api/actions/connector/open-hook/_execute", json={"params": {"body": "{}"}}).get_json()
        assert ran["status"] == "ok" and len(receiver.received) == 1
