"""Webhook authentication by client certificate (crt+key, PFX) and OAuth2 client credentials.

Real TLS servers on 127.0.0.1 with `trustme` certificates, one of which refuses a client without a
certificate; a fake OAuth2 token endpoint (tests/fakes/oauth.py) whose resource accepts only the tokens
it issued.
"""

from __future__ import annotations

import base64
import html
import io
import json
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from playwright.sync_api import expect

from app.settings import FileConfig, OutboundSettings, WebhookSettings
from tests.api_client import Api
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.oauth import OAuthServer
from tests.fakes.receiver import Receiver
from tests.helpers import assert_secret_kept_out, create_via_form, events, webhook_fields

SSL = "webhook-authentication-ssl"
OAUTH2 = "webhook-oauth2-client-credentials"
KEY_PASSWORD = "key-passphrase-4711"
COMBINATION = ("must specify one of the following schemas: user and password; crt and key (with optional password); "
               "pfx (with optional password); or clientSecret (for OAuth2)")


@pytest.fixture(scope="module")
def server_ca():
    return trustme.CA(organization_name="Corp server CA")


@pytest.fixture(scope="module")
def client_ca():
    return trustme.CA(organization_name="Corp client CA")


@pytest.fixture(scope="module")
def client_material(client_ca):
    """(crt PEM, key PEM encrypted with KEY_PASSWORD, PFX encrypted with KEY_PASSWORD)."""
    leaf = client_ca.issue_cert("switchboard@corp.example")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    crt = leaf.cert_chain_pems[0].bytes()
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(KEY_PASSWORD.encode()))
    pfx = pkcs12.serialize_key_and_certificates(b"switchboard", key, x509.load_pem_x509_certificate(crt), None,
                                                serialization.BestAvailableEncryption(KEY_PASSWORD.encode()))
    return crt, encrypted, pfx


@pytest.fixture
def mtls_server(server_ca, client_ca):
    """An HTTPS receiver that refuses any client without a certificate from the client CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    client_ca.configure_trust(context)
    with Receiver(ssl_context=context) as server:
        server.reply("/hook")
        yield server


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ssl_webhook(url: str, server_ca, cert_type: str, secrets: dict) -> dict:
    return {"name": "mtls hook", "connector_type_id": ".webhook",
            "config": {"url": url, "hasAuth": True, "authType": SSL, "certType": cert_type,
                       "ca": b64(server_ca.cert_pem.bytes())},
            "secrets": secrets}


def run_pane(web, cid: str) -> str:
    response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.body": "{}"}, htmx=True)
    return html.unescape(response.get_data(as_text=True))


# ---- client certificates ------------------------------------------------------------------------------------


def test_crt_and_key_uploaded_through_the_form_authenticate_and_stay_secret(app, web, mtls_server, server_ca,
                                                                            client_material, caplog):
    crt, key, _ = client_material
    fields = webhook_fields(f"{mtls_server.url}/hook", **{
        "config.hasAuth": ["false", "true"], "config.authType": SSL, "config.certType": "ssl-crt-key",
        "config.ca": server_ca.cert_pem.bytes().decode(),  # pasted as PEM, stored base64 as Kibana does
        "secrets.crt": (io.BytesIO(crt), "client.crt"), "secrets.key": (io.BytesIO(key), "client.key"),
        "secrets.password": KEY_PASSWORD,
    })
    cid = create_via_form(web, ".webhook", fields)

    page = run_pane(web, cid)
    assert 'data-status="ok"' in page and mtls_server.received[-1].path == "/hook"
    assert "verification: full; client certificate (crt+key)" in page  # the pane says which TLS applied
    saved = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert base64.b64decode(saved["config"]["ca"]) .startswith(b"-----BEGIN CERTIFICATE-----")
    assert "secrets" not in saved
    key_line = key.decode().splitlines()[1]
    for secret in (b64(key), key_line, KEY_PASSWORD, b64(crt)):
        assert_secret_kept_out(app, web, secret, cid, page, log=caplog.text)


def test_without_its_certificate_the_server_refuses_and_the_run_says_so(app, web, mtls_server, server_ca):
    cid = create_via_form(web, ".webhook", webhook_fields(f"{mtls_server.url}/hook"))
    page = run_pane(web, cid)
    assert 'data-status="error"' in page and "error calling webhook, request failed" in page
    assert mtls_server.received == []


def test_a_pfx_given_through_the_api_authenticates(app, mtls_server, server_ca, client_material):
    api = Api.with_key(app)
    cid = api.created(ssl_webhook(f"{mtls_server.url}/hook", server_ca, "ssl-pfx",
                                  {"pfx": b64(client_material[2]), "password": KEY_PASSWORD}))["id"]
    result = api.execute(cid, {"body": "{}"}).get_json()
    assert result["status"] == "ok", result
    assert len(mtls_server.received) == 1


def test_a_wrong_pfx_password_is_refused_at_save_with_the_reason(app, server_ca, client_material):
    response = Api.with_key(app).create(ssl_webhook("https://127.0.0.1:9/hook", server_ca, "ssl-pfx",
                                                    {"pfx": b64(client_material[2]), "password": "wrong-one"}))
    assert response.status_code == 400
    assert "wrong password for the PFX" in response.get_json()["message"]
    assert "wrong-one" not in response.get_data(as_text=True)


def test_pfx_can_be_switched_off_in_the_config_file(tmp_path, server_ca, client_material):
    app = make_app(tmp_path, file_config=FileConfig(webhook=WebhookSettings(ssl_pfx_enabled=False)))
    response = Api.with_key(app).create(ssl_webhook("https://127.0.0.1:9/hook", server_ca, "ssl-pfx",
                                                    {"pfx": b64(client_material[2]), "password": KEY_PASSWORD}))
    assert response.status_code == 400
    assert 'error validation webhook action config: certType "ssl-pfx" is disabled' in response.get_json()["message"]


def test_exactly_one_secrets_combination_is_accepted(app, server_ca, client_material):
    crt, key, _ = client_material
    body = ssl_webhook("https://127.0.0.1:9/hook", server_ca, "ssl-crt-key",
                       {"crt": b64(crt), "key": b64(key), "password": KEY_PASSWORD, "user": "ops"})
    response = Api.with_key(app).create(body)
    assert response.status_code == 400 and COMBINATION in response.get_json()["message"]


def test_switching_authentication_in_the_form_drops_the_hidden_credentials(app, web, mtls_server, server_ca,
                                                                            client_material):
    crt, key, _ = client_material
    basic = webhook_fields(f"{mtls_server.url}/hook", **{"config.hasAuth": ["false", "true"],
                                                         "config.authType": "webhook-authentication-basic",
                                                         "secrets.user": "ops", "secrets.password": "basic-pass-1"})
    cid = create_via_form(web, ".webhook", basic)
    to_ssl = {**basic, "config.authType": SSL, "config.certType": "ssl-crt-key", "secrets.user": "",
              "secrets.password": KEY_PASSWORD, "config.ca": server_ca.cert_pem.bytes().decode(),
              "secrets.crt": (io.BytesIO(crt), "c.crt"), "secrets.key": (io.BytesIO(key), "c.key")}
    assert web.post(f"/connectors/{cid}/edit", data=to_ssl).status_code == 303
    assert 'data-status="ok"' in run_pane(web, cid)


# ---- OAuth2 client credentials ------------------------------------------------------------------------------


@pytest.fixture
def oauth():
    with OAuthServer(client_secret="oauth-client-secret-5150", expires_in=3600) as server:
        yield server


def oauth_webhook(oauth: OAuthServer, **config) -> dict:
    return {"name": "oauth hook", "connector_type_id": ".webhook",
            "config": {"url": oauth.resource_url, "method": "post", "hasAuth": True, "authType": OAUTH2,
                       "accessTokenUrl": oauth.token_url, "clientId": oauth.client_id, "scope": "hooks.write",
                       "additionalFields": json.dumps({"audience": "hooks"}), **config},
            "secrets": {"clientSecret": "oauth-client-secret-5150"}}


def test_oauth2_fetches_a_token_with_the_client_credentials_caches_it_and_sends_it(app, oauth, caplog):
    api = Api.with_key(app)
    cid = api.created(oauth_webhook(oauth))["id"]

    for _ in range(2):
        result = api.execute(cid, {"body": "{}"}).get_json()
        assert result["status"] == "ok", result
    assert oauth.token_requests == 1  # the second run used the cached token
    form = oauth.requests[0].form
    assert form == {"grant_type": "client_credentials", "client_id": oauth.client_id,
                    "client_secret": "oauth-client-secret-5150", "scope": "hooks.write", "audience": "hooks"}
    web = Browserish(app.test_client())
    for secret in ("oauth-client-secret-5150", oauth.issued[0]):
        assert_secret_kept_out(app, web, secret, cid, *api.seen, log=caplog.text)


def test_a_token_about_to_expire_is_fetched_again(app, oauth):
    oauth.expires_in = 30  # inside the renewal margin: never reused
    api = Api.with_key(app)
    cid = api.created(oauth_webhook(oauth))["id"]
    for _ in range(2):
        assert api.execute(cid, {"body": "{}"}).get_json()["status"] == "ok"
    assert oauth.token_requests == 2


def test_a_401_drops_the_cached_token_and_a_new_one_is_fetched(app, oauth):
    api = Api.with_key(app)
    cid = api.created(oauth_webhook(oauth))["id"]
    assert api.execute(cid, {"body": "{}"}).get_json()["status"] == "ok"
    oauth.issued.clear()  # the service revokes every token it gave

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert result["status"] == "ok", result
    assert oauth.token_requests == 2


def test_a_401_with_a_fresh_token_is_an_error_and_the_token_is_dropped(app, oauth):
    api = Api.with_key(app)
    cid = api.created(oauth_webhook(oauth))["id"]
    oauth.answer(200, json.dumps({"access_token": "not-one-the-resource-knows", "token_type": "Bearer"}))

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert result["status"] == "error" and result["service_message"].startswith("[401]")
    assert oauth.token_requests == 1  # a token just issued is not asked for again in the same run
    api.execute(cid, {"body": "{}"})
    assert oauth.token_requests == 2  # but it was dropped: the next run fetches a new one


def test_a_token_endpoint_error_is_kibanas_message(app, oauth):
    api = Api.with_key(app)
    body = oauth_webhook(oauth)
    body["secrets"]["clientSecret"] = "not-the-right-secret"
    cid = api.created(body)["id"]

    result = api.execute(cid, {"body": "{}"}).get_json()

    assert result["status"] == "error"
    assert result["message"] == "error calling webhook, request failed"
    assert result["service_message"].startswith("Unable to retrieve/refresh the access token: ")
    assert "invalid_client" in result["service_message"] and "not-the-right-secret" not in json.dumps(result)
    assert events(app)[-1].status == "error"


@pytest.mark.parametrize(("change", "message"), [
    ({"clientId": None}, "error validation webhook action config: missing Client ID (clientId) fields"),
    ({"additionalFields": "[1]"}, "error validation webhook action config: additionalFields must be a non-empty JSON object."),
    ({"accessTokenUrl": "https://login.elsewhere.example/token"}, 'target hostname "login.elsewhere.example" is not in the allowed hosts list'),
])
def test_oauth2_config_is_checked_as_kibana_does(tmp_path, oauth, change, message):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
    response = Api.with_key(app).create(oauth_webhook(oauth, **change))
    assert response.status_code == 400 and message in response.get_json()["message"]


# ---- in the browser --------------------------------------------------------------------------------------


@drives_browser
def test_certificates_are_chosen_as_files_in_the_form_and_the_test_pane_names_the_tls(page, live, mtls_server, server_ca,
                                                                                       client_material):
    crt, key, _ = client_material
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("mTLS hook")
    page.get_by_role("textbox", name="URL", exact=True).fill(f"{mtls_server.url}/hook")
    page.get_by_role("switch", name="Requires authentication").check()
    page.get_by_label("Authentication", exact=True).select_option(label="Client certificate (SSL)")
    page.get_by_label("Certificate format").select_option(label="Certificate and key (PEM)")
    page.get_by_label("CA certificate").fill(server_ca.cert_pem.bytes().decode())
    page.get_by_label("Certificate file (crt)").set_input_files(
        {"name": "client.crt", "mimeType": "application/x-pem-file", "buffer": crt})
    page.get_by_label("Private key file (key)").set_input_files(
        {"name": "client.key", "mimeType": "application/x-pem-file", "buffer": key})
    page.get_by_label("Password").fill(KEY_PASSWORD)
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    expect(page.locator("#test-result")).to_contain_text("client certificate (crt+key)")
    assert mtls_server.received[-1].path == "/hook"
