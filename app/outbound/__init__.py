"""The one outbound HTTP client (DESIGN rule 3).

Every call any connector type makes goes through `OutboundClient.request`, which enforces the
allowed-hosts list and the denied networks (policy.py; on every redirect too), connect/read timeouts,
the response-size cap, the TLS verification mode with custom CA files, and the proxy settings, drops
credentials when a redirect leaves the origin, and records what was sent in the execution's trace
with secret values masked.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import threading
import time
import warnings
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import certifi
from urllib3 import BaseHTTPResponse, HTTPHeaderDict, PoolManager, ProxyManager
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util import Retry, Timeout, parse_url
from urllib3.util.ssl_ import create_urllib3_context

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
from app.outbound.wire import (
    InvalidHeader,
    basic_authorization,
    credentials_in_url,
    prepare_url,
    request_headers,
    request_target,
    with_scheme,
)
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


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# urllib3 never retries (a retried POST may run twice at the service) nor follows a redirect (`request`
# follows them, checking each hop): a failure comes back as one exception, MaxRetryError wrapping it when
# it happened before anything was sent (as requests asked, so response.py's sorting of them holds).
NO_RETRIES = Retry(0, read=False)
POOLS, POOL_SIZE = 10, 16  # pools kept per manager (least recently used first out); connections per pool
# A redirect's body is read (so its connection is reused) only when it says it is this short; else the
# connection is closed instead: a redirect's body is never shown, and may be of any size.
REDIRECT_BODY_DRAINED = 64 * 1024


class ProxyUnusable(Exception):
    """[outbound.proxy] url names a proxy the client cannot use (no host; SOCKS without PySocks)."""


def _is_redirect(raw: BaseHTTPResponse) -> bool:
    return raw.status in REDIRECT_STATUSES and "location" in raw.headers


def _discard(raw: BaseHTTPResponse) -> None:
    """Done with a response whose body is not wanted: a short one is read so its connection is reused."""
    if raw.length_remaining is not None and raw.length_remaining <= REDIRECT_BODY_DRAINED:
        raw.drain_conn()
    else:
        raw.close()
    raw.release_conn()


def _socks_manager_class():
    """urllib3's SOCKS manager, or None without PySocks (an optional dependency, not installed by default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3 warns before it raises ImportError
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            return None
    return SOCKSProxyManager


@functools.cache
def _public_context() -> ssl.SSLContext:
    """A connection's TLS when no setting names any: the public CAs (certifi's), the name checked."""
    context = create_urllib3_context()
    context.load_verify_locations(certifi.where())
    return context


def _tls_pool_kwargs(choice: TLSChoice | None) -> dict:
    """urllib3 pool arguments for a connection's TLS; pools are keyed by them, so hosts never share one."""
    if choice is None:
        return {}
    kwargs = {"ssl_context": choice.context or _public_context(), "cert_reqs": "CERT_REQUIRED" if choice.verify else "CERT_NONE"}
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
    """Thread-safe; one per app. `request` raises OutboundError for anything without a response.

    No cookie is ever kept: one client serves every connector of every team, and a cookie one service
    sets must never be sent on another connector's request (only a Cookie header a caller names is sent).
    """

    def __init__(self, settings: OutboundSettings):
        self.settings = settings
        self._denied = parse_networks(settings.denied_networks)
        self.tls = TLSContexts(settings)
        self._pool_classes = checked_pool_classes(self._denied)  # connections that check [outbound] denied_networks
        self._direct = PoolManager(num_pools=POOLS, maxsize=POOL_SIZE)
        self._direct.pool_classes_by_scheme = self._pool_classes
        proxy = settings.proxy
        self._proxy_tls = _proxy_tls_kwargs(proxy, settings.tls.ca_files) if proxy.url else {}  # once: parsing CAs is slow
        self._proxy_manager: PoolManager | None = None  # made on first use: a bad proxy setting fails the calls, not the app
        self._proxy_lock = threading.Lock()

    def _proxy_url(self, host: str) -> str | None:
        proxy = self.settings.proxy
        if not proxy.url:
            return None
        if host_allowed(host, proxy.bypass_hosts) and proxy.bypass_hosts:
            return None
        if proxy.only_hosts and not host_allowed(host, proxy.only_hosts):
            return None
        return proxy.url

    def _proxied(self) -> PoolManager:
        """The manager of connections through [outbound.proxy] url, speaking to the proxy with its headers
        and its own verification mode."""
        with self._proxy_lock:
            if self._proxy_manager is None:
                self._proxy_manager = self._new_proxy_manager(with_scheme(self.settings.proxy.url))
            return self._proxy_manager

    def _new_proxy_manager(self, proxy: str) -> PoolManager:
        if not parse_url(proxy).host:
            raise ProxyUnusable("Please check proxy URL. It is malformed and could be missing the host.")
        if proxy.lower().startswith("socks"):  # SOCKS pools are their own classes; the proxy resolves
            socks = _socks_manager_class()
            if socks is None:
                raise ProxyUnusable("Missing dependencies for SOCKS support.")
            user, password = credentials_in_url(proxy)
            return socks(proxy, username=user, password=password, num_pools=POOLS, maxsize=POOL_SIZE)
        user, password = credentials_in_url(proxy)
        headers = {"Proxy-Authorization": basic_authorization(user, password)} if user else {}
        manager = ProxyManager(proxy, proxy_headers={**headers, **self.settings.proxy.headers}, num_pools=POOLS,
                               maxsize=POOL_SIZE, **self._proxy_tls)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager

    def tls_for(self, url: str, host: str, override: TLSOverride | None = None) -> TLSChoice | None:
        """The TLS a request to `url` gets (None for plain http), `host` being the one `check_url` approved:
        [outbound.tls], then the host's [[outbound.hosts]] entry, then the connector's own."""
        scheme, _, port = _endpoint(url)
        return self.tls.choose(scheme, host, port, override) if scheme == "https" else None

    def _send(self, method, url, host, headers, body, auth, timeout, tls: TLSChoice | None
              ) -> tuple[BaseHTTPResponse, HTTPHeaderDict, str]:
        """Send exactly the URL whose host `check_url` approved (`host`), with its TLS; the response, the
        headers sent (but Host and the proxy's) and the URL as sent."""
        prepared = prepare_url(url)
        if check_url(prepared, self.settings.allowed_hosts) != host:  # pragma: no cover - belt and braces
            raise OutboundError("invalid_url", f'unable to parse url "{url}": the host is ambiguous')
        sent = request_headers(method, prepared, headers, body, auth)
        parts = urlsplit(prepared)
        scheme = parts.scheme.lower()
        pool_kwargs = _tls_pool_kwargs(tls) if scheme == "https" else {}
        proxy = self._proxy_url(host)
        if proxy:  # the proxy connects and resolves; check what this host resolves the target to, too
            with contextlib.suppress(OSError):  # a name only the proxy can resolve
                resolve_checked(host, 0, self._denied)
            manager = self._proxied()
            pool = manager.connection_from_host(parts.hostname, parts.port, scheme, pool_kwargs=pool_kwargs)
            # An http proxy forwarding a plain-http request is sent the whole URL; a tunnel or SOCKS, the path.
            forwarded = scheme != "https" and isinstance(manager, ProxyManager)
        else:
            pool = self._direct.connection_from_host(parts.hostname, parts.port, scheme, pool_kwargs=pool_kwargs)
            forwarded = False
        raw = pool.urlopen(
            method,
            request_target(prepared, absolute=forwarded),
            body=body,
            headers=sent,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=NO_RETRIES,
            timeout=Timeout(connect=timeout[0], read=timeout[1]),
            chunked=False,
        )
        return raw, sent, prepared

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
        body = (data.encode() if isinstance(data, str) else data) or None  # an empty body is none (Content-Length: 0)
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
                    raw, sent, sent_url = self._send(method, url, host, headers, body, auth, hop_timeout, hop_tls)
            except (Urllib3Error, OSError, InvalidHeader, ProxyUnusable, AddressDenied) as exc:
                err = exc.error if isinstance(exc, AddressDenied) else translate_send_error(exc, url, deadline)
                if exchange:
                    exchange.fail(err.message, (time.perf_counter() - hop_started) * 1000)
                raise err from exc
            if exchange:
                exchange.respond(
                    raw.status,
                    raw.reason,
                    sent,
                    dict(raw.headers.itermerged()),  # a repeated header once, its values joined
                    (time.perf_counter() - hop_started) * 1000,
                )
            location = raw.headers.get("Location")
            if _is_redirect(raw) and location and hop < s.max_redirects:
                _discard(raw)
                next_url = urljoin(url, check_location(location))
                check_url(next_url, s.allowed_hosts)  # before reading it: a refused URL is not compared
                if not _same_origin(url, next_url):
                    auth = None
                    headers = _without_secret_headers(headers, secret_headers)
                if raw.status in (301, 302, 303) and method != "HEAD":
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                url = next_url
                continue
            break
        else:  # pragma: no cover - the loop always breaks on its last hop
            raise AssertionError("unreachable")
        if _is_redirect(raw):
            _discard(raw)
            raise OutboundError("too_many_redirects", f"more than {s.max_redirects} redirects")
        response = OutboundResponse(
            status_code=raw.status,
            reason=raw.reason or "",
            headers=raw.headers,
            url=url,
            _raw=raw,
            _cap=s.max_response_bytes,
            _sent_url=sent_url,
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
