"""The one outbound HTTP client (DESIGN rule 3).

Every call any connector type makes goes through `OutboundClient.request`, which enforces the
allowed-hosts list and the denied networks (policy.py; on every redirect too), connect/read timeouts,
the response-size cap, the TLS verification mode with custom CA files, and the proxy settings, drops
credentials when a redirect leaves the origin, and records what was sent in the execution's trace
with secret values masked.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import logging
import time
import warnings
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from app.outbound.deadline import RunDeadline
from app.outbound.policy import (
    AddressDenied,
    OutboundError,
    check_location,
    check_url,
    checked_pool_classes,
    host_allowed,
    parse_networks,
    resolve_checked,
)
from app.outbound.response import OutboundResponse, translate_send_error
from app.outbound.tls import CertificateError, ClientCertificate, TLSChoice, TLSContexts, TLSOverride, build_context
from app.outbound.trace import MASK, Exchange, Trace
from app.settings import OutboundSettings, ProxySettings

# urllib3 logs each request's path and query at DEBUG, where a webhook's token or signature may sit.
logging.getLogger("urllib3").setLevel(logging.INFO)

__all__ = [
    "MASK",
    "BoundHttp",
    "CertificateError",
    "ClientCertificate",
    "Exchange",
    "OutboundClient",
    "OutboundError",
    "OutboundResponse",
    "RunDeadline",
    "TLSOverride",
    "Trace",
    "check_url",
    "host_allowed",
]


# Headers that carry no credential and are kept when a redirect leaves the origin. Every other header
# is treated as secret unless the caller names the secret ones: a custom header is as likely to be a
# key (X-Api-Key, X-Auth-Token, a signature) as not, and a dropped harmless header costs one failed call
# while a forwarded secret one is a leaked credential.
SAFE_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "content-length", "user-agent"}
)
# Dropped on leaving the origin whatever the caller says.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _endpoint(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)


def _same_origin(old_url: str, new_url: str) -> bool:
    """Whether a redirect stays with the same origin (scheme, host, port); an http -> https upgrade of
    the same host on the default ports counts as the same, as requests treats it."""
    old, new = _endpoint(old_url), _endpoint(new_url)
    return old == new or (old[1] == new[1] and old[::2] == ("http", 80) and new[::2] == ("https", 443))


def _without_secret_headers(headers: dict[str, str], secret_headers: Iterable[str] | None) -> dict[str, str]:
    named = None if secret_headers is None else {h.lower() for h in secret_headers}
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in CREDENTIAL_HEADERS
        and (k.lower() in SAFE_HEADERS if named is None else k.lower() not in named)
    }


class _TLSAdapter(HTTPAdapter):
    """Gives each connection the TLS of the host it connects to (tls.py; chosen per hop in `_send`), and
    speaks to the proxy with its headers and its own verification mode."""

    def __init__(self, pool_classes: dict, proxy: ProxySettings, ca_files: tuple[str, ...], **kwargs):
        self._pool_classes = pool_classes  # connections that check [outbound] denied_networks
        self._proxy = proxy
        self._proxy_tls = _proxy_tls_kwargs(proxy, ca_files) if proxy.url else {}  # built once: parsing CAs is slow
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        return host_params, {**pool_kwargs, **_tls_pool_kwargs(getattr(request, TLS_ATTRIBUTE, None))}

    def proxy_headers(self, proxy):
        return {**super().proxy_headers(proxy), **self._proxy.headers}

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **{**kwargs, **self._proxy_tls})
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes; the proxy resolves
            manager.pool_classes_by_scheme = self._pool_classes
        return manager


# ---- per-host TLS (tls.py) on requests' side: the choice rides on the prepared request of each hop ----

TLS_ATTRIBUTE = "switchboard_tls"


def _tls_pool_kwargs(choice: TLSChoice | None) -> dict:
    """urllib3 pool arguments for a connection's TLS; pools are keyed by them, so hosts never share one."""
    if choice is None:
        return {}
    kwargs: dict = {} if choice.context is None else {"ssl_context": choice.context}
    if not choice.check_hostname:
        kwargs["assert_hostname"] = False  # urllib3 matches names itself unless told not to
    return kwargs


def _proxy_tls_kwargs(proxy: ProxySettings, ca_files: tuple[str, ...]) -> dict:
    """How an https proxy's own certificate is checked ([outbound.proxy] verification_mode, with the
    [outbound.tls] CA files). Always a context of our own: without one urllib3 does not verify a proxy
    that forwards plain-http requests."""
    context = build_context(proxy.verification_mode, ca_files)
    return {"proxy_ssl_context": context, **({} if proxy.verification_mode == "full" else {"proxy_assert_hostname": False})}


class OutboundClient:
    """Thread-safe; one per app. `request` raises OutboundError for anything without a response."""

    def __init__(self, settings: OutboundSettings):
        self.settings = settings
        self._session = requests.Session()
        self._session.trust_env = False  # proxies come from our settings only
        # One session serves every connector of every team: a cookie one service sets must never be sent
        # on another connector's request, so the jar keeps none.
        self._session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._denied = parse_networks(settings.denied_networks)
        self.tls = TLSContexts(settings)
        adapter = _TLSAdapter(checked_pool_classes(self._denied), settings.proxy, settings.tls.ca_files,
                              pool_maxsize=16)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def _proxies(self, host: str) -> dict[str, str]:
        proxy = self.settings.proxy
        if not proxy.url:
            return {}
        if host_allowed(host, proxy.bypass_hosts) and proxy.bypass_hosts:
            return {}
        if proxy.only_hosts and not host_allowed(host, proxy.only_hosts):
            return {}
        return {"http": proxy.url, "https": proxy.url}

    def tls_for(self, url: str, host: str, override: TLSOverride | None = None) -> TLSChoice | None:
        """The TLS a request to `url` gets (None for plain http), `host` being the one `check_url` approved:
        [outbound.tls], then the host's [[outbound.hosts]] entry, then the connector's own."""
        scheme, _, port = _endpoint(url)
        return self.tls.choose(scheme, host, port, override) if scheme == "https" else None

    def _send(self, method, url, host, headers, body, auth, timeout, tls: TLSChoice | None) -> requests.Response:
        """Send exactly the prepared request whose host `check_url` approved (`host`), with its TLS."""
        prepared = self._session.prepare_request(
            requests.Request(method, url, headers=headers, data=body, auth=auth)
        )
        setattr(prepared, TLS_ATTRIBUTE, tls)
        if check_url(prepared.url, self.settings.allowed_hosts) != host:  # pragma: no cover - belt and braces
            raise OutboundError("invalid_url", f'unable to parse url "{url}": the host is ambiguous')
        proxies = self._proxies(host)
        if proxies:  # the proxy connects and resolves; check what this host resolves the target to, too
            with contextlib.suppress(OSError):  # a name only the proxy can resolve
                resolve_checked(host, 0, self._denied)
        return self._session.send(
            prepared,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            verify=tls.verify if tls is not None else True,
            proxies=proxies,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        auth: tuple[str, str] | None = None,
        read_timeout: float | None = None,
        stream: bool = False,
        trace: Trace | None = None,
        secret_headers: Iterable[str] | None = None,
        deadline: RunDeadline | None = None,
        tls: TLSOverride | None = None,
    ) -> OutboundResponse:
        """Send one request, following allowed redirects, within the run's `deadline` when given.

        The body is read (and capped) eagerly unless `stream` is true; then use `iter_bytes`.
        A redirect to another origin drops `auth`, Authorization, Proxy-Authorization, Cookie and the
        `secret_headers` (names); without them, every header not in SAFE_HEADERS. `tls` is the connector's
        own TLS (a client certificate, a CA), applied on every hop over the [[outbound.hosts]] settings.
        """
        s = self.settings
        timeout = (s.connect_timeout, max(read_timeout or 0, s.read_timeout))
        method = method.upper()
        body = data.encode() if isinstance(data, str) else data
        headers = dict(headers or {})
        for hop in range(s.max_redirects + 1):
            host = check_url(url, s.allowed_hosts)
            hop_timeout = deadline.cap(timeout) if deadline else timeout
            hop_tls = self.tls_for(url, host, tls)
            exchange = trace.begin(method, url, headers, body, auth=auth) if trace else None
            if exchange and hop_tls:
                exchange.tls = hop_tls.note
            hop_started = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    raw = self._send(method, url, host, headers, body, auth, hop_timeout, hop_tls)
            except (requests.exceptions.RequestException, AddressDenied) as exc:
                err = exc.error if isinstance(exc, AddressDenied) else translate_send_error(exc, url, deadline)
                if exchange:
                    exchange.fail(err.message, (time.perf_counter() - hop_started) * 1000)
                raise err from exc
            if exchange:
                exchange.respond(
                    raw.status_code,
                    raw.reason,
                    raw.request.headers,
                    raw.headers,
                    (time.perf_counter() - hop_started) * 1000,
                )
            location = raw.headers.get("Location")
            if raw.is_redirect and location and hop < s.max_redirects:
                raw.close()
                next_url = urljoin(url, check_location(location))
                check_url(next_url, s.allowed_hosts)  # before reading it: a refused URL is not compared
                if not _same_origin(url, next_url):
                    auth = None
                    headers = _without_secret_headers(headers, secret_headers)
                if raw.status_code in (301, 302, 303) and method != "HEAD":
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                url = next_url
                continue
            break
        else:  # pragma: no cover - the loop always breaks on its last hop
            raise AssertionError("unreachable")
        if raw.is_redirect:
            raw.close()
            raise OutboundError("too_many_redirects", f"more than {s.max_redirects} redirects")
        response = OutboundResponse(
            status_code=raw.status_code,
            reason=raw.reason or "",
            headers=raw.headers,
            url=url,
            _raw=raw,
            _cap=s.max_response_bytes,
            _exchange=exchange,
            _deadline=deadline,
        )
        if not stream:
            response.content  # noqa: B018 - read now so errors surface here
        return response


class BoundHttp:
    """The outbound client bound to one run's trace: every request is recorded without being told.

    This is what a connector type's executor gets as `ctx.http`.
    """

    def __init__(self, client: OutboundClient, trace: Trace, deadline: RunDeadline | None = None):
        self._client = client
        self.trace = trace
        self.deadline = deadline  # the run's; set by the executor once it knows the type and params

    @property
    def settings(self) -> OutboundSettings:
        return self._client.settings

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | str | None = None,
        auth: tuple[str, str] | None = None,
        read_timeout: float | None = None,
        stream: bool = False,
        secret_headers: Iterable[str] | None = None,
        tls: TLSOverride | None = None,
    ) -> OutboundResponse:
        return self._client.request(
            method, url, headers=headers, data=data, auth=auth, read_timeout=read_timeout, stream=stream,
            trace=self.trace, secret_headers=secret_headers, tls=tls, deadline=self.deadline,
        )

    @property
    def tls(self) -> TLSContexts:
        """The client's TLS contexts, per host (for SMTP, which does not go through `request`)."""
        return self._client.tls
