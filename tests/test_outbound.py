"""The one outbound client: TLS verification modes, custom CAs, proxies, and the trace it keeps."""

from __future__ import annotations

import pytest

from app.outbound import OutboundClient, OutboundError, Trace
from app.settings import OutboundSettings, ProxySettings, TLSSettings
from tests.fakes.receiver import Receiver
from tests.fakes.tls import make_ca_and_server_cert


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver whose certificate names "localhost" only, signed by a CA in ca.pem."""
    ca, context = make_ca_and_server_cert(tmp_path, "localhost")
    with Receiver(ssl_context=context) as receiver:
        receiver.reply("/hook")
        yield receiver, str(ca)


def client(**kw) -> OutboundClient:
    return OutboundClient(OutboundSettings(**kw))


def test_full_verification_trusts_a_custom_ca(tls_receiver):
    receiver, ca = tls_receiver
    response = client(tls=TLSSettings(ca_files=(ca,))).request("POST", f"https://localhost:{receiver.port}/hook")
    assert response.status_code == 200


def test_full_verification_refuses_an_unknown_ca(tls_receiver):
    receiver, _ = tls_receiver
    with pytest.raises(OutboundError) as err:
        client().request("POST", f"https://localhost:{receiver.port}/hook")
    assert err.value.code == "tls_error" and "certificate verify failed" in err.value.message


def test_full_verification_checks_the_host_name(tls_receiver):
    receiver, ca = tls_receiver
    with pytest.raises(OutboundError) as err:
        client(tls=TLSSettings(ca_files=(ca,))).request("POST", f"https://127.0.0.1:{receiver.port}/hook")
    assert err.value.code == "tls_error"


def test_certificate_mode_checks_the_chain_but_not_the_host_name(tls_receiver):
    receiver, ca = tls_receiver
    mode = TLSSettings(verification_mode="certificate", ca_files=(ca,))
    assert client(tls=mode).request("POST", f"https://127.0.0.1:{receiver.port}/hook").status_code == 200
    with pytest.raises(OutboundError):
        client(tls=TLSSettings(verification_mode="certificate")).request("POST", f"https://127.0.0.1:{receiver.port}/hook")


def test_none_mode_skips_verification(tls_receiver):
    receiver, _ = tls_receiver
    response = client(tls=TLSSettings(verification_mode="none")).request("GET", f"https://127.0.0.1:{receiver.port}/hook")
    assert response.status_code == 200


def test_proxy_carries_the_request_unless_the_host_is_bypassed():
    with Receiver() as proxy, Receiver() as direct:
        proxy.reply("/hook")
        settings = ProxySettings(url=proxy.url)
        url = f"http://localhost:{direct.port}/hook"
        assert client(proxy=settings).request("POST", url, data=b"{}").status_code == 200
        assert [r.path for r in proxy.received] == ["/hook"] and direct.received == []
        assert proxy.received[0].headers["Host"] == f"localhost:{direct.port}"

        client(proxy=ProxySettings(url=proxy.url, bypass_hosts=("localhost",))).request("POST", url)
        assert len(direct.received) == 1 and len(proxy.received) == 1

        client(proxy=ProxySettings(url=proxy.url, only_hosts=("elsewhere.example",))).request("POST", url)
        assert len(direct.received) == 2 and len(proxy.received) == 1


def test_trace_lists_header_names_and_masks_secrets_in_url_and_body():
    with Receiver() as receiver:
        receiver.reply("/hook", body=b'{"echo": "s3cret-value"}')
        trace = Trace(["s3cret-value"])
        client().request(
            "POST",
            receiver.url + "/hook?api_key=abc123&page=2",
            headers={"X-Token": "s3cret-value"},
            data=b"{}",
            trace=trace,
        )
    (ex,) = trace.exchanges
    assert "X-Token" in ex.request_headers and "s3cret-value" not in repr(ex.as_dict())
    assert "api_key=••••••" in ex.url and "page=2" in ex.url
    assert ex.status == 200 and '"echo": "••••••"' in ex.body_preview


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http://", "not a url", "http://host:99999/"])
def test_malformed_urls_are_refused_before_any_connection(url):
    with pytest.raises(OutboundError) as err:
        client().request("GET", url)
    assert err.value.code == "invalid_url"


def test_empty_allow_list_blocks_everything():
    with pytest.raises(OutboundError) as err:
        client(allowed_hosts=()).request("GET", "http://127.0.0.1:9/")
    assert err.value.code == "host_not_allowed"
