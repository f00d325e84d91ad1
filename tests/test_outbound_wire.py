"""What the outbound client puts on the wire and reads back, byte for byte as it did on requests: default
headers (each once), Content-Length, Basic credentials, the URL as checked, gzip under the response cap,
charsets, pooled connections, and https through a tunnelling proxy. Real servers on 127.0.0.1 throughout."""

from __future__ import annotations

import base64
import gzip
import ssl
from urllib.parse import unquote

import pytest
import trustme

from app.outbound import OutboundClient, OutboundError, Trace
from app.settings import HostSettings, HostTLSSettings, OutboundSettings, ProxySettings
from tests.fakes.keepalive import KeepAliveReceiver
from tests.fakes.proxy import TunnelProxy
from tests.fakes.receiver import Receiver


def client(**settings) -> OutboundClient:
    return OutboundClient(OutboundSettings(**settings))


def basic(user: str, password: str, encoding: str = "latin-1") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


@pytest.fixture
def receiver():
    with Receiver() as server:
        server.reply("/hook")
        yield server


def raw_target(server: Receiver, path: str = "/hook") -> list[str]:
    """Route `path` so it keeps each request's target exactly as it came on the request line."""
    seen: list[str] = []
    server.reply(path, on_request=lambda request: seen.append(request.environ["RAW_URI"]))
    return seen


# ---- request headers ---------------------------------------------------------------------------------


def test_the_default_headers_are_sent_and_a_callers_own_replaces_its_default(receiver):
    client().request("GET", receiver.url + "/hook")
    client().request("GET", receiver.url + "/hook", headers={"user-agent": "ops-bot/2", "ACCEPT": "application/json"})
    default, own = receiver.received
    assert default.headers["User-Agent"].startswith("python-requests/")  # what services have always seen
    assert default.headers["Accept"] == "*/*" and default.headers["Connection"] == "keep-alive"
    assert default.headers["Accept-Encoding"].startswith("gzip, deflate")
    # Each header once: the dev server would join a repeated one ("*/*,application/json").
    assert own.headers["User-Agent"] == "ops-bot/2" and own.headers["Accept"] == "application/json"


def test_content_length_is_the_bodys_zero_for_an_empty_post_and_absent_on_a_get(receiver):
    client().request("POST", receiver.url + "/hook", data=b"abc", headers={"Content-Length": "999"})
    client().request("POST", receiver.url + "/hook", data="")
    client().request("GET", receiver.url + "/hook")
    sized, empty, get = receiver.received
    assert sized.headers["Content-Length"] == "3" and sized.body == b"abc"
    assert empty.headers["Content-Length"] == "0" and empty.body == b""
    assert "Content-Length" not in get.headers


def test_a_str_body_is_sent_as_utf8(receiver):
    client().request("POST", receiver.url + "/hook", data='{"text": "café ✓"}')
    (got,) = receiver.received
    assert got.body == '{"text": "café ✓"}'.encode() and got.headers["Content-Length"] == str(len(got.body))


def test_basic_credentials_with_non_ascii_latin1_characters_are_encoded_as_before(receiver):
    trace = Trace()
    client().request("POST", receiver.url + "/hook", auth=("rené", "pässwörd"), trace=trace)
    (got,) = receiver.received
    assert got.headers["Authorization"] == basic("rené", "pässwörd")
    assert "Authorization" in trace.exchanges[0].request_headers


def test_basic_credentials_beyond_latin1_are_refused_before_anything_is_sent(receiver):
    with pytest.raises(ValueError, match="latin-1"):  # as requests refused them
        client().request("POST", receiver.url + "/hook", auth=("ops", "пароль"))
    assert receiver.received == []


def test_credentials_in_the_url_become_basic_auth_and_stay_off_the_request_line(receiver):
    seen = raw_target(receiver)
    client().request("GET", f"http://us%40er:p%3Ass@127.0.0.1:{receiver.port}/hook?x=1")
    (got,) = receiver.received
    assert got.headers["Authorization"] == basic("us@er", "p:ss")
    assert seen == ["/hook?x=1"]


def test_an_auth_argument_wins_over_an_authorization_header(receiver):
    client().request("GET", receiver.url + "/hook", auth=("u", "p"), headers={"Authorization": "Bearer other"})
    assert receiver.received[0].headers["Authorization"] == basic("u", "p")


@pytest.mark.parametrize("headers", [{"X-Note": "a\r\nX-Injected: 1"}, {"X-Note": " leading space"}, {"X:Colon": "v"}])
def test_a_header_that_could_split_the_request_is_refused_before_anything_is_sent(receiver, headers):
    with pytest.raises(OutboundError) as refused:
        client().request("GET", receiver.url + "/hook", headers=headers)
    assert refused.value.code == "request_failed"
    assert "Invalid leading whitespace, reserved character(s), or return character(s) in header" in refused.value.message
    assert receiver.received == []


# ---- the URL sent --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "sent"), [
    ("/ünï/a b?q=ü&r=a b", "/%C3%BCn%C3%AF/a%20b?q=%C3%BC&r=a%20b"),
    ("/%7Euser/%41%2F?a=%7e%2b", "/~user/A%2F?a=~%2B"),  # escapes of unreserved characters decoded
    ("/50%/x%zz?q=%", "/50%25/x%25zz?q=%25"),  # a "%" that starts no escape is quoted
    ("/a/../b/./hook#fragment", "/b/hook"),
])
def test_the_path_and_query_are_sent_quoted_as_before(receiver, path, sent):
    seen = raw_target(receiver, unquote(sent.split("?")[0]))  # routed on the path as the server decodes it
    client().request("GET", receiver.url + path)
    assert seen == [sent]


def test_an_international_host_is_sent_in_its_ascii_form_through_the_proxy():
    with Receiver() as proxy:
        seen = raw_target(proxy, "/x")
        client(proxy=ProxySettings(url=proxy.url)).request("GET", "http://bücher.example.invalid/x?q=1#frag")
    assert seen == ["http://xn--bcher-kva.example.invalid/x?q=1"]
    assert proxy.received[0].headers["Host"] == "xn--bcher-kva.example.invalid"


# ---- the response --------------------------------------------------------------------------------------


def test_a_gzip_body_is_decoded_and_the_cap_counts_what_it_decodes_to(receiver):
    receiver.reply("/zipped", body=gzip.compress(b"0" * 5000),
                   headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert client(max_response_bytes=10_000).request("GET", receiver.url + "/zipped").content == b"0" * 5000
    with pytest.raises(OutboundError) as too_large:  # 5000 bytes once decoded, though ~40 on the wire
        client(max_response_bytes=1000).request("GET", receiver.url + "/zipped")
    assert too_large.value.code == "response_too_large"


def test_text_is_read_in_the_charset_the_content_type_implies(receiver):
    receiver.reply("/latin", body=b"caf\xe9", headers={"Content-Type": "text/plain"})  # text/* without charset: ISO-8859-1
    receiver.reply("/json", body="{\"a\": \"é\"}".encode(), headers={"Content-Type": "application/json"})
    receiver.reply("/utf16", body="hé".encode("utf-16"), headers={"Content-Type": "text/plain; charset=utf-16"})
    assert client().request("GET", receiver.url + "/latin").text == "café"
    assert client().request("GET", receiver.url + "/json").text == '{"a": "é"}'
    assert client().request("GET", receiver.url + "/utf16").text == "hé"


def test_a_repeated_response_header_reads_as_one_value_case_insensitively(receiver):
    receiver.reply("/dup", headers=[("Content-Type", "application/json"), ("X-Dup", "1"), ("x-dup", "2"),
                                    ("Retry-After", "7")])
    trace = Trace()
    response = client().request("GET", receiver.url + "/dup", trace=trace)
    assert response.headers.get("X-DUP") == "1, 2" and response.headers.get("retry-after") == "7"
    assert [v for k, v in trace.exchanges[0].response_headers if k.lower() == "x-dup"] == ["1, 2"]


def test_a_read_body_frees_its_connection_for_the_next_call_and_a_cut_one_does_not():
    with KeepAliveReceiver(big_bytes=100_000) as receiver:
        outbound = client(max_response_bytes=1000)
        outbound.request("GET", receiver.url + "/hook")
        outbound.request("GET", receiver.url + "/hook")
        with pytest.raises(OutboundError):
            outbound.request("GET", receiver.url + "/big")
        assert outbound.request("GET", receiver.url + "/hook").status_code == 200
    ports = receiver.client_ports
    assert ports[0] == ports[1] == ports[2] != ports[3]  # kept alive; closed after the cut body


def test_a_redirects_body_is_not_read_against_the_cap(receiver):
    receiver.reply("/final")
    receiver.reply("/moved", status=302, body=b"x" * 200_000, headers={"Location": "/final"})
    response = client(max_response_bytes=1000).request("GET", receiver.url + "/moved")
    assert response.status_code == 200 and [r.path for r in receiver.received] == ["/moved", "/final"]


# ---- https through a tunnelling proxy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def corp_ca():
    return trustme.CA(organization_name="Corp internal CA")


def tls_receiver(ca: trustme.CA) -> Receiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = Receiver(ssl_context=context)
    server.reply("/hook")
    return server


def test_https_goes_through_the_proxys_tunnel_with_the_hosts_tls_and_the_proxy_headers_stay_with_the_proxy(corp_ca):
    with TunnelProxy() as proxy, tls_receiver(corp_ca) as trusted, tls_receiver(trustme.CA()) as stranger:
        outbound = client(
            proxy=ProxySettings(url=f"http://pu:pp@127.0.0.1:{proxy.port}", headers={"X-Proxy-Team": "ops"}),
            hosts=(HostSettings(url=trusted.url, ssl=HostTLSSettings(ca_data=corp_ca.cert_pem.bytes().decode())),),
        )
        response = outbound.request("POST", trusted.url + "/hook", data=b"{}", headers={"Authorization": "Bearer t"})
        assert response.status_code == 200
        with pytest.raises(OutboundError) as refused:  # the trusted host's CA is its own, not the proxy's pools'
            outbound.request("POST", stranger.url + "/hook")
        assert refused.value.code == "tls_error"
    first = proxy.connects[0]
    assert first.target == f"127.0.0.1:{trusted.port}"
    assert first.headers["X-Proxy-Team"] == "ops" and first.headers["Proxy-Authorization"] == basic("pu", "pp")
    (got,) = trusted.received
    assert got.headers["Authorization"] == "Bearer t" and got.body == b"{}"
    assert not {"x-proxy-team", "proxy-authorization"} & {k.lower() for k in got.headers}
    assert stranger.received == []


def test_a_proxy_that_refuses_the_tunnel_is_a_proxy_error():
    with TunnelProxy() as proxy:
        proxy.refuse = True
        with pytest.raises(OutboundError) as refused:
            client(proxy=ProxySettings(url=proxy.url)).request("GET", "https://hooks.example.invalid/hook")
    assert refused.value.code == "proxy_error" and "407" in refused.value.message


def test_a_socks_proxy_without_pysocks_fails_the_call_saying_so():
    try:
        import socks  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - PySocks is not a dependency
        pytest.skip("PySocks is installed")
    with pytest.raises(OutboundError) as refused:
        client(proxy=ProxySettings(url="socks5://127.0.0.1:1080")).request("GET", "http://hooks.example.invalid/hook")
    assert refused.value.code == "request_failed" and "Missing dependencies for SOCKS support" in refused.value.message
