"""The outbound policy as an attacker meets it: through the API (create, import, _execute) and through
redirects from an allowed service, against real receivers on two loopback addresses.

`allowed_hosts = ["127.0.0.1"]`; every attack aims at a receiver on 127.0.0.2, which must receive nothing.
"""

from __future__ import annotations

import io
import json
import threading

import pytest
from werkzeug.serving import make_server

from app.db import db
from app.models import Connector
from app.settings import OutboundSettings
from tests.api_client import Api, webhook
from tests.conftest import make_app
from tests.fakes.receiver import Receiver
from tests.fakes.server import FakeServer

TARGET = "127.0.0.2"  # the host the attacks aim at


class LoopbackReceiver(Receiver):
    """A Receiver bound to another loopback address (FakeServer binds 127.0.0.1 only)."""

    def __init__(self, address: str):
        self.received, self.routes, self._lock = [], {}, threading.Lock()
        self._server = make_server(address, 0, self._app, threaded=True)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self.url = f"http://{address}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


class Redirector(FakeServer):
    """Answers every request with `status` and this exact Location (werkzeug's Response would quote it)."""

    def __init__(self):
        self.received: list[str] = []
        self.status, self.location = 302, "/"
        super().__init__(self._app)

    def _app(self, environ, start_response):
        self.received.append(environ["PATH_INFO"])
        start_response(f"{self.status} Redirect", [("Location", self.location), ("Content-Length", "0")])
        return [b""]


@pytest.fixture
def allowed():
    with Receiver() as receiver:
        receiver.reply("/hook")
        yield receiver


@pytest.fixture
def target():
    with LoopbackReceiver(TARGET) as receiver:
        receiver.reply("/hook")
        receiver.reply("/")
        yield receiver


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api(app):
    return Api.with_key(app)


def differential_urls(target_port: int, allowed_port: int) -> dict[str, str]:
    """URLs aimed at 127.0.0.2 that one URL parser or another may read as 127.0.0.1 (or as nothing)."""
    t, a = f"{TARGET}:{target_port}", f"127.0.0.1:{allowed_port}"
    return {
        "backslash-userinfo": f"http://{t}\\@{a}/hook",
        "backslash-userinfo-name": f"http://{t}\\@localhost/",
        "backslash-authority": f"http:\\\\{t}/hook",
        "userinfo-is-the-allowed-host": f"http://{a}@{t}/hook",
        "userinfo-with-colon": f"http://{a}:@{t}/hook",
        "two-at-signs": f"http://x@{a}@{t}/hook",
        "fragment-before-at": f"http://{t}#@{a}/hook",
        "query-before-at": f"http://{t}?@{a}/hook",
        "encoded-dots": f"http://127%2E0%2E0%2E2:{target_port}/hook",
        "one-encoded-dot": f"http://127.0.0%2e2:{target_port}/hook",
        "ipv4-mapped-ipv6": f"http://[::ffff:127.0.0.2]:{target_port}/hook",
        "ipv6-zone-id": f"http://[::ffff:7f00:2%25lo]:{target_port}/hook",
        "ipv6-raw-zone-id": f"http://[fe80::1%lo]:{target_port}/hook",
        "decimal-ipv4": f"http://2130706434:{target_port}/hook",
        "hex-ipv4": f"http://0x7f000002:{target_port}/hook",
        "octal-ipv4": f"http://0177.0.0.2:{target_port}/hook",
        "short-ipv4": f"http://127.2:{target_port}/hook",
        "ideographic-dots": f"http://127\u30020\u30020\u30022:{target_port}/hook",
        "mixed-case-scheme": f"HtTp://{t}/hook",
        "mixed-case-scheme-backslash": f"HTTP://{t}\\@{a}/hook",
        "leading-space": f" http://{t}/hook",
        "space-in-userinfo": f"http://{a} @{t}/hook",
        "tab-in-authority": f"http://{t}\t\\@{a}/hook",
        "newline-in-userinfo": f"http://{t}\n\\@{a}/hook",
        "nul-in-host": f"http://{a}%00.{TARGET}:{target_port}/hook",
        "del-in-authority": f"http://{t}\x7f\\@{a}/hook",
        "no-break-space": f"http://{t}\u00a0\\@{a}/hook",
    }


CASES = list(differential_urls(1, 2))


def test_a_plain_url_to_the_allowed_host_still_works(api, allowed, target):
    connector = api.created(webhook(allowed.url + "/hook"))
    result = api.execute(connector["id"], {"body": "{}"}).get_json()
    assert result["status"] == "ok", result
    assert [r.path for r in allowed.received] == ["/hook"], result and target.received == []


def test_spaces_and_backslashes_in_the_path_are_not_the_host_and_still_work(api, allowed, target):
    """D3's intake path has a space ("Security Operations"): only the scheme and authority are strict."""
    allowed.reply("/Security Operations/hook")
    connector = api.created(webhook(allowed.url + "/Security Operations/hook?q=a b\\c"))
    assert api.execute(connector["id"], {"body": "{}"}).get_json()["status"] == "ok"
    assert [r.path for r in allowed.received] == ["/Security Operations/hook"] and target.received == []


@pytest.mark.parametrize("case", CASES)
def test_create_refuses_parser_differential_urls(api, allowed, target, case):
    url = differential_urls(target.port, allowed.port)[case]
    response = api.create(webhook(url))
    assert response.status_code == 400, response.get_json()
    message = response.get_json()["message"]
    assert "unable to parse url" in message or "not in the allowed hosts list" in message, message
    assert target.received == []


@pytest.mark.parametrize("case", CASES)
def test_import_refuses_parser_differential_urls(api, allowed, target, case):
    url = differential_urls(target.port, allowed.port)[case]
    line = {"id": "imported-hook", "type": "action", "references": [],
            "attributes": {"actionTypeId": ".webhook", "name": "hook", "isMissingSecrets": False,
                           "config": {"url": url, "method": "post", "hasAuth": False}, "secrets": {}}}
    response = api.post("/api/saved_objects/_import",
                        data={"file": (io.BytesIO(json.dumps(line).encode()), "x.ndjson")})
    body = response.get_json()
    assert response.status_code == 200 and body["successCount"] == 0, body
    assert api.get("/api/actions/connector/imported-hook").status_code == 404
    assert target.received == []


@pytest.mark.parametrize("case", CASES)
def test_execute_refuses_a_stored_parser_differential_url(app, api, allowed, target, case):
    """A connector stored before the check existed (an old database) is refused when run."""
    url = differential_urls(target.port, allowed.port)[case]
    with app.app_context():
        db.session.add(Connector(id="old-hook", name="old hook", connector_type_id=".webhook",
                                 config={"url": url, "method": "post", "hasAuth": False}))
        db.session.commit()
    result = api.execute("old-hook", {"body": "{}"}).get_json()
    assert result["status"] == "error", result
    assert target.received == []


# A Location header is latin-1 and one line: the cases a service can actually send.
REDIRECT_CASES = [c for c in CASES if all(ch not in c for ch in ("newline", "ideographic", "no-break"))]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("case", REDIRECT_CASES)
def test_a_redirect_to_a_parser_differential_url_is_not_followed(api, allowed, target, case, status):
    with Redirector() as redirector:
        redirector.status = status
        redirector.location = differential_urls(target.port, allowed.port)[case]
        connector = api.created(webhook(redirector.url + "/hook"))
        result = api.execute(connector["id"], {"body": "{}"}).get_json()
    assert result["status"] == "error", result
    assert target.received == [] and allowed.received == []
    assert redirector.received == ["/hook"], result


# ---- #7.6: what a redirect to another origin carries ------------------------------------------

SECRET_KEY = "key-SECRET-redirect-6"
TOKEN = "tok-SECRET-redirect-6"


def secret_webhook(url: str) -> dict:
    return {"name": "secret hook", "connector_type_id": ".webhook",
            "config": {"url": url, "method": "post", "hasAuth": True, "authType": "webhook-authentication-bearer",
                       "headers": {"X-Team": "ops", "Content-Type": "application/json"}},
            "secrets": {"token": TOKEN, "secretHeaders": {"X-Api-Key": SECRET_KEY}}}


@pytest.fixture
def open_api(tmp_path):
    """Both loopback addresses allowed: the redirect itself is legitimate, only its baggage is not."""
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1", TARGET)))
    yield Api.with_key(app)
    with app.app_context():
        db.engine.dispose()


def leaked(received) -> set[str]:
    names = {k.lower() for k in received.headers}
    return names & {"authorization", "x-api-key", "x-team", "cookie", "proxy-authorization"}


@pytest.mark.parametrize("status", [307, 308, 302])
def test_a_redirect_to_another_host_carries_no_secret_header(open_api, target, status):
    with Redirector() as redirector:
        redirector.status, redirector.location = status, target.url + "/hook"
        connector = open_api.created(secret_webhook(redirector.url + "/hook"))
        result = open_api.execute(connector["id"], {"body": '{"text": "hi"}'}).get_json()
    assert result["status"] == "ok", result
    (got,) = target.received
    assert leaked(got) == set(), got.headers
    assert SECRET_KEY not in repr(got) and TOKEN not in repr(got)
    if status != 302:  # 307/308 keep the method and body, and so the body's type
        assert got.method == "POST" and got.body == b'{"text": "hi"}'
        assert got.headers["Content-Type"] == "application/json"


def test_a_redirect_to_another_port_of_the_same_host_carries_no_secret_header(open_api, allowed):
    """Another port may be another service (decision: the origin is scheme, host and port)."""
    with Redirector() as redirector:
        redirector.status, redirector.location = 307, allowed.url + "/hook"
        connector = open_api.created(secret_webhook(redirector.url + "/hook"))
        assert open_api.execute(connector["id"], {"body": "{}"}).get_json()["status"] == "ok"
    (got,) = allowed.received
    assert leaked(got) == set(), got.headers


def test_a_redirect_within_the_origin_keeps_every_header(open_api, allowed):
    allowed.reply("/final")
    allowed.reply("/hook", status=307, body=b"", headers={"Location": "/final"})
    connector = open_api.created(secret_webhook(allowed.url + "/hook"))
    assert open_api.execute(connector["id"], {"body": "{}"}).get_json()["status"] == "ok"
    first, second = allowed.received
    assert second.path == "/final" and leaked(second) == leaked(first) == {"authorization", "x-api-key", "x-team"}
    assert second.headers["X-Api-Key"] == SECRET_KEY and second.headers["Authorization"] == f"Bearer {TOKEN}"


def test_named_secret_headers_are_dropped_and_the_others_kept(target):
    """A caller that says which headers are secret keeps its other headers across origins."""
    from app.outbound import OutboundClient

    with Redirector() as redirector:
        redirector.status, redirector.location = 307, target.url + "/hook"
        OutboundClient(OutboundSettings()).request(
            "POST", redirector.url + "/hook", data=b"{}", auth=("user", "pass-SECRET"), secret_headers={"x-sig"},
            headers={"X-Sig": "sig-SECRET", "X-Team": "ops", "Cookie": "session=SECRET",
                     "Proxy-Authorization": "Basic SECRET"},
        )
    (got,) = target.received
    assert got.headers["X-Team"] == "ops"
    assert {k.lower() for k in got.headers} & {"x-sig", "cookie", "authorization", "proxy-authorization"} == set()


# ---- #7.16: [outbound] denied_networks, checked on the resolved address --------------------------


def denying_api(tmp_path, *networks: str, **settings) -> Api:
    app = make_app(tmp_path, OutboundSettings(denied_networks=networks, **settings))
    return Api.with_key(app)


def assert_denied(result: dict) -> None:
    assert result["status"] == "error", result
    assert "[address_denied]" in result["service_message"], result
    assert "[outbound] denied_networks" in result["service_message"], result


def test_a_denied_address_is_refused_and_an_allowed_one_still_works(tmp_path, allowed, target):
    api = denying_api(tmp_path, "127.0.0.2/32")
    denied = api.created(webhook(target.url + "/hook", name="denied"))
    assert_denied(api.execute(denied["id"], {"body": "{}"}).get_json())
    assert target.received == []
    fine = api.created(webhook(allowed.url + "/hook", name="fine"))
    assert api.execute(fine["id"], {"body": "{}"}).get_json()["status"] == "ok"
    assert [r.path for r in allowed.received] == ["/hook"]


def test_a_redirect_into_a_denied_network_is_not_followed(tmp_path, target):
    api = denying_api(tmp_path, "127.0.0.2/32")
    with Redirector() as redirector:
        redirector.status, redirector.location = 307, target.url + "/hook"
        connector = api.created(webhook(redirector.url + "/hook"))
        assert_denied(api.execute(connector["id"], {"body": "{}"}).get_json())
        assert redirector.received == ["/hook"]
    assert target.received == []


def test_an_ipv4_mapped_ipv6_address_is_checked_as_its_ipv4_address(tmp_path, target):
    api = denying_api(tmp_path, "127.0.0.2/32")
    connector = api.created(webhook(f"http://[::ffff:127.0.0.2]:{target.port}/hook"))
    assert_denied(api.execute(connector["id"], {"body": "{}"}).get_json())
    assert target.received == []


def test_a_host_name_is_checked_on_what_it_resolves_to(tmp_path, allowed):
    """`localhost` resolves to loopback: denying loopback refuses the name, not just the literal."""
    api = denying_api(tmp_path, "127.0.0.0/8", "::1/128")
    connector = api.created(webhook(f"http://localhost:{allowed.port}/hook"))
    result = api.execute(connector["id"], {"body": "{}"}).get_json()
    assert_denied(result)
    assert '"localhost"' in result["service_message"]
    assert allowed.received == []


def test_a_denied_target_is_refused_before_the_proxy_is_asked(tmp_path, target):
    from app.settings import ProxySettings

    with Receiver() as proxy:
        proxy.reply("/hook")
        api = denying_api(tmp_path, "127.0.0.2/32", proxy=ProxySettings(url=proxy.url))
        connector = api.created(webhook(target.url + "/hook"))
        assert_denied(api.execute(connector["id"], {"body": "{}"}).get_json())
        assert proxy.received == []
    assert target.received == []


def test_the_default_denies_link_local_cloud_metadata_addresses():
    """Checked on the policy itself: a test must not send a packet to 169.254.169.254."""
    from app.outbound.policy import denied_network, parse_networks

    default = parse_networks(OutboundSettings().denied_networks)
    for address in ("169.254.169.254", "fe80::a9fe:a9fe", "::ffff:169.254.169.254", "fd00:ec2::254"):
        assert denied_network(address, default) is not None, address
    for address in ("127.0.0.1", "10.0.0.1", "::1", "93.184.216.34"):
        assert denied_network(address, default) is None, address


def test_a_bad_denied_network_is_a_config_error_naming_it(tmp_path):
    from app.settings import ConfigError, load_file_config

    config = tmp_path / "switchboard.toml"
    config.write_text('[outbound]\ndenied_networks = ["169.254.0.0/16", "metadata"]\n')
    with pytest.raises(ConfigError) as err:
        load_file_config(config)
    assert "outbound.denied_networks" in str(err.value) and "'metadata'" in str(err.value)


def test_a_cookie_one_service_sets_is_never_sent_on_another_connectors_request(open_api, allowed):
    setter = allowed.reply("/login", status=200, headers={"Set-Cookie": "session=team-a-secret; Path=/",
                                                          "Content-Type": "application/json"})
    other = allowed.reply("/other", status=200)
    team_a = open_api.created(webhook(setter, name="team a"))["id"]
    team_b = open_api.created(webhook(other, name="team b"))["id"]

    assert open_api.execute(team_a, {"body": "{}"}).get_json()["status"] == "ok"
    assert open_api.execute(team_b, {"body": "{}"}).get_json()["status"] == "ok"

    assert "cookie" not in {k.lower() for k in allowed.received[-1].headers}
