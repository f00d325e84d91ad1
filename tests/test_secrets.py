"""Secrets are write-only: encrypted at rest, never in a page, a log line, an event row or the DB file."""

from __future__ import annotations

import base64
import html
import json
import logging
from urllib.parse import quote, quote_plus, urlencode

from cryptography.fernet import Fernet
from werkzeug.wrappers import Request, Response

from app.db import db
from app.models import Connector
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY
from tests.fakes.eventstream import CONTENT_TYPE as EVENT_STREAM
from tests.fakes.eventstream import chunk_frame
from tests.fakes.receiver import Receiver
from tests.fakes.server import FakeServer
from tests.helpers import connectors, create_via_form, events, webhook_fields

CANARY = "canary-7f3a9c-do-not-leak"


def bearer_fields(url: str, token: str = CANARY, **extra) -> dict:
    return webhook_fields(
        url,
        **{"config.hasAuth": ["false", "true"], "config.authType": "webhook-authentication-bearer",
           "secrets.token": token},
        **extra,
    )


def every_page(web, cid: str) -> str:
    pages = ["/connectors", f"/connectors/{cid}", f"/connectors/{cid}/edit", "/events", f"/connectors/{cid}/events"]
    return "".join(web.get(p).get_data(as_text=True) + web.get(p, htmx=True).get_data(as_text=True) for p in pages)


def test_canary_secret_never_leaves_the_server(app, web, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with Receiver() as receiver:
        url = receiver.reply("/echo", status=500, body=("you sent " + CANARY).encode())
        cid = create_via_form(web, ".webhook", bearer_fields(url))
        result = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": "{}"}, htmx=True)
        unsaved = web.post(
            "/connectors/new/.webhook/test", data={**bearer_fields(url), "params.__present": "1"}, htmx=True
        )
        assert receiver.received[0].headers["Authorization"] == f"Bearer {CANARY}"

    shown = result.get_data(as_text=True) + unsaved.get_data(as_text=True) + every_page(web, cid)
    assert CANARY not in shown
    assert "you sent ••••••" in shown  # the service echoed it; the pane masks it
    assert CANARY not in caplog.text
    for event in events(app):
        assert CANARY not in repr(vars(event))
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("switchboard.db*"))
    assert CANARY.encode() not in raw


MARK = "7f3a9c"  # in every canary below: JSON, URL and HTML escaping all leave it as it is
USER = f"canary-user-{MARK}"
PASSWORD = f'canary-pw-"\\/<é>&{MARK}'  # ", \\, /, <, & and non-ASCII: each escapes differently
HEADER_KEY = f"canary-key/{MARK}+="


class Echo(FakeServer):
    """A service that answers 500 with everything it was sent: the request's headers and body as JSON
    (ASCII-escaped and with `\\/`, as PHP's json_encode writes it), URL-encoded and HTML-escaped."""

    def __init__(self):
        super().__init__(self._app)

    @staticmethod
    def _app(environ, start_response):
        request = Request(environ)
        sent = {"headers": dict(request.headers), "body": request.get_data(as_text=True)}
        text = "\n".join([json.dumps(sent).replace("/", "\\/"), json.dumps(sent, ensure_ascii=False),
                          urlencode(sent["headers"]), quote(json.dumps(sent)), html.escape(str(sent))])
        return Response(text, 500, content_type="application/json")(environ, start_response)


def _wire_forms() -> list[str]:
    """The forms of the canaries that do not keep MARK readable: the Basic credential's base64."""
    credential = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [credential, credential.replace("/", "\\/"), quote(credential, safe=""), quote_plus(credential)]


def test_canary_secrets_in_every_encoding_never_leave_the_server(app, web, viewer, tmp_path, caplog):
    """Issue #7 item 2: an echoing service returns the secrets base64-, JSON-, URL- and HTML-encoded."""
    caplog.set_level(logging.DEBUG)
    basic = webhook_fields("", **{"config.hasAuth": ["false", "true"], "config.authType": "webhook-authentication-basic",
                                  "secrets.user": USER, "secrets.password": PASSWORD,
                                  "secrets.secretHeaders.name": "X-Api-Key", "secrets.secretHeaders.value": HEADER_KEY})
    with Echo() as echo:
        fields = {**basic, "config.url": echo.url + "/echo"}
        cid = create_via_form(web, ".webhook", fields)
        pane = {"params.__present": "1", "params.body": '{"n": 1}'}
        shown = [web.post(f"/connectors/{cid}/test", data=pane, htmx=True),
                 viewer.post(f"/connectors/{cid}/test", data=pane, htmx=True),
                 web.post("/connectors/new/.webhook/test", data={**fields, **pane}, htmx=True)]
        executed = Api.with_key(app).execute(cid, {"body": '{"n": 1}'})
    assert [r.status_code for r in shown] == [200, 200, 200]  # a viewer may run the test pane too
    pages = [r.get_data(as_text=True) for r in shown] + [every_page(web, cid), every_page(viewer, cid)]
    assert "X-Api-Key" in pages[1]  # the viewer saw the echo, masked
    service_message = executed.get_json()["service_message"]
    assert "X-Api-Key" in pages[0] and "••••••" in pages[0]  # the echo was shown, masked
    assert "X-Api-Key" in service_message
    for text in [*pages, service_message, caplog.text, *(repr(vars(e)) for e in events(app))]:
        assert MARK not in text
        for form in _wire_forms():
            assert form not in text
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("switchboard.db*"))
    assert MARK.encode() not in raw
    assert not any(form.encode() in raw for form in _wire_forms())


def test_a_secret_cut_off_by_a_message_limit_is_masked_too(app, web):
    """A service message is shortened to 300 characters: the cut must not leave the secret's first part."""
    with Receiver() as receiver:
        url = receiver.reply("/echo", status=500, body="z" * 290 + " " + CANARY, headers={"Content-Type": "text/plain"})
        cid = create_via_form(web, ".webhook", bearer_fields(url))
        pane = web.post(f"/connectors/{cid}/test", data={"params.__present": "1"}, htmx=True).get_data(as_text=True)
        executed = Api.with_key(app).execute(cid, {"body": "{}"}).get_json()
    assert executed["service_message"].endswith("z ••••••…")
    for text in (pane, executed["service_message"], every_page(web, cid), *(repr(vars(e)) for e in events(app))):
        assert CANARY[:9] not in text


class SplitStream(FakeServer):
    """A Bedrock-like model that streams back what it was told, three characters per piece: a secret in
    the prompt comes back split across pieces."""

    def __init__(self):
        super().__init__(self._app)

    @staticmethod
    def _app(environ, start_response):
        prompt = json.loads(Request(environ).get_data())["messages"][-1]["content"]
        frames = [chunk_frame({"type": "message_start", "message": {"id": "m1", "type": "message", "role": "assistant",
                                                                    "content": [], "usage": {"input_tokens": 1}}}),
                  chunk_frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
        text = "you sent " + prompt
        frames += [chunk_frame({"type": "content_block_delta", "index": 0,
                                "delta": {"type": "text_delta", "text": text[i:i + 3]}}) for i in range(0, len(text), 3)]
        frames += [chunk_frame({"type": "content_block_stop", "index": 0}),
                   chunk_frame({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
                   chunk_frame({"type": "message_stop"})]
        return Response(frames, 200, content_type=EVENT_STREAM)(environ, start_response)


def test_a_secret_split_across_streamed_pieces_is_masked(app, web):
    with SplitStream() as model:
        cid = create_via_form(web, ".bedrock", {"name": "split", "config.apiUrl": model.url,
                                                "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY})
        response = web.post(f"/connectors/{cid}/test", htmx=True, headers={"Accept": "text/event-stream"}, data={
            "params.__present": "1", "params.subAction": "invokeStream",
            "params.sub.messages": json.dumps([{"role": "user", "content": f"is {SECRET_KEY} safe?"}])})
        stream = response.get_data(as_text=True)
    pieces = [json.loads(line[len("data: "):]) for block in stream.split("\n\n") if block.startswith("event: delta")
              for line in block.splitlines()[1:]]
    streamed = "".join(pieces)
    assert streamed == "you sent is •••••• safe?"
    assert SECRET_KEY not in stream and SECRET_KEY[:6] not in streamed
    for event in events(app):
        assert SECRET_KEY not in repr(vars(event))


def test_blank_secret_keeps_stored_value(app, web):
    with Receiver() as receiver:
        url = receiver.reply("/hook")
        cid = create_via_form(web, ".webhook", bearer_fields(url))
        edit = web.post(f"/connectors/{cid}/edit", data=bearer_fields(url, token="", name="renamed"))
        assert edit.status_code == 303
        web.post(f"/connectors/{cid}/test", data={"params.__present": "1"}, htmx=True)
        assert receiver.received[-1].headers["Authorization"] == f"Bearer {CANARY}"
    assert connectors(app)[0].name == "renamed"


def test_edit_form_says_stored_and_shows_no_value(web):
    cid = create_via_form(web, ".webhook", bearer_fields("http://127.0.0.1:9/x"))
    page = web.get(f"/connectors/{cid}/edit").get_data(as_text=True)
    assert "stored — leave blank to keep" in page
    assert CANARY not in page


def test_masked_placeholder_is_never_accepted_as_a_secret(app, web):
    cid = create_via_form(web, ".webhook", bearer_fields("http://127.0.0.1:9/x"))
    response = web.post(f"/connectors/{cid}/edit", data=bearer_fields("http://127.0.0.1:9/x", token="••••••"))
    assert response.status_code == 422
    assert "Enter the secret itself" in response.get_data(as_text=True)


def test_secrets_typed_before_a_failed_save_come_back_encrypted_not_in_plain_text(app, web):
    bad = bearer_fields("not a url")
    response = web.post("/connectors/new/.webhook", data=bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert CANARY not in page
    pending = page.split('name="secrets.__pending" value="')[1].split('"')[0]
    assert pending  # an encrypted token, so the user need not type the secret again
    fixed = {**bearer_fields("http://127.0.0.1:9/x", token=""), "secrets.__pending": pending}
    cid = create_via_form(web, ".webhook", fixed)
    with app.app_context():
        from app.services.connectors import stored_secrets

        assert stored_secrets(db.session.get(Connector, cid))["token"] == CANARY


def _second_given_the_firsts_secrets(app, web) -> tuple[str, str]:
    """Two webhooks, the second's row holding the first's encrypted secrets (sealed to another owner)."""
    first = create_via_form(web, ".webhook", bearer_fields("http://127.0.0.1:9/x", name="a"))
    second = create_via_form(web, ".webhook", bearer_fields("http://127.0.0.1:9/x", name="b", token="other-token"))
    with app.app_context():
        a, b = db.session.get(Connector, first), db.session.get(Connector, second)
        b.secrets_encrypted = a.secrets_encrypted
        db.session.commit()
    return first, second


def test_secrets_copied_onto_another_row_are_refused(app, web):
    _first, second = _second_given_the_firsts_secrets(app, web)
    html = web.post(f"/connectors/{second}/test", data={"params.__present": "1"}, htmx=True).get_data(as_text=True)
    assert "needs its secrets entered again" in html
    assert any(c.is_missing_secrets for c in connectors(app) if c.id == second)


def test_secrets_copied_onto_another_row_are_refused_through_the_api_too(app, web):
    """The API's _execute reads its connector with a Core SELECT, detached from the session: marking it
    "missing secrets" must still reach the database."""
    first, second = _second_given_the_firsts_secrets(app, web)
    api = Api.with_key(app, "viewer")
    body = api.post(f"/api/actions/connector/{second}/_execute", json={"params": {"body": "{}"}}).get_json()
    assert body["status"] == "error" and "needs its secrets entered again" in body["message"]
    assert api.get(f"/api/actions/connector/{second}").get_json()["is_missing_secrets"] is True
    assert api.get(f"/api/actions/connector/{first}").get_json()["is_missing_secrets"] is False
    assert CANARY not in "".join(api.seen)


def test_unreadable_secrets_mark_the_connector_instead_of_breaking_pages(tmp_path):
    app = make_app(tmp_path)
    web = Browserish(app.test_client())
    cid = create_via_form(web, ".webhook", bearer_fields("http://127.0.0.1:9/x"))
    # The same database opened with a different key: the secrets cannot be decrypted.
    other = make_app(tmp_path, keys=[Fernet.generate_key().decode()])
    web2 = Browserish(other.test_client())
    html = web2.post(f"/connectors/{cid}/test", data={"params.__present": "1"}, htmx=True).get_data(as_text=True)
    assert "needs its secrets entered again" in html
    listing = web2.get("/connectors").get_data(as_text=True)
    assert "missing secrets" in listing and f"/connectors/{cid}/edit#secrets" in listing
    # Entering the secret again fixes it.
    response = web2.post(f"/connectors/{cid}/edit", data=bearer_fields("http://127.0.0.1:9/x", token="new-token-1"))
    assert response.status_code == 303
    assert not connectors(other)[0].is_missing_secrets


def test_rotate_re_encrypts_under_the_first_key(tmp_path):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(tmp_path, keys=[old_key])
    create_via_form(Browserish(app.test_client()), ".webhook", bearer_fields("http://127.0.0.1:9/x"))
    before = connectors(app)[0].secrets_encrypted

    rotating = make_app(tmp_path, keys=[new_key, old_key])
    result = rotating.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert "Re-encrypted 1 connector(s); 0 could not be decrypted" in result.output
    after = connectors(rotating)[0].secrets_encrypted
    assert after != before

    only_new = make_app(tmp_path, keys=[new_key])
    with only_new.app_context():
        from app.services.connectors import stored_secrets

        assert stored_secrets(db.session.get(Connector, connectors(only_new)[0].id))["token"] == CANARY


def test_generated_key_file_is_private(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.delenv("SWITCHBOARD_ENCRYPTION_KEYS", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sb.db'}",
                      "SWITCHBOARD_ENCRYPTION_KEYS": []})
    key_file = tmp_path / "encryption.key"
    assert not key_file.exists()  # made on first use: a command run against the wrong folder leaves none
    assert app.test_cli_runner().invoke(args=["init"]).exit_code == 0
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Fernet(key_file.read_text().strip().encode())  # a usable key


def test_instance_folder_and_database_are_private(tmp_path, monkeypatch):
    """Issue #7 item 14: the database holds password and key hashes and event messages."""
    from app import create_app

    monkeypatch.delenv("SWITCHBOARD_ENCRYPTION_KEYS", raising=False)
    instance = tmp_path / "fresh" / "instance"
    database = instance / "sb.db"
    app = create_app({"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                      "SWITCHBOARD_ENCRYPTION_KEYS": []})
    assert app.test_cli_runner().invoke(args=["init"]).exit_code == 0
    with app.app_context():  # a write, so that the -wal and -shm files exist while a connection is open
        connection = db.engine.connect()
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS _probe (x)")
        connection.commit()
        files = sorted(p.name for p in instance.glob("sb.db*"))
        modes = {name: (instance / name).stat().st_mode & 0o777 for name in files}
        connection.close()
        db.engine.dispose()
    assert instance.stat().st_mode & 0o777 == 0o700
    assert {"sb.db", "sb.db-wal", "sb.db-shm"} <= set(files)
    assert modes == dict.fromkeys(files, 0o600)
    assert (instance / "encryption.key").stat().st_mode & 0o777 == 0o600
