"""OAuth2 / JWT access tokens: fetched as Kibana fetches them, cached per connector, shared by every worker."""

from __future__ import annotations

import ast
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from app.db import db
from app.models import ConnectorToken
from app.outbound import BoundHttp, OutboundClient, Trace
from app.outbound.trace import MASK
from app.services import tokens as token_service
from app.services.tokens import DatabaseTokenStore
from app.settings import OutboundSettings
from app.types.kit import tokens
from app.types.kit.tokens import MemoryTokenStore, Token, TokenError, authorization
from tests.conftest import make_app
from tests.fakes.oauth import OAuthServer

SECRET = "client-secret-value-0123456789"
KEY_PASSWORD = "key-password-1"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key, password: str | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


@pytest.fixture
def oauth(rsa_key):
    with OAuthServer(client_secret=SECRET, public_key=rsa_key.public_key(), key_id="kid-1",
                     user_identifier="integration.user") as server:
        yield server


def bound_http(*secrets: str) -> BoundHttp:
    return BoundHttp(OutboundClient(OutboundSettings()), Trace(secrets))


def client_credentials(oauth: OAuthServer, store, http=None, **overrides) -> Token:
    args = {"token_url": oauth.token_url, "client_id": oauth.client_id, "client_secret": SECRET, **overrides}
    return tokens.client_credentials_token(http or bound_http(SECRET), store, **args)


def jwt_bearer(oauth: OAuthServer, store, key_pem: str, password: str | None = None, http=None) -> Token:
    return tokens.jwt_bearer_token(
        http or bound_http(SECRET), store, token_url=oauth.token_url, client_id=oauth.client_id, client_secret=SECRET,
        private_key_pem=key_pem, private_key_password=password, key_id="kid-1", user_identifier="integration.user",
    )


@pytest.fixture
def two_workers(tmp_path):
    """Two apps on one instance folder and database, as two gunicorn workers are."""
    key = Fernet.generate_key().decode()
    workers = [make_app(tmp_path, keys=[key]), make_app(tmp_path, keys=[key])]
    yield workers
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()


# ---- fetching and reusing ----------------------------------------------------------------------


def test_client_credentials_token_is_fetched_once_and_reused(oauth):
    store = MemoryTokenStore()
    first = client_credentials(oauth, store)
    second = client_credentials(oauth, store)
    assert first == second and first.access_token in oauth.issued
    assert oauth.token_requests == 1


def test_token_request_is_the_form_kibana_posts(oauth):
    client_credentials(oauth, MemoryTokenStore(), scope="https://graph.microsoft.com/.default",
                       extra_fields={"resource": "api://switchboard", "client_id": "not-this-one"})
    client_credentials(oauth, MemoryTokenStore())
    with_scope, without = oauth.requests
    assert with_scope.content_type == "application/x-www-form-urlencoded; charset=UTF-8"
    assert with_scope.form == {"grant_type": "client_credentials", "client_id": oauth.client_id, "client_secret": SECRET,
                               "scope": "https://graph.microsoft.com/.default", "resource": "api://switchboard"}
    assert without.form.keys() == {"grant_type", "client_id", "client_secret"}


def test_authorization_header_is_the_services_token_type_and_the_token(oauth):
    token = client_credentials(oauth, MemoryTokenStore())
    assert authorization(token) == f"Bearer {token.access_token}"
    answer = bound_http().request("GET", oauth.resource_url, headers={"Authorization": authorization(token)})
    assert answer.status_code == 200


@pytest.mark.parametrize("expires_in, lifetime", [("7200", 7200), (900, 900), (None, 3600)],
                         ids=["a string, as Azure AD v1 sends", "a number", "none: an hour, as Kibana"])
def test_token_lives_as_long_as_the_service_says_counted_from_the_request(oauth, expires_in, lifetime):
    oauth.expires_in = expires_in
    before = datetime.now(UTC)
    token = client_credentials(oauth, MemoryTokenStore())
    assert before + timedelta(seconds=lifetime) <= token.expires_at <= datetime.now(UTC) + timedelta(seconds=lifetime)


def test_expired_token_is_fetched_again(oauth):
    oauth.expires_in = 30  # inside the minute of margin: expired as soon as it is issued
    store = MemoryTokenStore()
    first = client_credentials(oauth, store)
    second = client_credentials(oauth, store)
    assert first.expired() and first.access_token != second.access_token
    assert oauth.token_requests == 2


def test_changed_credentials_never_reuse_old_token(app, oauth):
    changes = [{}, {"scope": "read"}, {"extra_fields": {"resource": "other"}}, {"token_url": oauth.token_url + "?tenant=2"},
               {"client_id": "another-client"}, {"client_id": "another-client", "client_secret": "the-new-secret-value"}]
    with app.app_context():
        store = DatabaseTokenStore("connector-1")
        issued = []
        for change in changes:
            oauth.client_id = change.get("client_id", "switchboard-client")  # the service side was edited too
            oauth.client_secret = change.get("client_secret", SECRET)
            issued.append(client_credentials(oauth, store, **change).access_token)
        assert len(set(issued)) == len(changes)
        assert client_credentials(oauth, store, **changes[-1]).access_token == issued[-1]
    assert oauth.token_requests == len(changes)


# ---- the database store ------------------------------------------------------------------------


def test_two_workers_share_one_token(two_workers, oauth):
    first, second = two_workers
    with first.app_context():
        fetched = client_credentials(oauth, DatabaseTokenStore("connector-1"))
    with second.app_context():
        reused = client_credentials(oauth, DatabaseTokenStore("connector-1"))
    assert reused == fetched
    assert oauth.token_requests == 1


def test_two_workers_saving_at_once_leave_one_token(two_workers):
    token = Token("the-access-token-value", "Bearer", datetime.now(UTC) + timedelta(hours=1))
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def save(worker):
        with worker.app_context():
            try:
                barrier.wait(timeout=10)
                DatabaseTokenStore("connector-1").save("oauth2", token, "fingerprint")
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=save, args=(two_workers[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures and not any(thread.is_alive() for thread in threads)
    with two_workers[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(ConnectorToken)) == 1
        assert DatabaseTokenStore("connector-1").load("oauth2").token == token


def test_token_is_encrypted_at_rest(app, oauth, tmp_path):
    with app.app_context():
        token = client_credentials(oauth, DatabaseTokenStore("connector-1"))
        db.engine.dispose()  # let go of the file, as a stopped worker does
    files = [p for p in tmp_path.iterdir() if p.name.startswith("switchboard.db")]
    raw = b"".join(p.read_bytes() for p in files)
    assert b"connector-1" in raw  # the search reads where the rows are
    assert token.access_token.encode() not in raw


def test_undecryptable_token_counts_as_absent(tmp_path, oauth):
    first = make_app(tmp_path)
    second = make_app(tmp_path)  # another key: the old token cannot be read
    try:
        with first.app_context():
            old = client_credentials(oauth, DatabaseTokenStore("connector-1"))
        with second.app_context():
            assert DatabaseTokenStore("connector-1").load("oauth2") is None
            new = client_credentials(oauth, DatabaseTokenStore("connector-1"))
            assert DatabaseTokenStore("connector-1").load("oauth2").token == new
        assert new != old and oauth.token_requests == 2
    finally:
        for worker in (first, second):
            with worker.app_context():
                db.engine.dispose()


def test_a_token_cannot_be_moved_to_another_connector(app):
    token = Token("the-access-token-value", "Bearer", datetime.now(UTC) + timedelta(hours=1))
    with app.app_context():
        DatabaseTokenStore("connector-1").save("oauth2", token, "fp")
        DatabaseTokenStore("connector-2").save("oauth2", Token("other-token", "Bearer", token.expires_at), "fp")
        rows = {r.connector_id: r for r in db.session.scalars(select(ConnectorToken))}
        rows["connector-2"].token_encrypted = rows["connector-1"].token_encrypted
        db.session.commit()
        assert DatabaseTokenStore("connector-2").load("oauth2") is None


def test_forget_drops_a_connectors_tokens(app):
    token = Token("the-access-token-value", "Bearer", datetime.now(UTC) + timedelta(hours=1))
    with app.app_context():
        for connector_id in ("connector-1", "connector-2"):
            for kind in ("oauth2", "jwt"):
                DatabaseTokenStore(connector_id).save(kind, token, "fp")
        assert token_service.forget("connector-1") == 2
        db.session.commit()
        DatabaseTokenStore("connector-2").drop("oauth2")
        left = {(r.connector_id, r.kind) for r in db.session.scalars(select(ConnectorToken))}
        assert left == {("connector-2", "jwt")}
        assert DatabaseTokenStore("connector-2").load("jwt").token == token


# ---- JWT bearer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, KEY_PASSWORD], ids=["plain key", "password-protected key"])
def test_jwt_assertion_is_signed_with_the_private_key(oauth, rsa_key, password):
    token = jwt_bearer(oauth, MemoryTokenStore(), pem(rsa_key, password), password)
    sent = oauth.requests[0]  # the fake verified the RS256 signature with the public key
    assert token.access_token in oauth.issued
    assert sent.form.keys() == {"grant_type", "assertion", "client_id", "client_secret"}
    assert sent.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert sent.assertion_header == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    claims = sent.assertion_claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (oauth.client_id, oauth.client_id, "integration.user")
    assert claims["exp"] - claims["iat"] == 3600


def test_jwt_token_is_cached_like_any_other(app, oauth, rsa_key):
    with app.app_context():
        store = DatabaseTokenStore("connector-1")
        assert jwt_bearer(oauth, store, pem(rsa_key)) == jwt_bearer(oauth, store, pem(rsa_key))
        assert store.load("oauth2") is None and store.load("jwt") is not None
    assert oauth.token_requests == 1


def test_assertion_signed_with_another_key_is_refused(oauth):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenError) as err:
        jwt_bearer(oauth, MemoryTokenStore(), pem(stranger))
    assert "invalid_grant" in str(err.value) and "Signature verification failed" in str(err.value)


@pytest.mark.parametrize("key_pem, password, why", [
    ("encrypted", "wrong-password", "wrong password for the private key"),
    ("encrypted", None, "the private key is encrypted; enter its password"),
    ("not a key", None, "the private key is not a PEM private key"),
])
def test_unusable_private_key_is_a_token_error(oauth, rsa_key, key_pem, password, why):
    key_pem = pem(rsa_key, KEY_PASSWORD) if key_pem == "encrypted" else key_pem
    with pytest.raises(TokenError) as err:
        jwt_bearer(oauth, MemoryTokenStore(), key_pem, password)
    assert str(err.value) == f"Unable to retrieve/refresh the access token: Unable to generate JWT token. Error: {why}"
    assert oauth.token_requests == 0


def test_a_password_for_a_plain_key_is_ignored_as_kibana_does(oauth, rsa_key):
    assert jwt_bearer(oauth, MemoryTokenStore(), pem(rsa_key), "unneeded-password").access_token in oauth.issued


# ---- errors ------------------------------------------------------------------------------------


def test_token_endpoint_error_names_the_service_reason(oauth):
    store = MemoryTokenStore()
    with pytest.raises(TokenError) as err:
        client_credentials(oauth, store, client_secret="wrong-secret-value")
    assert str(err.value) == (
        "Unable to retrieve/refresh the access token: the token endpoint answered HTTP 401 UNAUTHORIZED: "
        "invalid_client: AADSTS7000215: Invalid client secret provided."
    )
    assert err.value.service_message == "invalid_client: AADSTS7000215: Invalid client secret provided."
    assert err.value.status_code == 401 and not err.value.retry
    assert store.load("oauth2") is None


@pytest.mark.parametrize("status, body, content_type, reason, retry", [
    (500, "<html>upstream down</html>", "text/html", "the token endpoint answered HTTP 500 INTERNAL SERVER ERROR: "
     "<html>upstream down</html>", True),
    (200, "<html>sign in</html>", "text/html", "the token endpoint's answer is not JSON: <html>sign in</html>", False),
    (200, '{"token_type": "Bearer"}', "application/json", "the token endpoint's answer has no access_token", False),
    (200, '{"error": "server_error", "error_description": "try later"}', "application/json",
     "the token endpoint's answer has no access_token: server_error: try later", False),
    (503, '{"status": "down"}', "application/json",
     'the token endpoint answered HTTP 503 SERVICE UNAVAILABLE: {"status":"down"}', True),
])
def test_unusable_answers_become_token_errors(oauth, status, body, content_type, reason, retry):
    oauth.answer(status, body, content_type)
    with pytest.raises(TokenError) as err:
        client_credentials(oauth, MemoryTokenStore())
    assert str(err.value) == f"Unable to retrieve/refresh the access token: {reason}"
    assert err.value.retry is retry


def test_unreachable_token_endpoint_is_a_token_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the port is ours and refuses connections
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        with pytest.raises(TokenError) as err:
            tokens.client_credentials_token(bound_http(), MemoryTokenStore(), token_url=url + "/oauth2/token",
                                            client_id="switchboard-client", client_secret=SECRET)
    assert str(err.value) == f"Unable to retrieve/refresh the access token: connection to {url} was refused"
    assert err.value.retry and err.value.status_code is None


def test_secrets_never_appear_in_token_errors(oauth, rsa_key):
    oauth.echo_form_in_errors = True
    oauth.user_identifier = "someone.else"  # the assertion is refused, and echoed back
    http = bound_http(SECRET, KEY_PASSWORD)
    with pytest.raises(TokenError) as err:
        jwt_bearer(oauth, MemoryTokenStore(), pem(rsa_key, KEY_PASSWORD), KEY_PASSWORD, http=http)
    assertion = oauth.requests[0].form["assertion"]
    text = " ".join(str(v) for v in (err.value, err.value.args, err.value.service_message, err.value.reason,
                                     http.trace.exchanges[0].as_dict()))
    assert "received" in text and MASK in text
    for secret in (SECRET, assertion, KEY_PASSWORD):
        assert secret not in text


def test_token_never_shows_in_its_repr():
    token = Token("the-access-token-value", "Bearer", datetime.now(UTC))
    assert "the-access-token-value" not in repr(token)


# ---- the trace ---------------------------------------------------------------------------------


def test_token_exchange_is_in_the_trace_with_secrets_masked(oauth):
    http = bound_http(SECRET)
    token = client_credentials(oauth, MemoryTokenStore(), http=http)
    oauth.echo_form_in_errors = True
    with pytest.raises(TokenError):
        client_credentials(oauth, MemoryTokenStore(), http=http, scope="refused-scope", client_id="stranger")
    fetched, refused = (exchange.as_dict() for exchange in http.trace.exchanges)
    assert (fetched["method"], fetched["url"], fetched["status"]) == ("POST", oauth.token_url, 200)
    assert "Content-Type" in fetched["request_headers"]
    assert fetched["request_body_bytes"] == len(
        "client_id=switchboard-client&client_secret=" + SECRET + "&grant_type=client_credentials")
    assert token.access_token not in fetched["body_preview"] and MASK in fetched["body_preview"]
    assert refused["status"] == 401 and "stranger" in refused["body_preview"]
    assert SECRET not in refused["body_preview"] and MASK in refused["body_preview"]


# ---- the module stays pure -----------------------------------------------------------------------


def test_token_module_knows_nothing_of_flask_or_the_database():
    source = Path(tokens.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    forbidden = ("flask", "sqlalchemy", "requests", "app.models", "app.services", "app.db", "app.web", "app.api")
    assert not {name for name in imported for f in forbidden if name == f or name.startswith(f + ".")}
