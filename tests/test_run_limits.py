"""Slow services must not starve the app (issue #7 item 5): every run has an overall deadline, and a
worker runs only so many at once, answering the rest 503 with Retry-After while pages keep answering."""

from __future__ import annotations

import threading

import pytest

from app.outbound import OutboundClient, OutboundError, RunDeadline, Trace
from app.services import executions
from app.settings import OutboundSettings
from app.types import get_type
from tests.api_client import Api, webhook
from tests.conftest import Browserish, make_app
from tests.fakes.slow import Drip, Held
from tests.helpers import events

LOCAL = ("127.0.0.1",)


@pytest.fixture
def drip():
    with Drip(count=40, interval=0.25) as server:
        yield server


def test_a_service_that_drips_its_answer_is_cut_at_the_run_deadline(tmp_path, drip):
    # read_timeout alone never fires here: a byte comes every 0.25 s.
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=LOCAL, read_timeout=30, run_timeout=1.5))
    api = Api.with_key(app)
    hook = api.created(webhook(drip.url + "/hook"))
    body = api.execute(hook["id"], {"body": "{}"}).get_json()
    assert body["status"] == "error"
    assert "did not finish within 1.5 s ([outbound] run_timeout)" in body["service_message"]
    assert body["retry"] is True
    assert not drip.finished.is_set()  # the run stopped reading; the service had more to send
    (event,) = events(app)
    assert event.status == "error" and "run_timeout" in event.message


def test_a_streamed_body_that_drips_is_cut_at_the_deadline_too(drip):
    client = OutboundClient(OutboundSettings(allowed_hosts=LOCAL, read_timeout=30))
    response = client.request("POST", drip.url + "/stream", data="{}", stream=True, trace=Trace([]),
                              deadline=RunDeadline(1.0))
    with pytest.raises(OutboundError) as failed:
        for _ in response.iter_bytes(chunk_size=1):
            pass
    assert failed.value.code == "run_timeout"
    assert not drip.finished.is_set()


def test_a_service_that_never_answers_is_cut_at_the_deadline_not_the_read_timeout(tmp_path):
    with Held() as held:
        app = make_app(tmp_path, OutboundSettings(allowed_hosts=LOCAL, read_timeout=30, run_timeout=1))
        api = Api.with_key(app)
        hook = api.created(webhook(held.url + "/hook"))
        body = api.execute(hook["id"], {"body": "{}"}).get_json()
    assert body["status"] == "error"
    assert "did not finish within 1 s ([outbound] run_timeout)" in body["service_message"]


def test_the_deadline_is_the_params_timeout_else_the_types_else_the_setting(tmp_path):
    app = make_app(tmp_path, OutboundSettings(run_timeout=7))
    bedrock, hook = get_type(".bedrock"), get_type(".webhook")
    with app.app_context():
        params = bedrock.sub_actions["invokeAI"].params.model_validate({"messages": [{"role": "user", "content": "hi"}],
                                                                        "timeout": 2500})
        assert executions.run_deadline(bedrock, params).seconds == 2.5
        params = bedrock.sub_actions["invokeAI"].params.model_validate({"messages": [{"role": "user", "content": "hi"}]})
        assert executions.run_deadline(bedrock, params).seconds == 120  # Kibana's LLM default
        assert executions.run_deadline(hook, hook.params.model_validate({"body": "{}"})).seconds == 7


@pytest.fixture
def busy_app(tmp_path):
    return make_app(tmp_path, OutboundSettings(allowed_hosts=LOCAL, max_concurrent_runs=1, max_waiting_runs=0))


def test_runs_beyond_the_workers_bound_get_503_with_retry_after_while_pages_answer(busy_app):
    api = Api.with_key(busy_app)
    web = Browserish(busy_app.test_client())
    with Held() as held:
        hook = api.created(webhook(held.url + "/hook"))
        first: dict = {}
        # Its own client: the test client is not shared between threads.
        running = threading.Thread(target=lambda: first.update(
            response=Api.with_key(busy_app).execute(hook["id"], {"body": "{}"})))
        running.start()
        try:
            assert held.first_arrived.wait(10)
            refused = api.execute(hook["id"], {"body": "{}"})
            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "2"
            assert refused.get_json()["message"].startswith("Too many runs in progress")
            assert busy_app.test_client().get("/healthz").status_code == 200
            assert web.get("/connectors").status_code == 200
            assert api.get("/api/actions/connectors").status_code == 200
            pane = web.post(f"/connectors/{hook['id']}/test", data={"params.__present": "1", "params.body": "{}"},
                            headers={"HX-Request": "true"})
            assert pane.status_code == 503 and "Too many runs in progress" in pane.headers["HX-Trigger"]
        finally:
            held.release()
            running.join(30)
    assert first["response"].get_json()["status"] == "ok"
    assert held.arrived == 1
    assert len(events(busy_app)) == 1  # a refused run never started: no event row
