"""The `.index` type end to end against a fake Elasticsearch: `_bulk` NDJSON into the index of the
connector (or the alert-history override) on the cluster of the `[elasticsearch]` settings, with
Elasticsearch's errors summarised as Kibana does, and the cluster's credentials kept out of everything."""

from __future__ import annotations

import html
import json
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest

from app.settings import ConfigError, ElasticsearchSettings, FileConfig, load_file_config
from app.types.kit import ELASTICSEARCH_NOT_CONFIGURED
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.elasticsearch import API_KEY, PASSWORD, USERNAME, FakeElasticsearch
from tests.fakes.receiver import Receiver
from tests.fakes.tls import make_ca_and_server_cert
from tests.helpers import assert_secret_kept_out, create_via_form, events

DOCS = [{"message": "disk almost full", "host": "web-1", "count": 3}]


@pytest.fixture
def es():
    with FakeElasticsearch() as fake:
        yield fake


def app_with(tmp_path, **elasticsearch):
    return make_app(tmp_path, file_config=FileConfig(elasticsearch=ElasticsearchSettings(**elasticsearch)))


@pytest.fixture
def es_app(tmp_path, es):
    return app_with(tmp_path, hosts=(es.url,), api_key=API_KEY)


def index_connector(api: Api, index: str = "alerts-history", **config) -> str:
    return api.created({"name": "history", "connector_type_id": ".index",
                        "config": {"index": index, **config}, "secrets": {}})["id"]


def ndjson(body: bytes) -> list[dict]:
    assert body.endswith(b"\n")  # _bulk refuses a body without the final newline
    return [json.loads(line) for line in body.decode().splitlines()]


# ---- writing -------------------------------------------------------------------------------------------


def test_documents_are_created_with_bulk_ndjson_and_the_bulk_answer_is_the_data(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api)
    ran = api.execute(cid, {"documents": [*DOCS, {"message": "second"}]}).get_json()

    assert ran["status"] == "ok"
    assert ran["data"]["errors"] is False and [i["create"]["status"] for i in ran["data"]["items"]] == [201, 201]
    got = es.received[-1]
    assert (got.method, got.path) == ("POST", "/alerts-history/_bulk")
    assert es.queries[-1] == {"refresh": "false"}
    assert got.headers["Authorization"] == f"ApiKey {API_KEY}"
    assert "application/x-ndjson" in got.headers["Content-Type"]
    assert ndjson(got.body) == [{"index": {"op_type": "create"}}, DOCS[0],
                                {"index": {"op_type": "create"}}, {"message": "second"}]
    assert es.documents["alerts-history"] == [DOCS[0], {"message": "second"}]
    [event] = events(es_app)
    assert (event.connector_type_id, event.status, event.http_status) == (".index", "ok", 200)


def test_refresh_and_the_execution_time_field_are_applied_to_every_document(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api, refresh=True, executionTimeField="  @timestamp ")
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert api.execute(cid, {"documents": [{"a": 1}, {"b": 2}]}).get_json()["status"] == "ok"

    assert es.queries[-1] == {"refresh": "true"}
    written = es.documents["alerts-history"]
    stamps = {doc["@timestamp"] for doc in written}
    assert len(stamps) == 1  # one time for the run, as Kibana's `new Date()` per run
    stamp = stamps.pop()
    assert stamp.endswith("Z") and datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before
    assert [{k: v for k, v in d.items() if k != "@timestamp"} for d in written] == [{"a": 1}, {"b": 2}]


def test_the_alert_history_override_is_the_only_other_index_allowed(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api)
    ran = api.execute(cid, {"documents": DOCS, "indexOverride": "kibana-alert-history-ops"}).get_json()
    assert ran["status"] == "ok" and es.received[-1].path == "/kibana-alert-history-ops/_bulk"

    refused = api.execute(cid, {"documents": DOCS, "indexOverride": "secrets"}).get_json()
    assert refused["status"] == "error"
    assert 'index must start with "kibana-alert-history-"' in refused["message"]
    assert len(es.received) == 1


def test_an_index_name_cannot_walk_to_another_api_path(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api, index="../_security/user/mallory")
    api.execute(cid, {"documents": DOCS})
    assert es.raw_paths[-1] == "/..%2F_security%2Fuser%2Fmallory/_bulk"


def test_documents_must_be_a_list_of_objects(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api)
    for documents in ({"a": 1}, ["text"], None):
        ran = api.execute(cid, {"documents": documents}).get_json()
        assert ran["status"] == "error" and "error validating action params" in ran["message"], documents
    assert es.received == []


# ---- Elasticsearch's errors ----------------------------------------------------------------------------


def test_item_errors_are_summarised_with_their_causes_and_not_retried(es_app, es):
    es.mappings["alerts-history"] = {"count": "long"}
    api = Api.with_key(es_app)
    cid = index_connector(api)
    ran = api.execute(cid, {"documents": [{"count": "many"}, {"count": 2}, {"count": "few"}]}).get_json()

    assert ran["status"] == "error" and ran["message"] == "error indexing documents"
    assert ran["service_message"] == (
        "[1:10] failed to parse field [count] of type [long] in document with id 'null'. Preview of field's value: "
        "'many';[1:10] failed to parse field [count] of type [long] in document with id 'null'. Preview of "
        "field's value: 'few' (For input string: \"many\";For input string: \"few\")"
    )
    assert ran["retry"] is False  # the good document was written: a retry would write it twice
    assert es.documents["alerts-history"] == [{"count": 2}]


def test_bulk_errors_without_a_reason_say_so(es_app, es):
    es.answer_next(200, {"took": 1, "errors": True, "items": [{"create": {"_index": "x", "status": 500}}]})
    api = Api.with_key(es_app)
    ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
    assert (ran["message"], ran["service_message"]) == ("error indexing documents",
                                                        "Indexing error but no reason returned.")


def test_a_wrong_api_key_is_elasticsearchs_security_exception_and_final(tmp_path, es):
    app = app_with(tmp_path, hosts=(es.url,), api_key="d3JvbmctaWQ6d3Jvbmcta2V5")
    api = Api.with_key(app)
    ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
    assert ran["status"] == "error" and ran["message"] == "error indexing documents"
    assert ran["service_message"].startswith("security_exception: unable to authenticate user")
    assert ran["retry"] is False
    assert events(app)[-1].http_status == 401


def test_a_rejected_bulk_retries_at_retry_after_and_an_outage_retries(es_app, es):
    api = Api.with_key(es_app)
    cid = index_connector(api)
    es.reject(retry_after="30")
    ran = api.execute(cid, {"documents": DOCS}).get_json()
    assert ran["service_message"].startswith("es_rejected_execution_exception: rejected execution")
    when = datetime.fromisoformat(ran["retry"])
    assert timedelta(seconds=20) < when - datetime.now(UTC) <= timedelta(seconds=31)

    es.outage()
    ran = api.execute(cid, {"documents": DOCS}).get_json()
    assert ran["retry"] is True and ran["service_message"].startswith("cluster_block_exception")
    assert "alerts-history" not in es.documents


def test_the_next_host_is_tried_when_one_does_not_answer(tmp_path, es):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = app_with(tmp_path, hosts=(closed, es.url), api_key=API_KEY)
    api = Api.with_key(app)
    assert api.execute(index_connector(api), {"documents": DOCS}).get_json()["status"] == "ok"
    assert es.documents["alerts-history"] == DOCS


def test_no_host_answering_is_a_failed_request_worth_retrying(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = app_with(tmp_path, hosts=(closed,), api_key=API_KEY)
    api = Api.with_key(app)
    ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
    assert ran["message"] == "error indexing documents" and "refused" in ran["service_message"]
    assert ran["retry"] is True


def test_a_redirect_from_the_cluster_is_not_followed(tmp_path, es):
    with Receiver() as elsewhere:
        target = elsewhere.reply("/_bulk")
        es.answer_next(307, "moved", {"Location": target})
        app = app_with(tmp_path, hosts=(es.url,), api_key=API_KEY)
        api = Api.with_key(app)
        ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
        assert ran["status"] == "error" and elsewhere.received == []


# ---- where it writes -----------------------------------------------------------------------------------


def test_without_an_elasticsearch_section_connectors_save_and_runs_say_what_is_missing(app, web):
    cid = create_via_form(web, ".index", {"name": "history", "config.index": "alerts-history"})
    page = html.unescape(web.post(f"/connectors/{cid}/test", htmx=True, data={
        "params.__present": "1", "params.documents": json.dumps(DOCS)}).get_data(as_text=True))
    assert "error indexing documents" in page and ELASTICSEARCH_NOT_CONFIGURED in page
    [event] = events(app)
    assert event.status == "error" and "[elasticsearch]" in event.message


def test_basic_credentials_from_the_environment_are_sent_and_never_shown(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SB_TEST_ES_PASSWORD", PASSWORD)
    with FakeElasticsearch(api_key=None, basic=(USERNAME, PASSWORD)) as es:
        es.answer_next(400, {"error": {"type": "x_content_parse_exception",
                                       "reason": f"echo: {PASSWORD} / {json.dumps(PASSWORD)}"}, "status": 400})
        app = app_with(tmp_path, hosts=(es.url,), username=USERNAME, password={"env": "SB_TEST_ES_PASSWORD"})
        api, web = Api.with_key(app), Browserish(app.test_client())
        cid = index_connector(api)
        with caplog.at_level(logging.DEBUG):
            echoed = api.execute(cid, {"documents": DOCS})
            page = web.post(f"/connectors/{cid}/test", htmx=True, data={
                "params.__present": "1", "params.documents": json.dumps(DOCS)}).get_data(as_text=True)
        assert es.documents["alerts-history"] == DOCS  # the second run, through the test pane, wrote
        assert_secret_kept_out(app, web, PASSWORD, cid, echoed.get_data(as_text=True), page, log=caplog.text)
        basic = es.received[-1].headers["Authorization"]
        assert basic.startswith("Basic ") and basic.split()[1] not in page


def test_a_credential_naming_an_unset_variable_stops_the_run_not_the_app(tmp_path, es, monkeypatch):
    monkeypatch.delenv("SB_TEST_ES_KEY", raising=False)
    app = app_with(tmp_path, hosts=(es.url,), api_key={"env": "SB_TEST_ES_KEY"})
    api = Api.with_key(app)
    ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
    assert ran["status"] == "error" and "SB_TEST_ES_KEY" in ran["message"] and es.received == []


def test_the_clusters_own_ca_is_trusted_for_it(tmp_path):
    ca, server_tls = make_ca_and_server_cert(tmp_path, "localhost", "127.0.0.1")
    with FakeElasticsearch(ssl_context=server_tls) as es:
        app = app_with(tmp_path / "trusted", hosts=(es.url,), api_key=API_KEY, ca_files=(str(ca),))
        api = Api.with_key(app)
        assert api.execute(index_connector(api), {"documents": DOCS}).get_json()["status"] == "ok"

        untrusting = app_with(tmp_path / "untrusted", hosts=(es.url,), api_key=API_KEY)
        api = Api.with_key(untrusting)
        ran = api.execute(index_connector(api), {"documents": DOCS}).get_json()
        assert ran["status"] == "error" and "TLS" in ran["service_message"]


@pytest.mark.parametrize("section, problem", [
    ('hosts = ["https://es:9200"]\nregion = "x"', "elasticsearch.region"),
    ("hosts = []", "elasticsearch.hosts"),
    ('hosts = ["https://user:pw@es:9200"]', "without credentials"),
    ('hosts = ["https://es:9200"]\napi_key = "k"\nusername = "u"\npassword = "p"', "not both"),
    ('hosts = ["https://es:9200"]\nverification_mode = "sometimes"', "verification_mode"),
])
def test_a_bad_elasticsearch_section_stops_start_up_naming_the_problem(tmp_path, section, problem):
    path = tmp_path / "switchboard.toml"
    path.write_text(f"[elasticsearch]\n{section}\n")
    with pytest.raises(ConfigError) as refused:
        load_file_config(path)
    assert problem in str(refused.value)
