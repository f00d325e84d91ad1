"""The `.email` type end to end: real SMTP to an aiosmtpd server in the test (plain, STARTTLS, implicit
TLS with a trustme CA, AUTH), Exchange through fake Microsoft Graph and token endpoints, Kibana's
validation texts, `[email]`'s rules, and the password and client secret kept out of everything shown."""

from __future__ import annotations

import html
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from app.outbound import Trace
from app.outbound.smtp import SmtpError, send_mail
from app.settings import EmailSettings, FileConfig, OutboundSettings, TLSSettings, load_file_config
from app.types import get_type
from app.types.email import smtp_endpoint
from app.types.email.message import mime_message
from tests.api_client import Api
from tests.browser import UUID_URL, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.graph import FakeGraph
from tests.fakes.oauth import OAuthServer
from tests.fakes.smtp import BAD_LOGIN, FakeSMTP
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events

EMAIL = get_type(".email")
SENDER = "alerts@example.com"
USER, PASSWORD = "alerts@example.com", "smtp-password-7f3a9c"
TENANT = "0d1ab0c4-7d5e-4a3e-9d0e-5b8f0c1e2a3b"
CONFIG_ERROR = "error validating action type config"


def mail_app(folder, *, ca_file=None, allowed_hosts=("*",), **email):
    outbound = OutboundSettings(allowed_hosts=allowed_hosts, tls=TLSSettings(ca_files=(str(ca_file),) if ca_file else ()))
    app = make_app(folder / "app", file_config=FileConfig(outbound=outbound, email=EmailSettings(**email)))
    return app, Browserish(app.test_client())


def smtp_fields(port: int, *, user: str | None = None, password: str | None = None, secure: bool = False,
                name: str = "mail", **extra) -> dict:
    fields = {"name": name, "config.from": SENDER, "config.service": "other", "config.host": "127.0.0.1",
              "config.port": str(port), "config.secure": ["false", "true"] if secure else ["false"],
              "config.hasAuth": ["false", "true"] if user else ["false"]}
    if user:
        fields.update({"secrets.user": user, "secrets.password": password or ""})
    return {**fields, **extra}


def run_test_pane(web, cid: str, *, to="ops@example.com", subject="Disk full", message="Disk **full** on db-1",
                  **params) -> str:
    data = {"params.__present": "1", "params.to": to, "params.subject": subject, "params.message": message}
    data.update({f"params.{k}": v for k, v in params.items()})
    response = web.post(f"/connectors/{cid}/test", data=data, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def smtp_connector(port: int, *, name: str = "mail", secure: bool = False, has_auth: bool = False, **secrets) -> dict:
    return {"name": name, "connector_type_id": ".email", "secrets": secrets,
            "config": {"from": SENDER, "service": "other", "host": "127.0.0.1", "port": port, "secure": secure,
                       "hasAuth": has_auth}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path):
    with FakeSMTP(tmp_path) as server:
        yield server


# ---- SMTP: what the server receives -------------------------------------------------------------------------


def test_the_test_pane_sends_markdown_as_text_and_html_with_bcc_only_in_the_envelope(app, web, smtp):
    cid = create_via_form(web, ".email", smtp_fields(smtp.port))

    page = run_test_pane(web, cid, to="ops@example.com, dba@example.com", cc="lead@example.com",
                         bcc="audit@example.com", replyTo="noc@example.com")

    (got,) = smtp.received
    assert got.mail_from == SENDER
    assert got.rcpt_tos == ["ops@example.com", "dba@example.com", "lead@example.com", "audit@example.com"]
    message = got.message
    assert (message["From"], message["To"], message["Cc"]) == (SENDER, "ops@example.com, dba@example.com", "lead@example.com")
    assert (message["Subject"], message["Reply-To"], message["Bcc"]) == ("Disk full", "noc@example.com", None)
    assert message.get_content_type() == "multipart/alternative"
    assert got.part("text/plain").strip() == "Disk **full** on db-1"
    assert got.part("text/html").strip() == "<p>Disk <strong>full</strong> on db-1</p>"
    assert (got.tls, got.login) == (False, None)
    assert 'data-status="ok"' in page
    assert f"SMTP smtp://127.0.0.1:{smtp.port}" in page and "250 2.0.0 Ok: queued" in page
    assert "EHLO, MAIL, RCPT, RCPT, RCPT, RCPT, DATA, QUIT" in page  # the commands, in order
    event = events(app)[-1]
    assert (event.connector_type_id, event.status) == (".email", "ok")


def test_links_in_the_markdown_become_links_in_the_html_part(app, web, smtp):
    cid = create_via_form(web, ".email", smtp_fields(smtp.port))

    run_test_pane(web, cid, message="See https://status.example.com\n\n<script>x</script>")

    html_part = smtp.received[-1].part("text/html")
    assert '<a href="https://status.example.com">https://status.example.com</a>' in html_part
    assert "&lt;script&gt;" in html_part and "<script>" not in html_part  # raw HTML in Markdown is escaped


def test_execute_through_the_api_answers_what_the_server_accepted(app, smtp):
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]

    result = api.execute(cid, EMAIL.test_params).get_json()

    assert result["status"] == "ok"
    data = result["data"]
    assert data["accepted"] == ["test@example.com"] and data["rejected"] == []
    assert data["envelope"] == {"from": SENDER, "to": ["test@example.com"]}
    assert data["response"] == "250 2.0.0 Ok: queued as 4Bqk2M1y"
    assert smtp.received[-1].message["Message-ID"] == data["messageId"]
    assert smtp.received[-1].message["Subject"] == EMAIL.test_params["subject"]


def test_starttls_and_login_when_the_server_offers_them(tmp_path):
    with FakeSMTP(tmp_path, tls="starttls", user=USER, password=PASSWORD) as server:
        _app, web = mail_app(tmp_path, ca_file=server.ca_file)
        cid = create_via_form(web, ".email", smtp_fields(server.port, user=USER, password=PASSWORD))

        page = run_test_pane(web, cid)

    (got,) = server.received
    assert (got.tls, got.login) == (True, USER)
    assert "EHLO, STARTTLS, EHLO, AUTH" in page and "STARTTLS" in page
    assert PASSWORD not in page


def test_implicit_tls_when_secure(tmp_path):
    with FakeSMTP(tmp_path, tls="implicit", user=USER, password=PASSWORD) as server:
        _app, web = mail_app(tmp_path, ca_file=server.ca_file)
        cid = create_via_form(web, ".email", smtp_fields(server.port, user=USER, password=PASSWORD, secure=True))

        page = run_test_pane(web, cid)

    assert (server.received[-1].tls, server.received[-1].login) == (True, USER)
    assert f"SMTP smtps://127.0.0.1:{server.port}" in page and 'data-status="ok"' in page


def test_an_unset_secure_means_tls_from_the_start_exactly_on_port_465():
    def endpoint(port, secure=None):
        config, _ = EMAIL.validate_connector({"from": SENDER, "host": "mail.example.com", "port": port, "secure": secure,
                                              "hasAuth": False}, {})
        return smtp_endpoint(config, EmailSettings())

    assert endpoint(465) == ("mail.example.com", 465, True)
    assert endpoint(587) == ("mail.example.com", 587, False)
    assert endpoint(465, secure=False)[2] is False


def test_a_login_is_never_tried_without_tls_the_server_would_refuse_it(app, web, smtp):
    cid = create_via_form(web, ".email", smtp_fields(smtp.port, user=USER, password=PASSWORD))

    result = Api.with_key(app).execute(cid, EMAIL.test_params).get_json()

    assert result["message"] == "error sending email"
    assert result["service_message"].endswith("SMTP AUTH extension not supported by server.")
    assert result["retry"] is False and smtp.received == []


def test_a_connector_without_authentication_sends_no_login(tmp_path):
    with FakeSMTP(tmp_path, tls="starttls", user=USER, password=PASSWORD) as server:
        app, _ = mail_app(tmp_path, ca_file=server.ca_file)
        api = Api.with_key(app)
        cid = api.created(smtp_connector(server.port, user=USER, password=PASSWORD))["id"]  # hasAuth false

        assert api.execute(cid, EMAIL.test_params).get_json()["status"] == "ok"

    assert server.logins == [] and server.received[-1].login is None


# ---- SMTP: refusals -------------------------------------------------------------------------------------------


def test_a_wrong_password_is_an_invalid_login_and_final(tmp_path):
    with FakeSMTP(tmp_path, tls="starttls", user=USER, password=PASSWORD) as server:
        app, web = mail_app(tmp_path, ca_file=server.ca_file)
        cid = create_via_form(web, ".email", smtp_fields(server.port, user=USER, password="not-the-password"))

        page = run_test_pane(web, cid)

    event = events(app)[-1]
    assert "error sending email" in page and f"Invalid login: {BAD_LOGIN}" in page
    assert (event.status, event.retry) == ("error", "false")
    assert server.received == []


def test_a_certificate_from_an_unknown_ca_fails_the_tls_handshake(tmp_path):
    with FakeSMTP(tmp_path, tls="implicit", user=USER, password=PASSWORD) as server:
        app, _ = mail_app(tmp_path)  # the test CA is not trusted
        api = Api.with_key(app)
        cid = api.created(smtp_connector(server.port, secure=True, has_auth=True, user=USER, password=PASSWORD))["id"]

        result = api.execute(cid, EMAIL.test_params).get_json()

    assert result["message"] == "error sending email"
    assert result["service_message"].startswith(f"TLS handshake with smtps://127.0.0.1:{server.port} failed:")
    assert "certificate" in result["service_message"] and result["retry"] is False
    assert server.logins == []  # the password never left


def test_starttls_to_a_server_without_login_or_tls_accepts_its_certificate_as_kibana_does(tmp_path):
    with FakeSMTP(tmp_path, tls="starttls") as server:
        app, _ = mail_app(tmp_path)  # the test CA is not trusted
        api = Api.with_key(app)
        cid = api.created(smtp_connector(server.port))["id"]

        assert api.execute(cid, EMAIL.test_params).get_json()["status"] == "ok"

    assert server.received[-1].tls is True


def test_a_server_that_is_down_is_refused_and_worth_retrying(app, web):
    port = free_port()
    cid = create_via_form(web, ".email", smtp_fields(port))

    page = run_test_pane(web, cid)

    assert f"connection to smtp://127.0.0.1:{port} was refused" in page
    assert events(app)[-1].retry == "true"


def test_recipients_the_server_refuses(app, smtp):
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]
    smtp.refuse.add("gone@example.com")

    some = api.execute(cid, {**EMAIL.test_params, "to": ["gone@example.com", "ops@example.com"]}).get_json()
    none = api.execute(cid, {**EMAIL.test_params, "to": ["gone@example.com"]}).get_json()

    assert some["status"] == "ok" and some["data"]["rejected"] == ["gone@example.com"]
    assert smtp.received[-1].rcpt_tos == ["ops@example.com"]
    assert none["service_message"].startswith("Can't send mail - all recipients were rejected: gone@example.com: 550 5.1.1")
    assert none["retry"] is False


def test_a_temporary_refusal_of_the_message_is_worth_retrying(app, smtp):
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]
    smtp.reply_next("451 4.3.0 Mail server temporarily rejected message")

    result = api.execute(cid, EMAIL.test_params).get_json()

    assert result["service_message"] == "Message failed: 451 4.3.0 Mail server temporarily rejected message"
    assert result["retry"] is True


def test_the_outbound_layer_refuses_a_host_outside_the_allowed_hosts(smtp):
    settings = OutboundSettings(allowed_hosts=("mail.example.com",))
    message = mime_message(sender=SENDER, to=["a@example.com"], cc=[], reply_to=None, subject="s", text="t", html="h")

    with pytest.raises(SmtpError) as refused:
        send_mail(settings, Trace(), "127.0.0.1", smtp.port, False, None, None, message, sender=SENDER,
                  recipients=["a@example.com"])

    assert refused.value.code == "host_not_allowed" and smtp.received == []


# ---- well-known services and [email] ------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "host"), [("gmail", "smtp.gmail.com"), ("outlook365", "smtp.office365.com"),
                                               ("ses", "email-smtp.us-east-1.amazonaws.com")])
def test_well_known_services_send_to_their_own_hosts_which_must_be_allowed(service, host):
    config = {"from": SENDER, "service": service, "hasAuth": False}

    with pytest.raises(Exception) as refused:
        EMAIL.validate_connector(config, {}, allowed_hosts=("127.0.0.1",))

    assert refused.value.errors == {"config.service": f"{CONFIG_ERROR}: [service] value '{service}' resolves to host "
                                                      f"'{host}' which is not in the allowedHosts configuration"}
    assert smtp_endpoint(EMAIL.validate_connector(config, {})[0], EmailSettings())[0] == host


def test_ses_sends_to_the_configured_endpoint_over_tls(tmp_path):
    with FakeSMTP(tmp_path, tls="implicit", user=USER, password=PASSWORD) as server:
        app, web = mail_app(tmp_path, ca_file=server.ca_file, ses_host="127.0.0.1", ses_port=server.port)
        fields = {"name": "ses", "config.from": SENDER, "config.service": "ses", "config.hasAuth": ["false", "true"],
                  "secrets.user": USER, "secrets.password": PASSWORD}
        cid = create_via_form(web, ".email", fields)

        page = run_test_pane(web, cid)

    assert 'data-status="ok"' in page and server.received[-1].login == USER
    assert connectors(app)[0].config == {"from": SENDER, "service": "ses", "secure": False, "hasAuth": True, "allowHtml": False}


def test_ses_settings_that_disagree_with_the_endpoint_are_refused(tmp_path):
    app, _ = mail_app(tmp_path, ses_host="email-smtp.eu-west-1.amazonaws.com", ses_port=465)
    body = {"name": "ses", "connector_type_id": ".email", "secrets": {},
            "config": {"from": SENDER, "service": "ses", "host": "smtp.example.com", "port": 25, "hasAuth": False}}

    response = Api.with_key(app).create(body)

    assert "[ses.host]/[ses.port] does not match with the configured AWS SES host/port combination" in response.get_json()["message"]


def test_a_service_left_out_of_services_enabled_is_refused(tmp_path):
    _app, web = mail_app(tmp_path, services_enabled=("other", "microsoft-exchange"))

    response = web.post("/connectors/new/.email", data={"name": "g", "config.from": SENDER, "config.service": "gmail",
                                                         "config.hasAuth": ["false"]})

    assert response.status_code == 422
    assert ('[service]: "google-mail" is not in the list of enabled email services: other,microsoft-exchange'
            in html.unescape(response.get_data(as_text=True)))


def test_the_domain_allowlist_guards_the_sender_and_the_recipients(tmp_path, smtp):
    app, _web = mail_app(tmp_path, domain_allowlist=("example.com",))
    api = Api.with_key(app)
    refused = api.create({**smtp_connector(smtp.port), "config": {**smtp_connector(smtp.port)["config"],
                                                                  "from": "x@elsewhere.org"}})
    cid = api.created(smtp_connector(smtp.port))["id"]

    result = api.execute(cid, {**EMAIL.test_params, "to": ["ops@example.com", "boss@elsewhere.org", "nonsense"]})
    reply_to = api.execute(cid, {**EMAIL.test_params, "replyTo": ["x@elsewhere.org"]}).get_json()

    assert "[from]: not allowed emails: x@elsewhere.org" in refused.get_json()["message"]
    assert result.get_json()["message"] == ("error validating action params: [to/cc/bcc]: not valid emails: nonsense; "
                                            "not allowed emails: boss@elsewhere.org")
    assert reply_to["message"] == "error validating action params: [to/cc/bcc/replyTo]: not allowed emails: x@elsewhere.org"
    assert smtp.received == []


def test_a_long_message_is_trimmed_after_a_warning(tmp_path, smtp, caplog):
    app, _ = mail_app(tmp_path, maximum_body_length=20)
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]
    # Migrating a fresh app reconfigures logging (alembic.ini), which takes caplog off the root logger.
    logger = logging.getLogger("app.types.email.message")
    logger.addHandler(caplog.handler)
    try:
        api.execute(cid, {**EMAIL.test_params, "message": "0123456789" * 5})
    finally:
        logger.removeHandler(caplog.handler)

    text = smtp.received[-1].part("text/plain")
    assert text.startswith("Your message's length of 50 exceeded the 20 bytes limit that is set for the connector "
                           f'"{cid}" and was trimmed.')
    assert text.rstrip().endswith("\n\n01234567890123456789")
    assert "has been trimmed" in caplog.text


def test_the_email_section_is_read_from_the_config_file(tmp_path):
    path = tmp_path / "switchboard.toml"
    path.write_text('[email]\ndomain_allowlist = ["example.com"]\nservices_enabled = ["other"]\n'
                    'maximum_body_length = 99999999999\ngraph_api_url = "http://127.0.0.1:9/v1.0"\n')

    email = load_file_config(path).email

    assert (email.domain_allowlist, email.services_enabled) == (("example.com",), ("other",))
    assert email.maximum_body_length == 25_000_000  # clamped to Kibana's ceiling
    assert email.graph_api_url == "http://127.0.0.1:9/v1.0"


# ---- validation, in Kibana's words ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "key", "message"), [
    ({"config.host": "", "config.port": ""}, "config.host", f"{CONFIG_ERROR}: [host]/[port] is required"),
    ({"config.port": ""}, "config.port", f"{CONFIG_ERROR}: [port] is required"),
    ({"config.host": ""}, "config.host", f"{CONFIG_ERROR}: [host] is required"),
    ({"config.hasAuth": ["false", "true"], "secrets.password": PASSWORD}, "secrets.user", "[user] is required"),
    ({"config.hasAuth": ["false", "true"], "secrets.user": USER}, "secrets.password", "[password] is required"),
    ({"config.port": "70000"}, "config.port", "Must be at most 65535."),
])
def test_the_form_refuses_incomplete_smtp_settings(app, web, fields, key, message):
    response = web.post("/connectors/new/.email", data={**smtp_fields(2525), **fields})

    assert response.status_code == 422
    assert message in html.unescape(response.get_data(as_text=True))
    assert connectors(app) == []


def test_an_unknown_service_is_not_valid(app):
    body = {"name": "x", "connector_type_id": ".email", "config": {"from": SENDER, "service": "sendgrid"}, "secrets": {}}

    response = Api.with_key(app).create(body)

    assert response.status_code == 400
    assert f"{CONFIG_ERROR}: [service] value 'sendgrid' is not valid" in response.get_json()["message"]


@pytest.mark.parametrize(("params", "message"), [
    ({"to": [], "cc": [], "bcc": []}, "error validating action params: At least one entry in [to], [cc], or [bcc] is required"),
    ({"to": ["  ", ""], "cc": [" "]}, "error validating action params: At least one entry in [to], [cc], or [bcc] is required"),
    ({"replyTo": ["a@example.com"] * 11}, "error validating action params: [replyTo]: List should have at most 10 items after validation, not 11"),
    ({"messageHTML": "<p>hi</p>"}, "HTML email can only be sent when the connector is configured to allow HTML"),
])
def test_params_that_cannot_make_a_mail_are_refused_before_sending(app, smtp, params, message):
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]

    result = api.execute(cid, {**EMAIL.test_params, **params}).get_json()

    assert (result["status"], result["message"]) == ("error", message)
    assert smtp.received == []


def test_too_many_recipients_are_refused(app, smtp):
    api = Api.with_key(app)
    cid = api.created(smtp_connector(smtp.port))["id"]

    result = api.execute(cid, {**EMAIL.test_params, "to": [f"u{i}@example.com" for i in range(101)]}).get_json()

    assert result["message"].startswith("error validating action params: [to]: ")
    assert "at most 100 items" in result["message"]


def test_a_connector_that_allows_html_sends_the_given_html(app, smtp):
    api = Api.with_key(app)
    body = smtp_connector(smtp.port)
    cid = api.created({**body, "config": {**body["config"], "allowHtml": True}})["id"]

    api.execute(cid, {**EMAIL.test_params, "message": "plain words", "messageHTML": "<h1>Hi</h1>"})

    assert smtp.received[-1].part("text/html").strip() == "<h1>Hi</h1>"
    assert smtp.received[-1].part("text/plain").strip() == "plain words"


def test_email_is_listed_among_the_connector_types(app):
    types = {t["id"]: t for t in Api.with_key(app).get("/api/actions/connector_types").get_json()}

    assert types[".email"] == {**types[".email"], "name": "Email", "minimum_license_required": "gold",
                               "supported_feature_ids": ["alerting", "uptime", "siem", "workflows"]}


# ---- the password ----------------------------------------------------------------------------------------------


def test_the_password_is_sent_but_kept_out_of_pages_logs_and_events(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.WARNING, logger="mail.log")  # the fake server's own log: it echoes on purpose
    with FakeSMTP(tmp_path, tls="starttls", user=USER, password="another-password", echo_password=True) as server:
        app, web = mail_app(tmp_path, ca_file=server.ca_file)
        cid = create_via_form(web, ".email", smtp_fields(server.port, user=USER, password=PASSWORD))

        page = run_test_pane(web, cid)

    assert (USER, PASSWORD) in server.logins
    assert "(got password ••••••)" in page  # the server's echo, masked
    assert_secret_kept_out(app, web, PASSWORD, cid, page, log=caplog.text)


def test_a_blank_password_on_edit_keeps_the_stored_one(tmp_path):
    with FakeSMTP(tmp_path, tls="starttls", user=USER, password=PASSWORD) as server:
        app, web = mail_app(tmp_path, ca_file=server.ca_file)
        cid = create_via_form(web, ".email", smtp_fields(server.port, user=USER, password=PASSWORD))
        assert PASSWORD not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

        edit = web.post(f"/connectors/{cid}/edit", data=smtp_fields(server.port, user=USER, password="", name="renamed"))
        page = run_test_pane(web, cid)

    assert edit.status_code == 303 and 'data-status="ok"' in page
    assert server.logins[-1] == (USER, PASSWORD)
    (connector,) = connectors(app)
    assert (connector.name, connector.secret_fields) == ("renamed", {"user": True, "password": True})
    assert connector.config["from"] == SENDER and "password" not in connector.config


# ---- Exchange through Microsoft Graph ---------------------------------------------------------------------------


@pytest.fixture
def exchange(tmp_path):
    with OAuthServer() as oauth, FakeGraph(oauth) as graph:
        app, web = mail_app(tmp_path, graph_api_url=graph.api_url)
        yield SimpleNamespace(oauth=oauth, graph=graph, app=app, web=web, api=Api.with_key(app))


def exchange_fields(oauth: OAuthServer, *, secret: str | None = None, **extra) -> dict:
    fields = {"name": "exchange", "config.from": SENDER, "config.service": "exchange_server", "config.tenantId": TENANT,
              "config.clientId": oauth.client_id, "config.oauthTokenUrl": oauth.token_url,
              "secrets.clientSecret": oauth.client_secret if secret is None else secret}
    return {**fields, **extra}


def exchange_connector(ex, **config) -> str:
    body = {"name": "exchange", "connector_type_id": ".email", "secrets": {"clientSecret": ex.oauth.client_secret},
            "config": {"from": SENDER, "service": "exchange_server", "tenantId": TENANT,
                       "clientId": ex.oauth.client_id, "oauthTokenUrl": ex.oauth.token_url, **config}}
    return ex.api.created(body)["id"]


def test_exchange_gets_an_app_token_and_posts_the_message_to_graph(exchange):
    cid = create_via_form(exchange.web, ".email", exchange_fields(exchange.oauth))

    page = run_test_pane(exchange.web, cid, to="ops@example.com", cc="lead@example.com", bcc="audit@example.com")

    (token_request,) = exchange.oauth.requests
    assert token_request.form == {"grant_type": "client_credentials", "client_id": exchange.oauth.client_id,
                                  "client_secret": exchange.oauth.client_secret,
                                  "scope": "https://graph.microsoft.com/.default"}
    (got,) = exchange.graph.received
    assert (got.method, got.path) == ("POST", f"/v1.0/users/{SENDER}/sendMail")
    assert got.headers["Authorization"] == f"Bearer {exchange.oauth.issued[0]}"
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {"message": {
        "subject": "Disk full", "body": {"contentType": "HTML", "content": "<p>Disk <strong>full</strong> on db-1</p>\n"},
        "toRecipients": [{"emailAddress": {"address": "ops@example.com"}}],
        "ccRecipients": [{"emailAddress": {"address": "lead@example.com"}}],
        "bccRecipients": [{"emailAddress": {"address": "audit@example.com"}}],
    }}
    assert 'data-status="ok"' in page and "202 Accepted" in page
    assert (events(exchange.app)[-1].status, events(exchange.app)[-1].http_status) == ("ok", 202)


def test_the_token_is_cached_and_shared_by_later_runs(exchange):
    cid = exchange_connector(exchange)

    results = [exchange.api.execute(cid, EMAIL.test_params).get_json() for _ in range(2)]

    assert [r["status"] for r in results] == ["ok", "ok"]
    assert exchange.oauth.token_requests == 1 and len(exchange.graph.sent) == 2


def test_a_refused_token_is_dropped_fetched_again_and_the_mail_tried_once_more(exchange):
    cid = exchange_connector(exchange)
    exchange.api.execute(cid, EMAIL.test_params)
    exchange.graph.revoke_issued_tokens()

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert result["status"] == "ok"
    assert exchange.oauth.token_requests == 2
    statuses = [r.headers["Authorization"].split()[1] for r in exchange.graph.received]
    assert statuses == [exchange.oauth.issued[0], exchange.oauth.issued[0], exchange.oauth.issued[1]]
    assert len(exchange.graph.sent) == 2


def test_a_second_refusal_is_the_answer(exchange):
    cid = exchange_connector(exchange)
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}
    exchange.graph.answer_next(401, expired)
    exchange.graph.answer_next(401, expired)

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert (result["message"], result["retry"]) == ("error sending email", False)
    assert json.loads(result["service_message"]) == expired
    assert exchange.oauth.token_requests == 2 and len(exchange.graph.received) == 2


@pytest.mark.parametrize(("sender", "forbidden", "code"), [
    ("nobody@example.com", False, "ErrorInvalidUser"), (SENDER, True, "ErrorAccessDenied"),
])
def test_graph_refusals_are_final_with_grahps_error(exchange, sender, forbidden, code):
    if forbidden:
        exchange.graph.forbidden.add(SENDER)
    cid = exchange_connector(exchange, **{"from": sender})

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert (result["status"], result["message"], result["retry"]) == ("error", "error sending email", False)
    assert json.loads(result["service_message"])["error"]["code"] == code


def test_graph_throttling_says_when_to_retry(exchange):
    cid = exchange_connector(exchange)
    exchange.graph.throttle(retry_after="30")
    before = datetime.now(UTC)

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert json.loads(result["service_message"])["error"]["code"] == "ApplicationThrottled"
    when = datetime.fromisoformat(result["retry"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=25) <= when <= datetime.now(UTC) + timedelta(seconds=35)


def test_a_graph_outage_is_worth_retrying(exchange):
    cid = exchange_connector(exchange)
    exchange.graph.outage(503)

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert (result["message"], result["retry"]) == ("error sending email", True)
    assert "ServiceUnavailable" in result["service_message"]


def test_graph_that_is_down_is_worth_retrying(tmp_path):
    with OAuthServer() as oauth:
        app, _ = mail_app(tmp_path, graph_api_url=f"http://127.0.0.1:{free_port()}/v1.0")
        ex = SimpleNamespace(oauth=oauth, api=Api.with_key(app))

        result = ex.api.execute(exchange_connector(ex), EMAIL.test_params).get_json()

    assert result["retry"] is True and "was refused" in result["service_message"]


def test_a_wrong_client_secret_gets_no_token_and_sends_nothing(exchange):
    cid = create_via_form(exchange.web, ".email", exchange_fields(exchange.oauth, secret="not-the-client-secret"))

    result = exchange.api.execute(cid, EMAIL.test_params).get_json()

    assert result["message"] == "error sending email"
    assert result["service_message"].startswith(f"Unable to retrieve access token for connectorId: {cid}: ")
    assert "invalid_client" in result["service_message"] and result["retry"] is False
    assert exchange.graph.received == []


def test_without_a_token_url_microsofts_is_built_from_the_tenant(tmp_path):
    with OAuthServer() as oauth, FakeGraph(oauth) as graph:
        app, web = mail_app(tmp_path, graph_api_url=graph.api_url, exchange_url=graph.url)
        cid = create_via_form(web, ".email", exchange_fields(oauth, **{"config.oauthTokenUrl": ""}))

        result = Api.with_key(app).execute(cid, EMAIL.test_params).get_json()

    assert [(r.method, r.path) for r in graph.received] == [("POST", f"/{TENANT}/oauth2/v2.0/token")]
    assert result["status"] == "error"


@pytest.mark.parametrize(("fields", "key", "message"), [
    ({"config.tenantId": "", "config.clientId": ""}, "config.clientId", "[clientId]/[tenantId] is required"),
    ({"config.tenantId": ""}, "config.tenantId", "[tenantId] is required"),
    ({"secrets.clientSecret": ""}, "secrets.clientSecret", "[clientSecret] is required"),
])
def test_exchange_needs_its_tenant_client_and_secret(app, web, fields, key, message):
    oauth = SimpleNamespace(client_id="client", client_secret="secret-value", token_url="https://login.example.com/t")

    response = web.post("/connectors/new/.email", data={**exchange_fields(oauth), **fields})

    assert response.status_code == 422 and message in html.unescape(response.get_data(as_text=True))


def test_the_client_secret_is_kept_out_of_pages_logs_and_events(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "stored-client-secret-4d2e"
    with OAuthServer(echo_form_in_errors=True) as oauth, FakeGraph(oauth) as graph:
        app, web = mail_app(tmp_path, graph_api_url=graph.api_url)
        cid = create_via_form(web, ".email", exchange_fields(oauth, secret=secret))

        page = run_test_pane(web, cid)

    assert oauth.requests[-1].form["client_secret"] == secret
    assert "invalid_client" in page
    assert_secret_kept_out(app, web, secret, cid, page, log=caplog.text)


# ---- in the browser ---------------------------------------------------------------------------------------------


@drives_browser
def test_the_service_decides_which_fields_show_and_the_test_pane_sends_mail(page, live, smtp):
    page.goto(live.url + "/connectors/new/.email")
    page.get_by_role("textbox", name="Name", exact=True).fill("Ops mail")
    page.get_by_label("Sender").fill(SENDER)
    service, host, port = page.get_by_label("Service"), page.get_by_label("Host"), page.get_by_label("Port")
    tenant, client_secret = page.get_by_label("Tenant ID"), page.get_by_label("Client secret")

    service.select_option("exchange_server")
    expect(tenant).to_be_visible()
    expect(client_secret).to_be_visible()
    expect(host).to_be_hidden()
    expect(port).to_be_hidden()
    service.select_option("gmail")
    expect(host).to_be_hidden()
    expect(tenant).to_be_hidden()
    service.select_option("other")
    expect(host).to_be_visible()
    expect(tenant).to_be_hidden()
    host.fill("127.0.0.1")
    port.fill(str(smtp.port))
    page.get_by_role("switch", name="Requires authentication").uncheck()
    expect(page.get_by_label("Password")).to_be_hidden()
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    (got,) = smtp.received
    assert got.rcpt_tos == EMAIL.test_params["to"] and got.message["Subject"] == EMAIL.test_params["subject"]
    connector = page.request.get(f"{live.url}/api/actions/connector/{page.url.rsplit('/', 1)[1]}").json()
    assert connector["config"] == {"from": SENDER, "service": "other", "host": "127.0.0.1", "port": smtp.port,
                                   "secure": False, "hasAuth": False, "allowHtml": False}


def test_a_mail_server_in_a_denied_network_is_never_connected_to(tmp_path, smtp):
    outbound = OutboundSettings(denied_networks=("127.0.0.1/32",))
    app = make_app(tmp_path / "denied", file_config=FileConfig(outbound=outbound, email=EmailSettings()))
    web = Browserish(app.test_client())
    cid = create_via_form(web, ".email", smtp_fields(smtp.port))

    page = run_test_pane(web, cid)

    assert 'data-status="error"' in page and "denied_networks" in page
    assert smtp.received == []  # refused before connecting: the message names the setting
