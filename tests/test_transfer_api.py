"""Import and export through the saved-objects API, the list page and the CLI; the Fix flow after an import."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.db import db
from tests.api_client import Api, bearer_webhook, boom, webhook
from tests.conftest import Browserish, make_app
from tests.helpers import connectors

KIBANA_FILE = Path(__file__).parent / "data" / "kibana-connectors-export.ndjson"
WEBHOOK_ID = "4d2d8da0-4d1f-11ee-9367-577408be4681"
BEDROCK_ID = "b7c1e0f2-9a64-4c41-8d3e-2f7a1b5c9d10"
LOG_ID = "my-server-log"
CANARY = "canary-transfer-api-77aa-do-not-export"
RESULT_KEYS = {"success", "successCount", "successResults", "errors", "warnings"}
TWO_MISSING = {
    "type": "action_required",
    "message": "2 connectors have sensitive information that require updates.",
    "actionPath": "/connectors?missing=1",
    "buttonLabel": "Go to connectors",
}


@pytest.fixture
def api(app):
    return Api.with_key(app)


def upload(data: bytes, name: str = "export.ndjson") -> dict:
    return {"file": (io.BytesIO(data), name)}


def import_file(api, data: bytes, query: str = ""):
    return api.post(f"/api/saved_objects/_import{query}", data=upload(data))


def saved_objects(text: str) -> tuple[list[dict], dict]:
    *lines, details = text.split("\n")
    return [json.loads(line) for line in lines], json.loads(details)


def four_connectors(api) -> None:
    api.created(bearer_webhook("https://example.com/b", CANARY, name="Bearer hook", secretHeaders={"X-Key": CANARY}),
                "bearer")
    api.created(webhook("https://example.com/a", name="Open hook"), "open")
    api.created({"name": "Log", "connector_type_id": ".server-log"}, "log")
    api.created({"name": "Bedrock", "connector_type_id": ".bedrock", "config": {},
                 "secrets": {"accessKey": "AKIA" + CANARY, "secret": CANARY}}, "bedrock")


# ---- export ------------------------------------------------------------------------------------


def test_export_by_type_is_ndjson_without_secrets_flagging_what_needs_them(api):
    four_connectors(api)
    response = api.post("/api/saved_objects/_export", json={"type": ["action"]})
    assert response.status_code == 200
    assert response.mimetype == "application/ndjson"
    assert response.headers["Content-Disposition"].startswith("attachment")
    text = response.get_data(as_text=True)
    assert CANARY not in text
    objects, details = saved_objects(text)
    assert [o["id"] for o in objects] == ["bearer", "bedrock", "log", "open"]  # by name
    for o in objects:
        assert o["type"] == "action" and o["references"] == [] and o["attributes"]["secrets"] == {}
    # Kibana: required secrets, else config.hasAuth.
    assert {o["id"]: o["attributes"]["isMissingSecrets"] for o in objects} == {
        "bedrock": True, "bearer": True, "log": False, "open": False,
    }
    assert details == {"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": 4,
                       "missingRefCount": 0, "missingReferences": []}

    as_string = api.post("/api/saved_objects/_export", json={"type": "action"})
    assert as_string.get_data(as_text=True) == text
    bare = api.post("/api/saved_objects/_export", json={"type": ["action"], "excludeExportDetails": True})
    assert bare.get_data(as_text=True) == text.rsplit("\n", 1)[0]


def test_export_by_objects_gives_those_in_the_order_asked(api):
    four_connectors(api)
    response = api.post("/api/saved_objects/_export",
                        json={"objects": [{"type": "action", "id": "open"}, {"type": "action", "id": "bearer"}]})
    objects, details = saved_objects(response.get_data(as_text=True))
    assert [o["id"] for o in objects] == ["open", "bearer"] and details["exportedCount"] == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"objects": [{"type": "action", "id": "nope"}]}, "action:nope"),
        ({"type": ["dashboard"]}, "non-exportable type(s): dashboard"),
        ({}, "`type` or `objects`"),
        ({"type": 5}, "[request body]"),
    ],
)
def test_a_bad_export_request_is_a_400_saying_why(api, body, words):
    response = api.post("/api/saved_objects/_export", json=body)
    assert response.status_code == 400
    assert words in boom(response)["message"]


# ---- import ------------------------------------------------------------------------------------


def test_a_kibana_export_imports_with_kibanas_result_body_and_the_action_required_warning(api):
    response = import_file(api, KIBANA_FILE.read_bytes())
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == RESULT_KEYS
    assert body["success"] is True and body["successCount"] == 3 and body["errors"] == []
    assert {r["id"] for r in body["successResults"]} == {WEBHOOK_ID, LOG_ID, BEDROCK_ID}
    assert all(r["type"] == "action" and r["meta"]["icon"] == "connector" for r in body["successResults"])
    assert body["warnings"] == [TWO_MISSING]

    listed = {c["id"]: c for c in api.get("/api/actions/connectors").get_json()}
    assert {i: c["is_missing_secrets"] for i, c in listed.items()} == {WEBHOOK_ID: True, BEDROCK_ID: True, LOG_ID: False}
    assert listed[WEBHOOK_ID]["name"] == "my-webhook" and listed[WEBHOOK_ID]["connector_type_id"] == ".webhook"
    assert api.execute(LOG_ID, {"message": "imported and working"}).get_json()["status"] == "ok"


def test_importing_again_conflicts_unless_overwrite_or_new_copies_is_asked(api):
    data = KIBANA_FILE.read_bytes()
    import_file(api, data)

    again = import_file(api, data).get_json()
    assert again["success"] is False and again["successCount"] == 0
    assert {e["id"]: e["error"] for e in again["errors"]} == {i: {"type": "conflict"} for i in (WEBHOOK_ID, LOG_ID, BEDROCK_ID)}

    replaced = import_file(api, data, "?overwrite=true").get_json()
    assert replaced["success"] is True and replaced["successCount"] == 3
    assert all(r["overwrite"] is True for r in replaced["successResults"])

    copies = import_file(api, data, "?createNewCopies=true").get_json()
    assert copies["success"] is True
    new_ids = {r["destinationId"] for r in copies["successResults"]}
    assert len(new_ids) == 3 and not new_ids & {WEBHOOK_ID, LOG_ID, BEDROCK_ID}
    assert len(api.get("/api/actions/connectors").get_json()) == 6


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("?overwrite=true&createNewCopies=true", "cannot be used together"),
        ("?overwrite=yes", "[request query.overwrite]"),
    ],
)
def test_bad_import_flags_are_a_400(api, query, words):
    response = import_file(api, KIBANA_FILE.read_bytes(), query)
    assert response.status_code == 400 and words in boom(response)["message"]
    assert api.get("/api/actions/connectors").get_json() == []


def test_a_bad_file_is_a_400_naming_the_line_and_nothing_is_imported(api):
    good = KIBANA_FILE.read_bytes().split(b"\n")[0]
    response = import_file(api, good + b"\n" + b'{"id": "broken", "type": ')
    assert response.status_code == 400
    assert boom(response)["message"].startswith("Line 2: is not valid JSON")
    assert api.get("/api/actions/connectors").get_json() == []


def test_an_import_without_a_file_is_a_400(api):
    response = api.post("/api/saved_objects/_import", data={"other": "x"})
    assert response.status_code == 400
    assert '"file"' in boom(response)["message"]


def test_an_export_file_larger_than_a_form_post_imports(app, api):
    # Kibana accepts import payloads up to 25 MB; the app-wide request limit is 4 MB.
    line = {"id": "big", "type": "action", "references": [], "version": "x" * (5 * 1024 * 1024),
            "attributes": {"actionTypeId": ".server-log", "name": "Big", "config": {}, "secrets": {}}}
    data = json.dumps(line).encode()
    # Encoded here in memory: the test client would spool a body this large to a temporary file it never closes.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), "big.ndjson")})
    multipart = f"multipart/form-data; boundary={boundary}"
    imported = api.post("/api/saved_objects/_import", data=body, content_type=multipart)
    assert imported.get_json()["successCount"] == 1

    web = Browserish(app.test_client())
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), "big.ndjson"), "mode": "overwrite",
                                       "csrf_token": web.token()})
    page = web.post("/connectors/import", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert page.status_code == 200, page.get_data(as_text=True)[-300:]
    assert "Imported 1 connector" in page.get_data(as_text=True)


def test_export_then_import_into_a_fresh_app_keeps_everything_but_the_secrets(app, api, tmp_path):
    four_connectors(api)
    exported = api.post("/api/saved_objects/_export", json={"type": ["action"]}).get_data()
    before = {c["id"]: (c["name"], c["connector_type_id"], c["config"]) for c in
              api.get("/api/actions/connectors").get_json()}

    (tmp_path / "fresh").mkdir()
    fresh = make_app(tmp_path / "fresh")
    try:
        other = Api.with_key(fresh)
        result = import_file(other, exported).get_json()
        assert result["success"] is True and result["successCount"] == 4
        assert result["warnings"] == [TWO_MISSING]
        after = other.get("/api/actions/connectors").get_json()
        assert {c["id"]: (c["name"], c["connector_type_id"], c["config"]) for c in after} == before
        assert {c["id"]: c["is_missing_secrets"] for c in after} == {
            "bedrock": True, "bearer": True, "log": False, "open": False,
        }
        assert all(CANARY not in body for body in other.seen)
    finally:
        with fresh.app_context():
            db.engine.dispose()


# ---- the list page: import form and export button ----------------------------------------------


def test_the_import_page_imports_a_file_and_shows_the_warning(app, web):
    assert web.get("/connectors/import").status_code == 200
    response = web.post("/connectors/import",
                        data={"csrf_token": web.token(), "mode": "skip", **upload(KIBANA_FILE.read_bytes())})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Imported 3 connectors" in page
    assert TWO_MISSING["message"] in page and 'href="/connectors?missing=1"' in page
    assert f'href="/connectors/{WEBHOOK_ID}"' in page

    again = web.post("/connectors/import",
                     data={"csrf_token": web.token(), "mode": "overwrite", **upload(KIBANA_FILE.read_bytes())})
    assert "(replaced)" in again.get_data(as_text=True)
    assert len(connectors(app)) == 3


def test_the_import_page_refuses_a_bad_file_naming_the_line(app, web):
    bad = web.post("/connectors/import", data={"csrf_token": web.token(), "mode": "skip",
                                               **upload(b'{"id": "a", "type": "action", "attributes": {}}\nnot json')})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Nothing was imported." in page and "Line 2" in page
    missing = web.post("/connectors/import", data={"csrf_token": web.token(), "mode": "skip"})
    assert missing.status_code == 422 and "Choose an .ndjson file" in missing.get_data(as_text=True)
    assert connectors(app) == []


def test_the_import_page_needs_its_csrf_token(app, web):
    forged = web.client.post("/connectors/import", data={"mode": "skip", **upload(KIBANA_FILE.read_bytes())})
    assert forged.status_code == 400
    assert connectors(app) == []


def test_the_export_button_downloads_the_ticked_rows_or_all(app, web):
    api = Api.with_key(app)
    four_connectors(api)
    some = web.post("/connectors/export", data={"csrf_token": web.token(), "ids": ["log", "open"]})
    assert some.status_code == 200 and some.mimetype == "application/ndjson"
    assert 'attachment; filename="switchboard-connectors-' in some.headers["Content-Disposition"]
    objects, details = saved_objects(some.get_data(as_text=True))
    assert [o["id"] for o in objects] == ["log", "open"] and details["exportedCount"] == 2

    everything = web.post("/connectors/export", data={"csrf_token": web.token()}).get_data(as_text=True)
    assert saved_objects(everything)[1]["exportedCount"] == 4
    assert CANARY not in everything


# ---- the command line --------------------------------------------------------------------------


def test_cli_export_writes_a_file_the_cli_import_reads(app, api, runner, tmp_path):
    four_connectors(api)
    out = tmp_path / "all.ndjson"
    exported = runner.invoke(args=["connectors", "export", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "Exported 4 connector(s); secrets are never exported." in exported.output
    text = out.read_text()
    assert CANARY not in text and saved_objects(text.rstrip("\n"))[1]["exportedCount"] == 4

    one = runner.invoke(args=["connectors", "export", "--id", "log"])
    assert saved_objects(one.stdout.rstrip("\n"))[0][0]["id"] == "log"
    unknown = runner.invoke(args=["connectors", "export", "--id", "nope"])
    assert unknown.exit_code != 0 and "no such connector(s): nope" in unknown.output

    (tmp_path / "fresh").mkdir()
    fresh = make_app(tmp_path / "fresh")
    try:
        cli = fresh.test_cli_runner()
        imported = cli.invoke(args=["connectors", "import", str(out)])
        assert imported.exit_code == 0, imported.output
        assert "Imported 4 connector(s)." in imported.output
        assert TWO_MISSING["message"] in imported.output
        assert {c.id for c in connectors(fresh)} == {"bearer", "open", "log", "bedrock"}

        conflict = cli.invoke(args=["connectors", "import", str(out)])
        assert conflict.exit_code == 1 and "not imported: log: conflict" in conflict.output
        assert cli.invoke(args=["connectors", "import", "--overwrite", str(out)]).exit_code == 0
    finally:
        with fresh.app_context():
            db.engine.dispose()


def test_cli_import_of_a_bad_file_imports_nothing_and_names_the_line(app, runner, tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(KIBANA_FILE.read_bytes().split(b"\n")[0] + b"\n[1]\n")
    result = runner.invoke(args=["connectors", "import", str(bad)])
    assert result.exit_code != 0
    assert "nothing imported: Line 2: is not a JSON object." in result.output
    assert connectors(app) == []


def test_cli_imports_the_kibana_file(app, runner):
    result = runner.invoke(args=["connectors", "import", str(KIBANA_FILE)])
    assert result.exit_code == 0 and "Imported 3 connector(s)." in result.output
    assert {c.id: c.is_missing_secrets for c in connectors(app)} == {WEBHOOK_ID: True, BEDROCK_ID: True, LOG_ID: False}


# ---- Fix: entering the secrets an import could not bring -----------------------------------------


def test_imported_connectors_show_a_fix_link_until_their_secrets_are_saved(app, web, viewer):
    import_file(Api.with_key(app), KIBANA_FILE.read_bytes())
    listing = web.get("/connectors").get_data(as_text=True)
    assert f'href="/connectors/{WEBHOOK_ID}/edit#secrets"' in listing
    assert f'href="/connectors/{BEDROCK_ID}/edit#secrets"' in listing
    assert f'href="/connectors/{LOG_ID}/edit#secrets"' not in listing
    assert listing.count("missing secrets") == 2

    viewer_listing = viewer.get("/connectors").get_data(as_text=True)
    assert "edit#secrets" not in viewer_listing and ">Fix<" not in viewer_listing
    assert viewer_listing.count("missing secrets") == 2  # the viewer still sees why it cannot run

    only_missing = web.get("/connectors?missing=1").get_data(as_text=True)
    assert "my-webhook" in only_missing and "Claude on Bedrock" in only_missing and "Ops log" not in only_missing

    form = web.get(f"/connectors/{WEBHOOK_ID}/edit").get_data(as_text=True)
    assert 'id="secrets"' in form
    saved = web.post(f"/connectors/{WEBHOOK_ID}/edit", data={
        "name": "my-webhook", "config.url": "https://example.com/hook", "config.method": "post",
        "config.hasAuth": ["false", "true"], "config.authType": "webhook-authentication-basic",
        "secrets.user": "elastic", "secrets.password": "fixed-password-1",
    })
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]

    listing = web.get("/connectors").get_data(as_text=True)
    assert f"/connectors/{WEBHOOK_ID}/edit#secrets" not in listing
    assert f"/connectors/{BEDROCK_ID}/edit#secrets" in listing
    got = Api.with_key(app, "viewer").get(f"/api/actions/connector/{WEBHOOK_ID}").get_json()
    assert got["is_missing_secrets"] is False
