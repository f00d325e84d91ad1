"""Where outbound calls may go: the URL check (`[outbound] allowed_hosts`) and the address check
(`[outbound] denied_networks`), both made on what the HTTP client itself will use.

A URL is checked on the host the client will connect to (the URL as wire.py prepares it, which is the
URL sent), and refused when Python's `urlsplit`
reads it differently (a backslash, a second `@`, an encoded dot, an IPv6 zone id…): a check on one
parser's reading and a connection on another's is how an allow-list is bypassed. Addresses are
checked after resolving, inside the connection, and the socket connects to the address that was
checked, so a second DNS answer cannot slip through; the Host header, TLS SNI and certificate
name checks stay on the name.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

import idna
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.connection import _DEFAULT_TIMEOUT, _set_socket_options, allowed_gai_family

from app.outbound.wire import prepare_url

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundError(Exception):
    """A call that produced no usable HTTP response. `code` is a short machine-readable kind."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = (host or "").lower().rstrip(".")
    return "*" in allowed or any(host == a.lower().rstrip(".") for a in allowed)


# RFC 3986 userinfo: unreserved / pct-encoded / sub-delims / ":" (so no second "@", "\\", "[" …).
_USERINFO = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:]*(%[0-9A-Fa-f]{2}[A-Za-z0-9\-._~!$&'()*+,;=:]*)*")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.I)


def _printable(url: str) -> str:
    """The URL as it can be quoted in a message: control and space characters shown escaped."""
    return "".join(c if (c.isprintable() and not c.isspace()) or c == " " else repr(c)[1:-1] for c in url)


def _refuse(url: str, why: str) -> OutboundError:
    return OutboundError("invalid_url", f'unable to parse url "{_printable(url)}": {why}')


_AUTHORITY_END = re.compile(r"[/?#]")


def _unsafe_character(url: str) -> bool:
    """A control character anywhere, or a space, backslash or invisible character in the scheme and
    authority (where parsers split differently); a path may hold spaces (the client encodes them)."""
    scheme, sep, rest = url.partition("://")
    head = scheme + sep + _AUTHORITY_END.split(rest, maxsplit=1)[0]
    return any(unicodedata.category(c) == "Cc" for c in url) or any(
        c == "\\" or unicodedata.category(c)[0] in "CZ" for c in head
    )


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host.lower()
    return idna.encode(host, uts46=True).decode("ascii").lower()


def client_host(url: str) -> tuple[str, str]:
    """(host the HTTP client will connect to, in ASCII; host as `urlsplit` reads it) for an absolute
    http(s) URL both parsers read alike; raises OutboundError("invalid_url") otherwise."""
    if not isinstance(url, str) or not url:
        raise _refuse(str(url), "must be an http(s) URL with a host")
    return _client_host(url)


# A pure function of the URL, asked three times a call (the form, the call, the prepared request) and
# again on every run of the same connector: answers are kept (refusals raise, and are not).
@functools.lru_cache(maxsize=4096)
def _client_host(url: str) -> tuple[str, str]:
    if _unsafe_character(url):
        raise _refuse(url, "a URL may not hold control characters, nor spaces or backslashes before its path")
    try:
        parts = urlsplit(url)
        split_host = parts.hostname
        split_port = parts.port
    except ValueError as exc:
        raise _refuse(url, str(exc)) from exc
    raw_scheme = url.split(":", 1)[0]
    if parts.scheme not in ("http", "https") or not split_host:
        raise _refuse(url, "must be an http(s) URL with a host")
    if raw_scheme != parts.scheme:
        raise _refuse(url, f'write the scheme in lower case ("{parts.scheme}://")')
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and not _USERINFO.fullmatch(userinfo):
        raise _refuse(url, "the user name or password holds characters that must be percent-encoded")
    if "%" in split_host:
        raise _refuse(url, "the host may not be percent-encoded or carry an IPv6 zone id")
    if ":" in split_host:
        try:
            ipaddress.IPv6Address(split_host)
        except ValueError as exc:
            raise _refuse(url, f"not an IPv6 address: {exc}") from exc
    elif _NUMERIC_LABEL.fullmatch(split_host.rstrip(".").rsplit(".", 1)[-1]):
        bare = split_host.rstrip(".")
        try:
            canonical = str(ipaddress.IPv4Address(bare)) == bare
        except ValueError:
            canonical = False
        if not canonical:
            raise _refuse(url, "an IPv4 address must be written as four decimal numbers (a.b.c.d)")
    try:
        expected = _ascii_host(split_host)
        client = parse_url(prepare_url(url))
    except (ValueError, idna.IDNAError) as exc:
        raise _refuse(url, str(exc)) from exc
    host = (client.host or "").lower().removeprefix("[").removesuffix("]")
    if client.scheme != parts.scheme or host != expected or client.port != split_port:
        raise _refuse(url, f'the host is ambiguous ("{split_host}" or "{host}")')
    return host, split_host


def check_location(location: str) -> str:
    """A redirect's Location, refused if it holds a backslash or a control character anywhere:
    browsers read a backslash as a slash (so `http:` and two backslashes name another host) where
    urljoin reads a path, so its meaning is ambiguous. The joined URL then goes through check_url."""
    if any(c == "\\" or unicodedata.category(c) == "Cc" for c in location):
        raise OutboundError(
            "invalid_url",
            f'unable to parse url "{_printable(location)}" (a redirect\'s Location): '
            "it holds a backslash or a control character",
        )
    return location


def check_url(url: str, allowed: tuple[str, ...]) -> str:
    """Return the host the HTTP client will connect to, if the URL is an unambiguous absolute
    http(s) URL to an allowed host."""
    host, written = client_host(url)
    if not (host_allowed(host, allowed) or host_allowed(written, allowed)):
        raise OutboundError(
            "host_not_allowed",
            f'target hostname "{host}" is not in the allowed hosts list ([outbound] allowed_hosts)',
        )
    return host


# ---- [outbound] denied_networks: checked on the resolved address of every connection --------------


class AddressDenied(Exception):
    """Not an OSError on purpose: urllib3 lets it through untouched, with no retry."""

    def __init__(self, host: str, address: str, network: Network):
        super().__init__(host, address, network)
        self.error = OutboundError(
            "address_denied",
            f'connection to "{host}" refused: its address {address} is in {network}, '
            "a denied network ([outbound] denied_networks)",
        )


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def denied_network(address: str, networks: tuple[Network, ...]) -> Network | None:
    """The denied network `address` (as getaddrinfo gives it) falls in, IPv4-mapped IPv6 unwrapped."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return next((n for n in networks for c in candidates if c.version == n.version and c in n), None)


def resolve_checked(host: str, port: int, networks: tuple[Network, ...]) -> list[tuple]:
    """getaddrinfo's answers for host:port, refused whole (AddressDenied) if any is denied: a name
    that resolves into a denied network is not trusted with its other answers either."""
    host = host.strip("[]")
    answers = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    for *_, sockaddr in answers:
        if (network := denied_network(sockaddr[0], networks)) is not None:
            raise AddressDenied(host, sockaddr[0], network)
    return answers


class _CheckedConnect:
    """urllib3's `_new_conn` made in two steps: resolve once and check, then connect to the very
    address checked. `self.host` stays the name, so Host, SNI and certificate checks use the name."""

    denied_networks: tuple[Network, ...] = ()

    def _new_conn(self) -> socket.socket:
        try:
            answers = resolve_checked(self._dns_host, self.port, self.denied_networks)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in answers:
            sock = None
            try:
                sock = socket.socket(family, socktype, proto)
                _set_socket_options(sock, self.socket_options)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                if sock is not None:
                    sock.close()
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from error
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


def checked_pool_classes(networks: tuple[Network, ...]) -> dict[str, type]:
    """Connection pools for a urllib3 PoolManager whose connections check `networks`."""
    attrs = {"denied_networks": networks}
    http_conn = type("CheckedHTTPConnection", (_CheckedConnect, HTTPConnection), attrs)
    https_conn = type("CheckedHTTPSConnection", (_CheckedConnect, HTTPSConnection), attrs)
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
