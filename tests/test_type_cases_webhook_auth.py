"""Webhook - Case Management with a client certificate (crt+key, PFX) and the connector's own TLS (`ca`,
`verificationMode`), against the fake tracker served over TLS on 127.0.0.1.

The certificates are `trustme`'s, made by the fixtures of tests/test_type_webhook_auth.py (imported, so
both types are tested with the same material): a server CA the connector is told to trust, and a client CA
whose certificates the mutual-TLS tracker requires.
"""

from __future__ import annotations

import html
import io
import json
import ssl
from contextlib import contextmanager

import pytest
import trustme
from playwright.sync_api import Page, expect

from app.services import transfer
from app.settings import FileConfig, WebhookSettings
from app.types import get_type
from tests import test_type_webhook_auth as webhook_auth
from tests.api_client import Api
from tests.browser import drives_browser
from tests.conftest import make_app
from tests.fakes.cases_webhook import PASSWORD, USER, FakeTracker
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events, form_data, pane_data
from tests.live_server import LiveServer
from tests.test_type_cases_webhook import field
from tests.test_type_webhook_auth import COMBINATION, KEY_PASSWORD, b64

# The webhook's certificate fixtures, made this module's by name: pytest finds fixtures among a module's names.
server_ca, client_ca, client_material = webhook_auth.server_ca, webhook_auth.client_ca, webhook_auth.client_material

CASES_WEBHOOK = get_type(".cases-webhook")
SSL = "webhook-authentication-ssl"
PREFIX = "[Action][Webhook - Case Management]: "
INCIDENT = {"title": "Certificate login storm", "description": "Pushed over mutual TLS.", "tags": ["tls"]}


@contextmanager
def tls_tracker(server_ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None):
    """The fake tracker over HTTPS with a certificate from `server_ca` for `names`; with `client_ca`, the
    handshake fails for a client without a certificate from it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    with FakeTracker(ssl_context=context) as tracker:
        yield tracker


@pytest.fixture
def tracker():
    """The tracker over plain HTTP, for what is refused before any request."""
    with FakeTracker() as fake:
        yield fake


@pytest.fixture
def mtls_tracker(server_ca, client_ca):
    with tls_tracker(server_ca, client_ca=client_ca) as tracker:
        yield tracker


def ssl_config(tracker: FakeTracker, server_ca: trustme.CA, cert_type: str = "ssl-crt-key", **overrides) -> dict:
    return tracker.config(authType=SSL, certType=cert_type, ca=b64(server_ca.cert_pem.bytes()), **overrides)


def create(api: Api, config: dict, secrets: dict) -> str:
    return api.created({"name": "tracker", "connector_type_id": ".cases-webhook", "config": config,
                        "secrets": secrets})["id"]


def push(incident: dict, comments: list | None = None) -> dict:
    return {"subAction": "pushToService", "subActionParams": {"incident": incident, "comments": comments}}


def run_test_pane(web, connector_id: str) -> str:
    response = web.post(f"/connectors/{connector_id}/test", data=pane_data(CASES_WEBHOOK), htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


# ---- client certificates ------------------------------------------------------------------------------------


def test_crt_and_key_chosen_in_the_form_push_the_case_and_stay_secret(app, web, mtls_tracker, server_ca,
                                                                      client_material, caplog):
    crt, key, _ = client_material
    config = mtls_tracker.config(authType=SSL, certType="ssl-crt-key",
                                 ca=server_ca.cert_pem.bytes().decode())  # pasted as PEM, stored base64
    fields = {**form_data(CASES_WEBHOOK, "mTLS tracker", config, {}),
              "secrets.crt": (io.BytesIO(crt), "client.crt"), "secrets.key": (io.BytesIO(key), "client.key"),
              "secrets.password": KEY_PASSWORD}
    cid = create_via_form(web, ".cases-webhook", fields)

    page = run_test_pane(web, cid)

    assert 'data-status="ok"' in page and f"{mtls_tracker.url}/browse/SEC-1" in page
    assert "verification: full; client certificate (crt+key)" in page  # the pane says which TLS applied
    assert [r.method for r in mtls_tracker.received] == ["POST", "GET", "POST"]  # create, get, comment
    assert all(mtls_tracker.client_certificates)  # each call presented the certificate...
    assert not any("Authorization" in r.headers for r in mtls_tracker.received)  # ...and nothing else
    (connector,) = connectors(app)
    assert {k for k, v in connector.secret_fields.items() if v} == {"crt", "key", "password"}
    key_line = key.decode().splitlines()[1]
    for secret in (b64(key), key_line, KEY_PASSWORD, b64(crt)):
        assert_secret_kept_out(app, web, secret, cid, page, log=caplog.text)


def test_a_pfx_given_through_the_api_creates_updates_and_comments(app, mtls_tracker, server_ca, client_material):
    api = Api.with_key(app)
    cid = create(api, ssl_config(mtls_tracker, server_ca, "ssl-pfx"),
                 {"pfx": b64(client_material[2]), "password": KEY_PASSWORD})

    created = api.execute(cid, push(INCIDENT)).get_json()
    updated = api.execute(cid, push({**INCIDENT, "externalId": "SEC-1", "status": "closed"},
                                    [{"commentId": "c-1", "comment": "closed by certificate"}])).get_json()

    assert created["status"] == "ok" and updated["status"] == "ok", (created, updated)
    assert updated["data"]["id"] == "SEC-1" and updated["data"]["url"] == f"{mtls_tracker.url}/browse/SEC-1"
    assert [r.method for r in mtls_tracker.received] == ["POST", "GET", "PUT", "GET", "POST"]
    assert all(mtls_tracker.client_certificates)
    assert mtls_tracker.comments == {"SEC-1": [{"id": "1", "body": "closed by certificate"}]}


def test_without_a_certificate_the_tracker_refuses_and_the_push_says_so(app, mtls_tracker, server_ca):
    api = Api.with_key(app)
    cid = create(api, mtls_tracker.config(ca=b64(server_ca.cert_pem.bytes())), {"user": USER, "password": PASSWORD})

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert result["status"] == "error"
    assert result["service_message"].startswith(f"{PREFIX}Unable to create case. Error: [")  # the TLS layer's code
    assert not result["service_message"].endswith("None.")  # the server's alert or the TLS layer's words
    assert mtls_tracker.received == []  # refused in the handshake: no request got through
    assert events(app)[-1].status == "error"


def test_ssl_chosen_with_authentication_off_is_kibanas_wrong_configuration_at_run_time(app, tracker):
    # Kibana's cases-webhook saves it (only `.webhook` refuses an authType without hasAuth), then refuses to
    # push: with authentication off no certificate is used, and SSL with nothing to present is wrong.
    api = Api.with_key(app)
    cid = create(api, tracker.config(hasAuth=False, authType=SSL), {})

    result = api.execute(cid, push(INCIDENT)).get_json()

    assert (result["status"], result["retry"]) == ("error", False)
    assert result["service_message"] == "[Action]Webhook - Case Management: Wrong configuration."
    assert tracker.received == []


# ---- the connector's own TLS --------------------------------------------------------------------------------


def test_the_connectors_ca_makes_the_trackers_certificate_trusted(app, server_ca):
    api = Api.with_key(app)
    with tls_tracker(server_ca) as tracker:
        trusting = create(api, tracker.config(ca=b64(server_ca.cert_pem.bytes())), {"user": USER, "password": PASSWORD})
        plain = create(api, tracker.config(), {"user": USER, "password": PASSWORD})

        refused = api.execute(plain, push(INCIDENT)).get_json()
        assert tracker.received == []
        result = api.execute(trusting, push(INCIDENT)).get_json()

    assert result["status"] == "ok", result
    assert refused["service_message"].startswith(f"{PREFIX}Unable to create case. Error: [tls_error]")
    assert "certificate verify failed" in refused["service_message"]


@pytest.mark.parametrize(("mode", "with_ca", "pushed"), [
    ("none", False, True),  # any certificate: even one from a CA nobody trusts
    ("certificate", True, True),  # the chain, not the name
    (None, True, False),  # full, the default: the certificate names another host
])
def test_the_verification_mode_decides_what_is_checked(app, server_ca, mode, with_ca, pushed):
    api = Api.with_key(app)
    with tls_tracker(server_ca, "tracker.internal.example") as tracker:
        config = tracker.config(verificationMode=mode, ca=b64(server_ca.cert_pem.bytes()) if with_ca else None)
        cid = create(api, config, {"user": USER, "password": PASSWORD})

        result = api.execute(cid, push(INCIDENT)).get_json()

    assert (result["status"] == "ok") is pushed, result
    if not pushed:
        assert "[tls_error]" in result["service_message"] and tracker.received == []


# ---- checks at save ----------------------------------------------------------------------------------------


def refusal(app, config: dict, secrets: dict) -> str:
    response = Api.with_key(app).create({"name": "t", "connector_type_id": ".cases-webhook", "config": config,
                                         "secrets": secrets})
    assert response.status_code == 400, response.get_data(as_text=True)
    return response.get_json()["message"]


@pytest.mark.parametrize(("given", "field"), [
    ({"user": "ops"}, "user"),  # a user besides the certificate
    ({"pfx": "cGZ4"}, "pfx"),  # both certificate forms
])
def test_exactly_one_secrets_combination_is_accepted(app, tracker, server_ca, client_material, given, field):
    crt, key, _ = client_material
    secrets = {"crt": b64(crt), "key": b64(key), "password": KEY_PASSWORD, **given}

    message = refusal(app, ssl_config(tracker, server_ca), secrets)

    assert f"error validating action type secrets: [{field}]: {COMBINATION}" in message
    assert KEY_PASSWORD not in message
    assert tracker.received == []


def test_a_wrong_pfx_password_is_refused_at_save_with_the_reason(app, tracker, server_ca, client_material):
    message = refusal(app, ssl_config(tracker, server_ca, "ssl-pfx"), {"pfx": b64(client_material[2]),
                                                                       "password": "wrong-one"})

    assert "[pfx]: wrong password for the PFX" in message and "wrong-one" not in message


def test_a_certificate_without_its_key_is_refused(app, tracker, server_ca, client_material):
    message = refusal(app, ssl_config(tracker, server_ca), {"crt": b64(client_material[0])})

    assert f"[key]: {COMBINATION}" in message  # Kibana's rule names the half that is missing


def test_a_ca_that_is_not_a_pem_certificate_is_refused_with_the_types_prefix(app, tracker):
    message = refusal(app, tracker.config(ca=b64(b"not a certificate")), {"user": USER, "password": PASSWORD})

    assert "error configuring cases webhook action: ca must be base64-encoded PEM certificates" in message


def test_pfx_can_be_switched_off_in_the_config_file(tmp_path, tracker, server_ca, client_material):
    app = make_app(tmp_path, file_config=FileConfig(webhook=WebhookSettings(ssl_pfx_enabled=False)))

    message = refusal(app, ssl_config(tracker, server_ca, "ssl-pfx"), {"pfx": b64(client_material[2]),
                                                                       "password": KEY_PASSWORD})

    assert 'error configuring cases webhook action: certType "ssl-pfx" is disabled' in message


def test_oauth2_stays_refused_as_kibanas_cases_webhook_refuses_it(app, tracker):
    config = tracker.config(authType="webhook-oauth2-client-credentials", accessTokenUrl=f"{tracker.url}/token",
                            clientId="switchboard")

    message = refusal(app, config, {"clientSecret": "oauth-secret-1234"})

    assert message.endswith("[authType]: OAuth2 authentication is not supported for cases webhook connector")


# ---- Kibana exports ------------------------------------------------------------------------------------------


def test_a_kibana_export_with_a_certificate_imports_and_pushes_once_its_secrets_are_entered(
        app, mtls_tracker, server_ca, client_material):
    config = ssl_config(mtls_tracker, server_ca, verificationMode="full")
    exported = {"attributes": {"actionTypeId": ".cases-webhook", "config": config, "isMissingSecrets": True,
                               "name": "Kibana tracker", "secrets": {}},
                "id": "kibana-tracker", "references": [], "type": "action", "typeMigrationVersion": "8.3.0"}
    with app.app_context():
        imported = transfer.import_ndjson(json.dumps(exported).encode())
    assert imported.errors == [] and imported.successCount == 1
    (connector,) = connectors(app)
    assert connector.is_missing_secrets and connector.config == {**connector.config, **config}

    crt, key, _ = client_material
    api = Api.with_key(app)
    fixed = api.put(f"/api/actions/connector/{connector.id}", json={
        "name": connector.name, "config": config, "secrets": {"crt": b64(crt), "key": b64(key), "password": KEY_PASSWORD}})
    assert fixed.status_code == 200, fixed.get_data(as_text=True)

    result = api.execute(connector.id, push(INCIDENT)).get_json()
    assert result["status"] == "ok", result
    assert all(mtls_tracker.client_certificates)


# ---- in the browser --------------------------------------------------------------------------------------


@drives_browser
def test_the_form_shows_the_certificate_fields_and_the_passphrase_for_ssl(page: Page, live: LiveServer, mtls_tracker,
                                                                          server_ca, client_material):
    crt, key, _ = client_material
    page.goto(live.url + "/connectors/new/.cases-webhook")
    field(page, "Name").fill("mTLS tracker")
    field(page, "Create case URL").fill(mtls_tracker.api)
    field(page, "Create case object").fill('{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}}}')
    field(page, "Create case response external key").fill("key")
    field(page, "Get case URL").fill(f"{mtls_tracker.api}/{{{{{{external.system.id}}}}}}")
    field(page, "Get case response external title key").fill("fields.summary")
    field(page, "External case view URL").fill(f"{mtls_tracker.url}/browse/{{{{{{external.system.id}}}}}}")
    field(page, "Update case URL").fill(f"{mtls_tracker.api}/{{{{{{external.system.id}}}}}}")
    field(page, "Update case object").fill('{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}}}')
    page.get_by_label("Require authentication for this webhook").check()
    field(page, "Authentication").select_option(label="SSL client certificate")
    expect(field(page, "Username")).to_be_hidden()  # basic's user is not asked for...
    field(page, "Certificate format").select_option(label="Certificate and key (PEM)")
    field(page, "CA certificate").fill(server_ca.cert_pem.bytes().decode())
    field(page, "Certificate file (crt)").set_input_files(
        {"name": "client.crt", "mimeType": "application/x-pem-file", "buffer": crt})
    field(page, "Private key file (key)").set_input_files(
        {"name": "client.key", "mimeType": "application/x-pem-file", "buffer": key})
    field(page, "Password").fill(KEY_PASSWORD)  # ...but the password is: the key's passphrase
    page.get_by_role("button", name="Create connector").click()

    expect(page.get_by_role("heading", name="mTLS tracker", level=1)).to_be_visible()
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(page.locator("#test-result")).to_contain_text("client certificate (crt+key)")
    assert mtls_tracker.received[0].path == "/api/issues" and all(mtls_tracker.client_certificates)
