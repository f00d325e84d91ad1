"""Issue #7, accounts and secrets: where sign-in may send you, the throttle under attack, sign-out, a changed key."""

from __future__ import annotations

import pytest

from tests.conftest import CSRF_RE, FORM_CSRF_RE, PASSWORDS


def form_token(client) -> str:
    return FORM_CSRF_RE.search(client.get("/sign-in").get_data(as_text=True)).group(1)


def post_sign_in(client, username: str, password: str, token: str, address: str = "127.0.0.1", query: str = ""):
    return client.post("/sign-in" + query, data={"csrf_token": token, "username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


# ---- item 3: the page after sign-in is on this site, always ---------------------------------------

OFF_SITE = [
    "/%09/evil.example",  # a tab: browsers drop it, leaving //evil.example
    "/%0a/evil.example",  # a newline (was a 500)
    "/%0d%0a/evil.example",
    "%0a//evil.example",
    "/%5cevil.example",  # a backslash: browsers read /\ as //
    "/%5c%5cevil.example",
    "%5c%5cevil.example",
    "/%2f/evil.example",  # an encoded slash, decoded once by the server, once more by someone else
    "/%252f/evil.example",
    "//evil.example",
    "///evil.example",
    "/%20/evil.example",
    "%20//evil.example",
    "https://evil.example/",
    "HTTPS:%2f%2fevil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%00/evil.example",
    "/%e2%80%8b/evil.example",  # a zero-width space
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_sends_you_off_site(app, target):
    client = app.test_client()
    response = post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client), query=f"?next={target}")
    assert response.status_code == 303, target
    assert response.headers["Location"] == "/connectors", target
    # Signed in already: the same rule.
    again = client.get(f"/sign-in?next={target}")
    assert again.status_code == 302 and again.headers["Location"] == "/connectors", target


@pytest.mark.parametrize("target", ["/events?status=error", "/connectors/abc-1/edit", "/events?q=a%2Fb"])
def test_sign_in_still_returns_to_a_page_on_this_site(app, target):
    client = app.test_client()
    response = post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client),
                            query="?next=" + target.replace("%", "%25").replace("?", "%3F").replace("&", "%26"))
    assert response.status_code == 303
    assert response.headers["Location"] == target


# ---- item 8: signing out ends the session on the server --------------------------------------------


def copy_of_session(client, app):
    """A second client holding the same session cookie, as a thief who copied it would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_a_copied_cookie_stops_working_when_its_session_signs_out(app):
    from tests.conftest import CSRF_RE

    client = app.test_client()
    assert post_sign_in(client, "admin", PASSWORDS["admin"], form_token(client)).status_code == 303
    page = client.get("/connectors")
    assert page.status_code == 200
    token = CSRF_RE.search(page.get_data(as_text=True)).group(1)
    thief = copy_of_session(client, app)
    assert thief.get("/connectors").status_code == 200  # the copy works while the session lives
    assert thief.get("/api/actions/connectors").status_code == 200

    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert thief.get("/connectors").status_code == 302  # pages send it to sign in
    assert thief.get("/api/actions/connectors").status_code == 401  # the cookie-authenticated API refuses it
    changed = thief.post("/api/actions/connector", json={"name": "x", "connector_type_id": ".server-log"},
                         headers={"X-CSRFToken": token})
    assert changed.status_code == 401


def test_signing_out_one_browser_leaves_the_users_other_browsers_signed_in(app):
    from tests.conftest import CSRF_RE

    laptop, phone = app.test_client(), app.test_client()
    for client in (laptop, phone):
        assert post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client)).status_code == 303
    token = CSRF_RE.search(laptop.get("/connectors").get_data(as_text=True)).group(1)
    assert laptop.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert laptop.get("/connectors").status_code == 302
    assert phone.get("/connectors").status_code == 200


def test_a_password_change_ends_every_session_including_copies(app):
    client = app.test_client()
    assert post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client)).status_code == 303
    thief = copy_of_session(client, app)
    result = app.test_cli_runner().invoke(args=["users", "set-password", "viewer", "--password", "changed-password-1"])
    assert result.exit_code == 0
    for who in (client, thief):
        assert who.get("/connectors").status_code == 302
        assert who.get("/api/actions/connectors").status_code == 401


# ---- item 4: the sign-in throttle counts exactly and never locks the real admin out ------------------

ATTACKER = "10.66.0.1"


def test_thirty_parallel_bad_passwords_get_six_checked_and_the_admin_still_signs_in_from_elsewhere(app):
    import threading

    from sqlalchemy import select

    from app.db import db
    from app.models import SignInThrottle

    clients = [app.test_client() for _ in range(30)]
    tokens = [form_token(c) for c in clients]
    start = threading.Barrier(len(clients), timeout=30)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        start.wait()
        status = post_sign_in(clients[n], "admin", f"wrong-password-{n}", tokens[n], address=ATTACKER).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(n,), daemon=True) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    # Five free guesses and the sixth, which starts the wait; every other one is refused unchecked.
    assert sorted(statuses) == [401] * 6 + [429] * 24
    with app.app_context():  # no lost updates: the counters say exactly what was checked
        rows = list(db.session.scalars(select(SignInThrottle)))
        assert rows and all(row.failures == 6 for row in rows)
        # The guessing pair and address wait 2 s after six failures, not 15 minutes (the rest were not counted).
        assert all((row.blocked_until - row.last_failure_at).total_seconds() == 2 for row in rows)
    # The admin, from an address that has not been failing, signs in at once.
    admin = app.test_client()
    assert post_sign_in(admin, "admin", PASSWORDS["admin"], form_token(admin), address="10.1.2.3").status_code == 303
    assert admin.get("/connectors").status_code == 200


def test_bad_passwords_for_the_admin_from_many_addresses_do_not_lock_the_admin_out(app):
    client = app.test_client()
    token = form_token(client)
    for n in range(12):
        assert post_sign_in(client, "admin", "wrong-password", token, address=f"10.0.0.{n + 1}").status_code == 401
    # Each address is slowed down on its own after five ...
    for _ in range(5):
        assert post_sign_in(client, "admin", "wrong-password", token, address="10.0.0.1").status_code == 401
    assert post_sign_in(client, "admin", PASSWORDS["admin"], token, address="10.0.0.1").status_code == 429
    # ... and the right password from a fresh address works.
    assert post_sign_in(client, "admin", PASSWORDS["admin"], token, address="10.0.9.9").status_code == 303


def test_basic_auth_from_a_failing_address_waits_and_from_another_address_works(app):
    import base64

    def api_get(address: str, password: str):
        credentials = base64.b64encode(f"admin:{password}".encode()).decode()
        return app.test_client().get("/api/actions/connectors", headers={"Authorization": f"Basic {credentials}"},
                                     environ_base={"REMOTE_ADDR": address})

    for _ in range(6):
        assert api_get(ATTACKER, "wrong-password").status_code == 401
    assert api_get(ATTACKER, PASSWORDS["admin"]).status_code == 429
    assert api_get("10.3.3.3", PASSWORDS["admin"]).status_code == 200


# ---- item 4, behind a proxy: everyone shares one address -------------------------------------------
# Without SWITCHBOARD_TRUST_PROXY every request comes from the proxy's address. A browser the admin has
# signed in from before carries a device cookie and keeps a throttle of its own.

PROXY = "10.9.9.9"


def sign_out(client) -> None:
    token = CSRF_RE.search(client.get("/connectors").get_data(as_text=True)).group(1)
    assert client.post("/sign-out", headers={"X-CSRFToken": token}).status_code == 303


def test_behind_a_proxy_a_guesser_cannot_lock_out_the_admins_own_browser(app):
    admin = app.test_client()
    assert post_sign_in(admin, "admin", PASSWORDS["admin"], form_token(admin), address=PROXY).status_code == 303
    assert admin.get_cookie("sb_device", path="/sign-in") is not None
    sign_out(admin)

    guesser = app.test_client()
    token = form_token(guesser)
    statuses = [post_sign_in(guesser, "admin", f"guess-{n}", token, address=PROXY).status_code for n in range(12)]
    assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}
    # A browser that never signed in, from the proxy's address, waits like the guesser ...
    stranger = app.test_client()
    assert post_sign_in(stranger, "admin", PASSWORDS["admin"], form_token(stranger), address=PROXY).status_code == 429
    # ... but the admin's own browser, from the very same address, signs in.
    assert post_sign_in(admin, "admin", PASSWORDS["admin"], form_token(admin), address=PROXY).status_code == 303
    assert admin.get("/connectors").status_code == 200


def test_a_device_cookie_helps_only_the_user_it_was_given_to_and_only_if_genuine(app):
    viewer = app.test_client()
    assert post_sign_in(viewer, "viewer", PASSWORDS["viewer"], form_token(viewer), address=PROXY).status_code == 303
    sign_out(viewer)
    token = form_token(viewer)
    # The viewer's own browser guessing the admin's password is counted on the shared address as anyone's.
    for n in range(6):
        assert post_sign_in(viewer, "admin", f"guess-{n}", token, address=PROXY).status_code == 401
    assert post_sign_in(viewer, "admin", "guess-7", token, address=PROXY).status_code == 429

    forged = app.test_client()
    forged.set_cookie("sb_device", "WyJhZG1pbiIsICJ4eXoiXQ.forged.signature", path="/sign-in")
    assert post_sign_in(forged, "admin", PASSWORDS["admin"], form_token(forged), address=PROXY).status_code == 429


def test_a_stolen_device_cookie_used_to_guess_is_slowed_and_the_other_browsers_keep_working(app):
    admin = app.test_client()
    assert post_sign_in(admin, "admin", PASSWORDS["admin"], form_token(admin), address=PROXY).status_code == 303
    stolen = admin.get_cookie("sb_device", path="/sign-in").value
    thief = app.test_client()
    thief.set_cookie("sb_device", stolen, path="/sign-in")
    token = form_token(thief)
    statuses = [post_sign_in(thief, "admin", f"guess-{n}", token, address="10.6.6.6").status_code for n in range(9)]
    assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}
    # The admin signs in from a fresh address without the cookie, and gets a new one (a new nonce).
    fresh = app.test_client()
    assert post_sign_in(fresh, "admin", PASSWORDS["admin"], form_token(fresh), address="10.7.7.7").status_code == 303
    assert fresh.get_cookie("sb_device", path="/sign-in").value != stolen


# ---- item 12: a changed encryption key shows in the list at once ------------------------------------


def test_init_and_secrets_check_flag_connectors_a_changed_key_cannot_decrypt(tmp_path):
    from cryptography.fernet import Fernet

    from app.db import db
    from tests.api_client import Api, bearer_webhook, webhook
    from tests.conftest import make_app

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = make_app(tmp_path, keys=[old_key])
    api = Api.with_key(before)
    api.created(bearer_webhook("http://127.0.0.1:9/x", "token-12-abc", name="Bearer"), "bearer")
    api.created(webhook("http://127.0.0.1:9/y", name="Open"), "open")
    with before.app_context():
        db.engine.dispose()

    after = make_app(tmp_path, keys=[new_key])  # the operator lost or changed the key
    api = Api.with_key(after)

    def flagged() -> set[str]:
        return {c["id"] for c in api.get("/api/actions/connectors").get_json() if c["is_missing_secrets"]}

    def missing_page(client) -> str:
        return client.get("/connectors?missing=1").get_data(as_text=True)

    assert flagged() == set()  # nothing has run yet, so nothing knew
    result = after.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "2 cannot be decrypted" in result.output and "bearer\tBearer" in result.output
    assert flagged() == {"bearer", "open"}  # both had stored secrets under the old key (Open an empty set)
    admin = after.test_client()
    assert post_sign_in(admin, "admin", PASSWORDS["admin"], form_token(admin)).status_code == 303
    listing = missing_page(admin)
    assert "/connectors/bearer/edit#secrets" in listing and "/connectors/open/edit#secrets" in listing

    check = after.test_cli_runner().invoke(args=["secrets", "check"])
    assert check.exit_code == 1 and "2 cannot be decrypted" in check.output
    with after.app_context():
        db.engine.dispose()

    restored = make_app(tmp_path, keys=[new_key, old_key])  # the old key is back beside the new one
    api = Api.with_key(restored)
    check = restored.test_cli_runner().invoke(args=["secrets", "check"])
    assert check.exit_code == 0, check.output
    assert "2 connector(s) readable (2 readable again, no longer flagged)." in check.output
    assert flagged() == set()
    with restored.app_context():
        db.engine.dispose()


# ---- item 15: request bodies: a chunked body past the limit, invalid UTF-8 in a form ---------------


def _chunked(client, url: str, body: bytes, content_type: str, **headers):
    import io

    return client.post(url, input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True},
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked", **headers})


def test_a_chunked_body_larger_than_the_limit_is_a_413_and_a_small_one_still_works(app):
    import json

    from tests.api_client import new_api_key

    auth = {"Authorization": "ApiKey " + new_api_key(app), "kbn-xsrf": "true"}
    big = json.dumps({"name": "a" * (10 * 1024 * 1024), "connector_type_id": ".server-log"}).encode()
    response = _chunked(app.test_client(), "/api/actions/connector", big, "application/json", **auth)
    assert response.status_code == 413
    assert response.get_json()["statusCode"] == 413 and "larger than" in response.get_json()["message"]

    small = json.dumps({"name": "chunked", "connector_type_id": ".server-log"}).encode()
    response = _chunked(app.test_client(), "/api/actions/connector", small, "application/json", **auth)
    assert response.status_code == 200 and response.get_json()["name"] == "chunked"

    # A page's form, chunked and too large, is a 413 too (not a form silently cut at the limit).
    from tests.conftest import Browserish

    web = Browserish(app.test_client())
    form = b"name=" + b"a" * (10 * 1024 * 1024)
    response = _chunked(web.client, "/connectors/new/.server-log", form, "application/x-www-form-urlencoded",
                        **{"X-CSRFToken": web.token()})
    assert response.status_code == 413


def test_a_form_that_is_not_utf8_is_refused_with_a_400_not_stored_with_replacement_characters(app):
    from tests.conftest import Browserish
    from tests.helpers import connectors

    web = Browserish(app.test_client())
    headers = {"X-CSRFToken": web.token()}
    raw = web.client.post("/connectors/new/.server-log", data=b"name=caf%E9+log", headers=headers,
                          content_type="application/x-www-form-urlencoded")  # Latin-1 é, not UTF-8
    assert raw.status_code == 400
    assert "UTF-8" in raw.get_data(as_text=True)
    boundary = "sb-boundary-15"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n").encode() + b"caf\xe9 log" \
        + f"\r\n--{boundary}--\r\n".encode()
    response = web.client.post("/connectors/new/.server-log", data=multipart, headers=headers,
                               content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert connectors(app) == []

    ok = web.client.post("/connectors/new/.server-log", data="name=caf%C3%A9+log", headers=headers,
                         content_type="application/x-www-form-urlencoded")
    assert ok.status_code == 303
    assert [c.name for c in connectors(app)] == ["café log"]


def test_a_proxy_that_is_not_trusted_is_named_in_the_log_once(app, caplog):
    client = app.test_client()
    with caplog.at_level("WARNING"):
        for _ in range(3):
            client.get("/sign-in", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": PROXY})
    warnings = [r.getMessage() for r in caplog.records if "SWITCHBOARD_TRUST_PROXY" in r.getMessage()]
    assert len(warnings) == 1 and PROXY in warnings[0]
