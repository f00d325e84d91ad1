"""[[outbound.hosts]]: per-host TLS on every connection and redirect hop, client certificates, proxy headers.

Every server is a real TLS server on 127.0.0.1 with certificates made by `trustme`.
"""

from __future__ import annotations

import base64
import ssl

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from app.outbound import CertificateError, ClientCertificate, OutboundClient, OutboundError, TLSOverride, Trace
from app.settings import HostSettings, HostTLSSettings, OutboundSettings, ProxySettings
from tests.fakes.receiver import Receiver


@pytest.fixture(scope="module")
def corp_ca():
    return trustme.CA(organization_name="Corp internal CA")


def tls_server(ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None) -> Receiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED  # the server refuses a client without a certificate
        client_ca.configure_trust(context)
    server = Receiver(ssl_context=context)
    server.reply("/hook")
    return server


def host(url: str, **ssl_settings) -> HostSettings:
    return HostSettings(url=url, ssl=HostTLSSettings(**ssl_settings))


def test_a_host_is_trusted_through_its_own_ca_while_another_with_the_same_ca_is_refused(corp_ca):
    with tls_server(corp_ca) as jira, tls_server(corp_ca) as other:
        client = OutboundClient(OutboundSettings(hosts=(host(f"https://127.0.0.1:{jira.port}",
                                                             ca_data=corp_ca.cert_pem.bytes().decode()),)))
        trace = Trace()
        assert client.request("POST", f"{jira.url}/hook", trace=trace).status_code == 200
        with pytest.raises(OutboundError) as refused:
            client.request("POST", f"{other.url}/hook")
        assert refused.value.code == "tls_error" and "certificate verify failed" in refused.value.message
        assert other.received == []
        # The test pane names the settings that applied to the run.
        assert trace.exchanges[0].as_dict()["tls"] == (
            f"[[outbound.hosts]] https://127.0.0.1:{jira.port}; CA: inline ca_data; verification: full")


def test_ca_files_of_a_host_are_named_in_the_trace(corp_ca, tmp_path):
    ca_file = tmp_path / "corp-ca.pem"
    corp_ca.cert_pem.write_to_path(str(ca_file))
    with tls_server(corp_ca, "localhost") as jira:
        client = OutboundClient(OutboundSettings(hosts=(host(f"https://localhost:{jira.port}", ca_files=(str(ca_file),)),)))
        trace = Trace()
        client.request("GET", f"https://localhost:{jira.port}/hook", trace=trace)
        assert trace.exchanges[0].tls.endswith("CA: corp-ca.pem; verification: full")


def test_port_counts_and_defaults_to_443():
    settings = OutboundSettings(hosts=(host("https://Jira.Corp"), host("smtp://mail.corp")))
    assert settings.host_settings("https", "jira.corp", 443) is settings.hosts[0]
    assert settings.host_settings("https", "jira.corp", 8443) is None
    assert settings.host_settings("smtp", "mail.corp", 25) is settings.hosts[1]


def test_certificate_mode_for_one_host_checks_the_chain_not_the_name(corp_ca):
    pem = corp_ca.cert_pem.bytes().decode()
    with tls_server(corp_ca, "jira.internal.example") as jira:
        url = f"https://127.0.0.1:{jira.port}/hook"
        full = OutboundClient(OutboundSettings(hosts=(host(f"https://127.0.0.1:{jira.port}", ca_data=pem),)))
        with pytest.raises(OutboundError) as mismatch:
            full.request("GET", url)
        assert mismatch.value.code == "tls_error"
        relaxed = OutboundClient(OutboundSettings(hosts=(
            host(f"https://127.0.0.1:{jira.port}", ca_data=pem, verification_mode="certificate"),)))
        assert relaxed.request("GET", url).status_code == 200
    # ...and the chain still counts: an unknown CA is refused in certificate mode.
    with tls_server(trustme.CA(), "jira.internal.example") as stranger:
        relaxed = OutboundClient(OutboundSettings(hosts=(
            host(f"https://127.0.0.1:{stranger.port}", ca_data=pem, verification_mode="certificate"),)))
        with pytest.raises(OutboundError, match="certificate verify failed"):
            relaxed.request("GET", f"{stranger.url}/hook")


def test_a_redirect_gets_the_settings_of_the_host_it_goes_to(corp_ca):
    pem = corp_ca.cert_pem.bytes().decode()
    with tls_server(corp_ca) as trusted, tls_server(corp_ca) as untrusted, Receiver() as plain:
        client = OutboundClient(OutboundSettings(hosts=(host(f"https://127.0.0.1:{trusted.port}", ca_data=pem),)))
        to_trusted = plain.reply("/a", status=307, body=b"", headers={"Location": f"{trusted.url}/hook"})
        trace = Trace()
        assert client.request("POST", to_trusted, trace=trace).status_code == 200
        assert [e.tls for e in trace.exchanges] == ["", f"[[outbound.hosts]] https://127.0.0.1:{trusted.port}; "
                                                        "CA: inline ca_data; verification: full"]
        trusted.reply("/onward", status=302, body=b"", headers={"Location": f"{untrusted.url}/hook"})
        with pytest.raises(OutboundError, match="certificate verify failed"):
            client.request("GET", f"{trusted.url}/onward")
        assert untrusted.received == []


# ---- client certificates ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_ca():
    return trustme.CA(organization_name="Client CA")


def crt_key(client_ca, password: str | None = None) -> tuple[bytes, bytes]:
    leaf = client_ca.issue_cert("switchboard-client@example.com")
    key = leaf.private_key_pem.bytes()
    if password:
        loaded = serialization.load_pem_private_key(key, None)
        key = loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(password.encode()))
    return leaf.cert_chain_pems[0].bytes(), key


def pfx(client_ca, password: str | None) -> bytes:
    leaf = client_ca.issue_cert("switchboard-client@example.com")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"client", key, cert, None, encryption)


def test_a_server_that_requires_a_client_certificate_gets_it_from_crt_and_key(corp_ca, client_ca):
    crt, key = crt_key(client_ca, password="key-pass-123")
    with tls_server(corp_ca, client_ca=client_ca) as server:
        client = OutboundClient(OutboundSettings(hosts=(host(f"https://127.0.0.1:{server.port}",
                                                             ca_data=corp_ca.cert_pem.bytes().decode()),)))
        with pytest.raises(OutboundError) as refused:
            client.request("GET", f"{server.url}/hook")
        assert refused.value.code in ("tls_error", "connection_failed")
        override = TLSOverride(client_certificate=ClientCertificate.from_crt_key(crt, key, "key-pass-123"))
        trace = Trace()
        assert client.request("GET", f"{server.url}/hook", tls=override, trace=trace).status_code == 200
        assert trace.exchanges[0].tls.endswith("verification: full; client certificate (crt+key)")


def test_a_pfx_with_a_password_authenticates_too(corp_ca, client_ca):
    override = TLSOverride(client_certificate=ClientCertificate.from_pfx(pfx(client_ca, "pfx-pass"), "pfx-pass"),
                           ca_pem=corp_ca.cert_pem.bytes().decode())
    with tls_server(corp_ca, client_ca=client_ca) as server:
        assert OutboundClient(OutboundSettings()).request("GET", f"{server.url}/hook", tls=override).status_code == 200


@pytest.mark.parametrize(("make", "message"), [
    (lambda ca: ClientCertificate.from_pfx(pfx(ca, "right"), "wrong"), "wrong password for the PFX"),
    (lambda ca: ClientCertificate.from_pfx(b"not a pfx", None), "the PFX is not PKCS#12"),
    (lambda ca: ClientCertificate.from_crt_key(crt_key(ca, "pw")[0], crt_key(ca, "pw")[1], None), "is encrypted"),
    (lambda ca: ClientCertificate.from_crt_key(crt_key(ca)[0], crt_key(ca)[1], None), "does not belong"),
    (lambda ca: ClientCertificate.from_crt_key(b"junk", crt_key(ca)[1], None), "not a PEM certificate"),
])
def test_unusable_key_material_is_refused_with_a_reason(client_ca, make, message):
    with pytest.raises(CertificateError, match=message):
        make(client_ca)


def test_the_connectors_verification_mode_overrides_the_hosts(corp_ca):
    with tls_server(trustme.CA(), "elsewhere.example") as server:
        client = OutboundClient(OutboundSettings(hosts=(host(f"https://127.0.0.1:{server.port}", verification_mode="full"),)))
        trace = Trace()
        response = client.request("GET", f"{server.url}/hook", tls=TLSOverride(verification_mode="none"), trace=trace)
        assert response.status_code == 200
        assert trace.exchanges[0].tls.endswith("verification: none")


# ---- proxy headers ----------------------------------------------------------------------------------


def test_proxy_headers_are_sent_to_the_proxy(tmp_path):
    with Receiver() as proxy:  # a plain-http request through an http proxy arrives as an absolute-form request
        proxy.reply("/hook")
        settings = OutboundSettings(proxy=ProxySettings(url=proxy.url, headers={"X-Proxy-Team": "ops",
                                                                              "Proxy-Authorization": "Basic " + base64.b64encode(b"u:p").decode()}))
        OutboundClient(settings).request("GET", "http://hooks.example.invalid/hook")
        got = proxy.received[-1]
        assert got.headers["X-Proxy-Team"] == "ops" and got.headers["Proxy-Authorization"].startswith("Basic ")


# ---- SMTP ------------------------------------------------------------------------------------------------


def smtp_settings(port: int, **smtp) -> OutboundSettings:
    from app.settings import HostSMTPSettings

    return OutboundSettings(hosts=(HostSettings(url=f"smtp://127.0.0.1:{port}", smtp=HostSMTPSettings(**smtp)),))


def send(settings: OutboundSettings, port: int, *, user: str | None = None, trace: Trace | None = None):
    from app.outbound.smtp import send_mail
    from app.types.email.message import mime_message

    message = mime_message(sender="ops@example.com", to=["a@example.com"], cc=[], reply_to=None, subject="s",
                           text="t", html="h")
    return send_mail(settings, trace or Trace(), "127.0.0.1", port, False, user, "pw" if user else None, message,
                     sender="ops@example.com", recipients=["a@example.com"])


def test_require_tls_refuses_a_relay_that_offers_no_starttls():
    from app.outbound.smtp import SmtpError
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP(tls="none") as smtp:
        with pytest.raises(SmtpError) as refused:
            send(smtp_settings(smtp.port, require_tls=True), smtp.port)
        assert refused.value.code == "tls_required" and "smtp.require_tls" in refused.value.message
        assert smtp.received == []
        send(OutboundSettings(), smtp.port)  # without the host entry, plain text is what the relay offers
        assert len(smtp.received) == 1


def test_require_tls_sends_over_starttls_verified_with_the_hosts_ca(tmp_path):
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP(tmp_path, tls="starttls") as smtp:
        settings = OutboundSettings(hosts=(HostSettings(url=f"smtp://127.0.0.1:{smtp.port}", smtp={"require_tls": True},
                                                        ssl={"ca_files": (str(smtp.ca_file),)}),))
        trace = Trace()
        sent = send(settings, smtp.port, user=None, trace=trace)
        assert sent.tls == "STARTTLS" and smtp.received[-1].tls
        assert trace.exchanges[0].as_dict()["tls"].startswith(
            f"[[outbound.hosts]] smtp://127.0.0.1:{smtp.port}; CA: {smtp.ca_file.name}")


def test_ignore_tls_sends_in_plain_text_even_when_starttls_is_offered(tmp_path):
    from tests.fakes.smtp import FakeSMTP

    with FakeSMTP(tmp_path, tls="starttls") as smtp:
        sent = send(smtp_settings(smtp.port, ignore_tls=True), smtp.port)
        assert sent.tls == "none" and not smtp.received[-1].tls


@pytest.mark.parametrize("mode", ["full", "certificate", "none"])
def test_an_https_proxys_certificate_is_checked_as_proxy_verification_mode_says(corp_ca, mode):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    corp_ca.issue_cert("proxy.internal.example").configure_cert(context)  # a CA and a name the client does not know
    with Receiver(ssl_context=context) as proxy:
        proxy.reply("/hook")
        client = OutboundClient(OutboundSettings(proxy=ProxySettings(url=proxy.url, verification_mode=mode,
                                                                     headers={"X-Proxy-Team": "ops"})))
        if mode == "none":
            assert client.request("GET", "http://hooks.example.invalid/hook").status_code == 200
            assert proxy.received[-1].headers["X-Proxy-Team"] == "ops"
        else:
            with pytest.raises(OutboundError):
                client.request("GET", "http://hooks.example.invalid/hook")
            assert proxy.received == []


def test_a_proxy_whose_certificate_verifies_is_used_in_full_mode(corp_ca, tmp_path):
    from app.settings import TLSSettings

    ca_file = tmp_path / "corp-ca.pem"
    corp_ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    corp_ca.issue_cert("127.0.0.1").configure_cert(context)
    with Receiver(ssl_context=context) as proxy:
        proxy.reply("/hook")
        client = OutboundClient(OutboundSettings(proxy=ProxySettings(url=proxy.url), tls=TLSSettings(ca_files=(str(ca_file),))))
        assert client.request("GET", "http://hooks.example.invalid/hook").status_code == 200
