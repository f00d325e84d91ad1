"""The `.email` type end to end: real SMTP to an aiosmtpd server in the test (plain, STARTTLS, implicit
TLS with a trustme CA, AUTH), Exchange through fake Microsoft Graph and token endpoints, Kibana's
validation texts, `[email]`'s rules, and the password and client secret kept out of everything shown."""

from __future__ import annotations

import html
import logging
import socket

import pytest

from app.outbound import Trace
from app.outbound.smtp import SmtpError, send_mail
from app.settings import EmailSettings, FileConfig, OutboundSettings, TLSSettings, load_file_config
from app.types import get_type
from app.types.email import smtp_endpoint
from app.types.email.message import mime_message
from tests.api_client import Api
from tests.conftest import Browserish, make_app
from tests.fakes.smtp import BAD_LOGIN, FakeSMTP
from tests.helpers import connectors, create_via_form, events

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

    assert "[from]: not allowed emails: x@elsewhere.org" in refused.get_json()["message"]
    assert result.get_json()["message"] == "[to/cc/bcc]: not valid emails: nonsense; not allowed emails: boss@elsewhere.org"
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
