"""The REST API speaks Kibana's Connectors API: paths, field names, status codes and Boom error bodies."""

from __future__ import annotations

import base64
import io
import json
import uuid

import pytest

from app.types import REGISTRY
from tests.api_client import WEBHOOK, Api, basic, bearer_webhook, boom, new_api_key, webhook
from tests.conftest import PASSWORDS
from tests.fakes.receiver import Receiver
from tests.helpers import events

CANARY = "canary-api-4e1b-do-not-return"
KIBANA_CONNECTOR_KEYS = {
    "id", "name", "connector_type_id", "config", "is_preconfigured", "is_deprecated", "is_missing_secrets",
    "is_system_action", "is_connector_type_deprecated",
}


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def api(app):
    return Api.with_key(app, "admin")


# ---- create, get, update, delete ---------------------------------------------------------------


def test_create_answers_the_connector_with_kibanas_fields_and_config_defaults(api):
    response = api.create(
        {
            "name": "A generic Webhook action",
            "connector_type_id": ".webhook",
            "config": {"url": "http://localhost:9000"},
            "secrets": {"user": "username", "password": "mypassphrase"},
        }
    )
    assert response.status_code == 200  # Kibana answers 200, not 201
    body = response.get_json()
    assert set(body) == KIBANA_CONNECTOR_KEYS
    assert uuid.UUID(body["id"])
    assert body["name"] == "A generic Webhook action" and body["connector_type_id"] == ".webhook"
    assert (body["is_preconfigured"], body["is_deprecated"], body["is_system_action"]) == (False, False, False)
    assert body["is_missing_secrets"] is False
    # Validated config comes back with the schema's defaults filled in.
    assert body["config"]["url"] == "http://localhost:9000"
    assert body["config"]["method"] == "post" and body["config"]["hasAuth"] is True
    assert "secrets" not in body

    fetched = api.get(f"/api/actions/connector/{body['id']}")
    assert fetched.status_code == 200 and fetched.get_json() == body


def test_create_with_a_chosen_id_then_the_same_id_again_is_a_409_conflict(api):
    body = api.created({"name": "Ops log", "connector_type_id": ".server-log"}, "ops-log")
    assert body["id"] == "ops-log" and body["config"] == {}

    again = api.create({"name": "Other", "connector_type_id": ".server-log"}, "ops-log")
    assert again.status_code == 409
    assert boom(again) == {"statusCode": 409, "error": "Conflict", "message": "Saved object [action/ops-log] conflict"}
    assert api.get("/api/actions/connector/ops-log").get_json()["name"] == "Ops log"


def test_a_chosen_id_with_unsafe_characters_is_refused(api):
    response = api.create({"name": "x", "connector_type_id": ".server-log"}, "has space")
    assert response.status_code == 400
    assert boom(response)["message"].startswith("[id]:")


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("GET", "", None),
        ("PUT", "", {"name": "x"}),
        ("DELETE", "", None),
        ("POST", "/_execute", {"params": {}}),
    ],
)
def test_an_unknown_connector_is_kibanas_404(api, method, suffix, payload):
    response = api.call(method, f"/api/actions/connector/no-such-id{suffix}", json=payload)
    assert response.status_code == 404
    assert boom(response) == {
        "statusCode": 404, "error": "Not Found", "message": "Saved object [action/no-such-id] not found"
    }


def test_update_replaces_config_and_secrets_wholesale(api, receiver):
    url = receiver.reply("/hook")
    cid = api.created(bearer_webhook(url, "token-one", secretHeaders={"X-Key": "key-one"}))["id"]

    response = api.put(
        f"/api/actions/connector/{cid}",
        json={"name": "renamed", "config": {"url": url, "hasAuth": True, "authType": "webhook-authentication-bearer"},
              "secrets": {"token": "token-two"}},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "renamed" and body["is_missing_secrets"] is False

    assert api.execute(cid, {"body": "{}"}).get_json()["status"] == "ok"
    sent = receiver.received[-1].headers
    assert sent["Authorization"] == "Bearer token-two"
    assert "X-Key" not in sent  # the secret header was not sent again, so it is gone


def test_update_without_the_secrets_does_not_keep_the_old_ones(api, receiver):
    url = receiver.reply("/hook")
    cid = api.created(bearer_webhook(url, "token-one"))["id"]
    config = {"url": url, "hasAuth": True, "authType": "webhook-authentication-bearer"}

    response = api.put(f"/api/actions/connector/{cid}", json={"name": "renamed", "config": config})
    assert response.status_code == 400
    assert boom(response)["message"] == (
        "error validating action type secrets: [token]: required for bearer authentication"
    )
    # The refused update changed nothing.
    assert api.get(f"/api/actions/connector/{cid}").get_json()["name"] == "bearer hook"
    api.execute(cid, {"body": "{}"})
    assert receiver.received[-1].headers["Authorization"] == "Bearer token-one"


def test_update_cannot_change_the_type(api):
    cid = api.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    response = api.put(f"/api/actions/connector/{cid}", json={"name": "log", "connector_type_id": ".webhook"})
    assert response.status_code == 400
    assert boom(response)["message"] == "[request body.connector_type_id]: definition for this key is missing"


def test_delete_answers_204_with_an_empty_body_and_the_connector_is_gone(api):
    cid = api.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    response = api.delete(f"/api/actions/connector/{cid}")
    assert response.status_code == 204 and response.get_data() == b""
    assert api.get(f"/api/actions/connector/{cid}").status_code == 404
    assert api.delete(f"/api/actions/connector/{cid}").status_code == 404


# ---- lists -------------------------------------------------------------------------------------


def test_list_is_sorted_by_name_and_counts_references(api):
    for name in ("charlie", "Alpha", "beta"):
        api.created({"name": name, "connector_type_id": ".server-log"})
    response = api.get("/api/actions/connectors")
    assert response.status_code == 200
    rows = response.get_json()
    assert [r["name"] for r in rows] == ["Alpha", "beta", "charlie"]  # as localeCompare, not A-Z then a-z
    for row in rows:
        assert set(row) == KIBANA_CONNECTOR_KEYS | {"referenced_by_count"}
        assert row["referenced_by_count"] == 0 and row["config"] == {}


def test_connector_types_list_every_type_with_enabled_flags(api):
    response = api.get("/api/actions/connector_types")
    assert response.status_code == 200
    types = {t["id"]: t for t in response.get_json()}
    assert {".webhook", ".server-log", ".bedrock"} <= set(types)
    webhook_type = types[".webhook"]
    assert webhook_type["name"] == "Webhook"
    assert webhook_type["enabled"] is webhook_type["enabled_in_config"] is webhook_type["enabled_in_license"] is True
    assert webhook_type["minimum_license_required"] == "gold"
    assert webhook_type["supported_feature_ids"] == ["alerting", "uptime", "siem"]
    assert webhook_type["is_system_action_type"] is False
    assert types[".bedrock"]["minimum_license_required"] == "enterprise"


def test_connector_types_filter_by_feature_id(api):
    def declaring(feature):
        return {t.id for t in REGISTRY.values() if feature in t.supported_feature_ids}

    gen_ai = api.get("/api/actions/connector_types?feature_id=generativeAIForSecurity").get_json()
    assert {t["id"] for t in gen_ai} == declaring("generativeAIForSecurity") and ".bedrock" in declaring("generativeAIForSecurity")
    alerting = {t["id"] for t in api.get("/api/actions/connector_types?feature_id=alerting").get_json()}
    assert alerting == declaring("alerting") and {".webhook", ".server-log"} <= alerting and ".bedrock" not in alerting
    assert api.get("/api/actions/connector_types?feature_id=no-such-feature").get_json() == []


# ---- _execute ----------------------------------------------------------------------------------


def test_execute_sends_the_params_and_answers_status_ok(app, api, receiver):
    cid = api.created(webhook(receiver.reply("/hook")))["id"]
    response = api.execute(cid, {"body": '{"text": "deployed"}'})
    assert response.status_code == 200
    assert response.get_json() == {"connector_id": cid, "status": "ok", "data": '{"text": "deployed"}'}
    assert json.loads(receiver.received[-1].body) == {"text": "deployed"}
    event = events(app)[-1]
    assert (event.source, event.actor, event.status) == ("http_request", "api key admin script", "ok")


def test_a_failing_connector_is_still_a_200_with_status_error(app, api, receiver):
    url = receiver.reply("/hook", status=500, body=b'{"message": "database down"}')
    cid = api.created(webhook(url))["id"]
    response = api.execute(cid, {"body": "{}"})
    assert response.status_code == 200
    assert response.get_json() == {
        "connector_id": cid,
        "status": "error",
        "message": "error calling webhook, retry later",
        "service_message": "[500] INTERNAL SERVER ERROR: database down",  # werkzeug's reason phrase
        "retry": True,
    }
    assert events(app)[-1].status == "error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "[request body.params]: expected value of type [object] but got [undefined]"),
        ({"params": "hi"}, "[request body.params]: expected value of type [object] but got [str]"),
        ({"params": {}, "extra": 1}, "[request body.extra]: definition for this key is missing"),
    ],
)
def test_execute_needs_a_params_object(api, body, message):
    cid = api.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    response = api.post(f"/api/actions/connector/{cid}/_execute", json=body)
    assert response.status_code == 400
    assert boom(response)["message"] == message


def test_execute_with_bad_params_is_a_status_error_naming_the_field(api):
    cid = api.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    response = api.execute(cid, {"level": "info"})
    assert response.status_code == 200  # as Kibana's executor: a params error is a failed run, not a bad request
    body = response.get_json()
    assert body["status"] == "error" and body["retry"] is False
    assert body["message"] == "error validating action params: [message]: Field required"


# ---- request validation ------------------------------------------------------------------------


def test_unknown_top_level_keys_are_rejected(api):
    response = api.create({"name": "x", "connector_type_id": ".server-log", "foo": 1})
    assert response.status_code == 400
    assert boom(response) == {
        "statusCode": 400, "error": "Bad Request", "message": "[request body.foo]: definition for this key is missing"
    }


def test_unknown_keys_inside_config_are_rejected_naming_the_field(api):
    response = api.create(webhook("https://example.com/h", color="red"))
    assert response.status_code == 400
    assert boom(response)["message"].startswith("error validating action type config: [color]: ")


def test_a_bad_config_value_is_named(api):
    response = api.create(webhook("not a url"))
    assert response.status_code == 400
    message = boom(response)["message"]
    assert message.startswith("error validating action type config: [url]")


def test_an_unknown_type_is_not_registered(api):
    response = api.create({"name": "x", "connector_type_id": ".nope"})
    assert response.status_code == 400
    assert boom(response)["message"] == 'Action type ".nope" is not registered.'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connector_type_id": ".server-log"}, "name"),
        ({"name": "   ", "connector_type_id": ".server-log"}, "name"),
        ({"name": "x"}, "connector_type_id"),
        ({"name": "x", "connector_type_id": ".server-log", "config": []}, "config"),
    ],
)
def test_missing_or_mistyped_fields_are_named(api, body, field):
    response = api.create(body)
    assert response.status_code == 400
    assert boom(response)["message"].startswith(f"[request body.{field}]: ")


def test_a_body_that_is_not_a_json_object_is_a_400(api):
    response = api.post("/api/actions/connector", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert boom(response)["message"].startswith("[request body]: expected a plain object value")
    assert api.get("/api/actions/connectors").get_json() == []


# ---- spaces ------------------------------------------------------------------------------------


def test_every_route_answers_under_s_default_too(api, receiver):
    base = "/s/default/api/actions"
    created = api.post(f"{base}/connector/hook-1", json=webhook(receiver.reply("/hook")))
    assert created.status_code == 200
    assert api.post(f"{base}/connector", json={"name": "log", "connector_type_id": ".server-log"}).status_code == 200
    assert api.get(f"{base}/connector/hook-1").get_json()["id"] == "hook-1"
    assert api.put(f"{base}/connector/hook-1", json={"name": "h", "config": {"url": receiver.url + "/hook",
                                                                             "hasAuth": False}}).status_code == 200
    assert [c["name"] for c in api.get(f"{base}/connectors").get_json()] == ["h", "log"]
    assert api.get(f"{base}/connector_types").status_code == 200
    assert api.execute("hook-1", {"body": "{}"}, prefix="/s/default").get_json()["status"] == "ok"
    exported = api.post("/s/default/api/saved_objects/_export", json={"type": ["action"]})
    assert exported.status_code == 200
    imported = api.post("/s/default/api/saved_objects/_import?overwrite=true",
                        data={"file": (io.BytesIO(exported.get_data()), "export.ndjson")})
    assert imported.status_code == 200 and imported.get_json()["successCount"] == 2
    assert api.delete(f"{base}/connector/hook-1").status_code == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/s/marketing/api/actions/connectors"),
        ("GET", "/s/marketing/api/actions/connector/x"),
        ("POST", "/s/marketing/api/actions/connector"),
        ("POST", "/s/marketing/api/saved_objects/_export"),
    ],
)
def test_other_spaces_are_404(api, method, path):
    response = api.call(method, path, json={"name": "x", "connector_type_id": ".server-log"})
    assert response.status_code == 404
    assert "marketing" in boom(response)["message"]
    assert api.get("/api/actions/connectors").get_json() == []


# ---- kbn-xsrf, credentials and roles -----------------------------------------------------------


def test_changes_without_kbn_xsrf_are_refused_and_do_nothing(app):
    key = new_api_key(app)
    api = Api(app.test_client(), "ApiKey " + key)
    cid = api.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    no_xsrf = Api(app.test_client(), "ApiKey " + key, xsrf=False)
    attempts = [
        no_xsrf.post("/api/actions/connector", json={"name": "x", "connector_type_id": ".server-log"}),
        no_xsrf.post("/api/actions/connector/chosen", json={"name": "x", "connector_type_id": ".server-log"}),
        no_xsrf.put(f"/api/actions/connector/{cid}", json={"name": "renamed"}),
        no_xsrf.delete(f"/api/actions/connector/{cid}"),
        no_xsrf.execute(cid, {"message": "hi"}),
        no_xsrf.post("/api/saved_objects/_export", json={"type": "action"}),
        no_xsrf.post("/api/saved_objects/_import", data={"file": (io.BytesIO(b""), "x.ndjson")}),
    ]
    for response in attempts:
        assert response.status_code == 400
        assert boom(response) == {
            "statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."
        }
    assert [c["name"] for c in api.get("/api/actions/connectors").get_json()] == ["log"]
    assert events(app) == []
    # Reads need no header; Kibana also accepts kbn-version in its place.
    assert no_xsrf.get("/api/actions/connectors").status_code == 200
    renamed = no_xsrf.put(f"/api/actions/connector/{cid}", json={"name": "renamed"}, headers={"kbn-version": "8.14.0"})
    assert renamed.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "ApiKey not-base64!",
        "ApiKey " + "bm8tc3VjaC1pZDpuby1zdWNoLWtleQ==",  # "no-such-id:no-such-key"
        "Bearer something",
        "Basic ###",
    ],
)
def test_no_or_bad_credentials_are_a_401(app, authorization):
    api = Api(app.test_client(), authorization)
    for response in (api.get("/api/actions/connectors"), api.get("/api/actions/connector_types"),
                     api.create({"name": "x", "connector_type_id": ".server-log"})):
        assert response.status_code == 401
        assert boom(response)["error"] == "Unauthorized"
    assert Api.with_key(app).get("/api/actions/connectors").get_json() == []


def test_a_key_with_the_right_id_but_a_wrong_secret_is_a_401(app):
    key_id = base64.b64decode(new_api_key(app)).decode().partition(":")[0]
    forged = base64.b64encode(f"{key_id}:guessed".encode()).decode()
    assert Api(app.test_client(), "ApiKey " + forged).get("/api/actions/connectors").status_code == 401


def test_basic_credentials_of_a_user_work_and_a_wrong_password_is_a_401(app):
    client = app.test_client()
    good = Api(client, basic("admin", PASSWORDS["admin"]))
    assert good.created({"name": "log", "connector_type_id": ".server-log"})["name"] == "log"
    response = Api(client, basic("admin", "wrong-password")).get("/api/actions/connectors")
    assert response.status_code == 401
    assert boom(response)["message"] == "Unable to authenticate: wrong user name or password."


def test_viewer_can_read_and_execute_but_not_change(app):
    admin = Api.with_key(app, "admin")
    cid = admin.created({"name": "log", "connector_type_id": ".server-log"})["id"]
    viewer = Api.with_key(app, "viewer")

    assert viewer.get("/api/actions/connectors").status_code == 200
    assert viewer.get(f"/api/actions/connector/{cid}").status_code == 200
    assert viewer.get("/api/actions/connector_types").status_code == 200
    assert viewer.execute(cid, {"message": "from a viewer"}).get_json()["status"] == "ok"

    refused = {
        "create": viewer.create(webhook("https://example.com/h")),
        "create with id": viewer.create({"name": "x", "connector_type_id": ".server-log"}, "mine"),
        "update": viewer.put(f"/api/actions/connector/{cid}", json={"name": "renamed"}),
        "delete": viewer.delete(f"/api/actions/connector/{cid}"),
        "export": viewer.post("/api/saved_objects/_export", json={"type": ["action"]}),
        "import": viewer.post("/api/saved_objects/_import", data={"file": (io.BytesIO(b""), "x.ndjson")}),
    }
    for what, response in refused.items():
        assert response.status_code == 403, what
        assert boom(response)["error"] == "Forbidden"
    assert boom(refused["create"])["message"] == 'Unauthorized to create a ".webhook" action'
    assert boom(refused["update"])["message"] == 'Unauthorized to update a ".server-log" action'
    assert boom(refused["delete"])["message"] == 'Unauthorized to delete a ".server-log" action'
    assert [c["name"] for c in admin.get("/api/actions/connectors").get_json()] == ["log"]


def test_cookie_authenticated_calls_need_the_csrf_token_not_kbn_xsrf(app, web):
    client = web.client
    body = {"name": "log", "connector_type_id": ".server-log"}
    assert client.get("/api/actions/connectors").status_code == 200  # the session cookie signs reads in

    without = client.post("/api/actions/connector", json=body)
    assert without.status_code == 400 and "X-CSRFToken" in boom(without)["message"]
    kbn_only = client.post("/api/actions/connector", json=body, headers={"kbn-xsrf": "true"})
    assert kbn_only.status_code == 400  # a browser could be made to send that header; the token it cannot
    wrong = client.post("/api/actions/connector", json=body, headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400
    assert client.get("/api/actions/connectors").get_json() == []

    ok = client.post("/api/actions/connector", json=body, headers={"X-CSRFToken": web.token()})
    assert ok.status_code == 200 and ok.get_json()["name"] == "log"


def test_a_signed_in_viewers_cookie_cannot_change_through_the_api(app, viewer):
    response = viewer.client.post(
        "/api/actions/connector", json={"name": "x", "connector_type_id": ".server-log"},
        headers={"X-CSRFToken": viewer.token()},
    )
    assert response.status_code == 403
    assert boom(response)["message"] == 'Unauthorized to create a ".server-log" action'


# ---- secrets never come back -------------------------------------------------------------------


def test_a_canary_secret_is_in_no_response_body(app, api, receiver):
    url = receiver.reply("/hook", status=500, body=("you sent " + CANARY).encode())
    ok_url = receiver.reply("/ok")
    create = bearer_webhook(url, CANARY, secretHeaders={"X-Key": CANARY})
    cid = api.created(create)["id"]
    api.created({**create, "name": "second"}, "second")
    api.get(f"/api/actions/connector/{cid}")
    api.get("/api/actions/connectors")
    api.put(f"/api/actions/connector/{cid}", json={k: v for k, v in create.items() if k != "connector_type_id"})
    failed = api.execute(cid, {"body": "{}"}).get_json()
    api.put("/api/actions/connector/second",
            json={"name": "second", "config": {**create["config"], "url": ok_url}, "secrets": create["secrets"]})
    assert api.execute("second", {"body": "{}"}).get_json()["status"] == "ok"
    api.post("/api/saved_objects/_export", json={"type": ["action"]})
    api.post("/api/saved_objects/_export", json={"objects": [{"type": "action", "id": cid}]})

    assert receiver.received[0].headers["Authorization"] == f"Bearer {CANARY}"
    assert receiver.received[0].headers["X-Key"] == CANARY
    assert failed["status"] == "error" and "you sent" in failed["service_message"]
    assert len(api.seen) == 10
    for body in api.seen:
        assert CANARY not in body


def test_put_with_secrets_clears_is_missing_secrets(app, api, receiver):
    url = receiver.reply("/hook")
    line = {"id": "imported", "type": "action", "references": [],
            "attributes": {"actionTypeId": WEBHOOK, "name": "Imported", "isMissingSecrets": True, "secrets": {},
                           "config": {"url": url, "hasAuth": True, "authType": "webhook-authentication-bearer"}}}
    imported = api.post("/api/saved_objects/_import", data={"file": (io.BytesIO(json.dumps(line).encode()), "x.ndjson")})
    assert imported.get_json()["successCount"] == 1
    assert api.get("/api/actions/connector/imported").get_json()["is_missing_secrets"] is True

    refused = api.execute("imported", {"body": "{}"}).get_json()
    assert refused["status"] == "error" and "missing secrets" in refused["message"]
    assert receiver.received == []

    response = api.put("/api/actions/connector/imported", json={
        "name": "Imported", "config": line["attributes"]["config"], "secrets": {"token": "fixed-token"}})
    assert response.status_code == 200 and response.get_json()["is_missing_secrets"] is False
    assert api.execute("imported", {"body": "{}"}).get_json()["status"] == "ok"
    assert receiver.received[-1].headers["Authorization"] == "Bearer fixed-token"


def test_unknown_api_paths_answer_json_not_a_page(api):
    response = api.get("/api/actions/nothing-here")
    assert response.status_code == 404
    assert boom(response)["error"] == "Not Found"



def test_a_servicenow_connector_on_the_legacy_table_api_is_deprecated_as_kibana_says(api):
    def created(config: dict) -> dict:
        return api.created({"name": "sn", "connector_type_id": ".servicenow", "secrets": {"username": "u",
                            "password": "p"}, "config": {"apiUrl": "https://example.service-now.com", **config}})

    legacy, current = created({"usesTableApi": True}), created({"usesTableApi": False})
    assert legacy["is_deprecated"] is True and current["is_deprecated"] is False
    listed = {c["id"]: c["is_deprecated"] for c in api.get("/api/actions/connectors").get_json()}
    assert listed[legacy["id"]] is True and listed[current["id"]] is False
    assert api.get(f"/api/actions/connector/{current['id']}").get_json()["is_deprecated"] is False
