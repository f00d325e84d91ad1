"""A request as the outbound client puts it on the wire, and the charset a response's text is read in.

Byte for byte what requests 2.34 sent when the client was built on it, so that neither the allowed-hosts
check (policy.py checks the URL prepared here, and the client sends that very URL) nor any service sees
a difference: the URL parsed by urllib3, its host IDNA-encoded and the whole re-quoted; requests' default
headers, each header checked; Content-Length; Basic credentials in Latin-1, from `auth` or else from the
URL's user name and password. Refusals carry requests' words.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlparse, urlsplit, urlunparse

from urllib3 import HTTPHeaderDict
from urllib3.exceptions import LocationParseError
from urllib3.util import make_headers, parse_url

# requests' defaults, as services have always seen them: kept, so no allow-list or log filter on the far
# side notices the change of HTTP stack.
DEFAULT_HEADERS = (
    ("User-Agent", "python-requests/2.34.2"),
    ("Accept-Encoding", ", ".join(make_headers(accept_encoding=True)["accept-encoding"].split(","))),
    ("Accept", "*/*"),
    ("Connection", "keep-alive"),
)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEADER_NAME = {str: re.compile(r"^[^:\s][^:\r\n]*\Z"), bytes: re.compile(rb"^[^:\s][^:\r\n]*\Z")}
_HEADER_VALUE = {str: re.compile(r"^\S[^\r\n]*\Z|^\Z"), bytes: re.compile(rb"^\S[^\r\n]*\Z|^\Z")}


class InvalidURL(ValueError):
    """A URL the client cannot send (policy.py words it as "unable to parse url …")."""


class InvalidHeader(ValueError):
    """A header the client refuses to send (a line break in a value, a name with a colon …)."""


@functools.lru_cache(maxsize=4096)
def prepare_url(url: str) -> str:
    """The URL as it is sent: a pure function of `url`, asked for every call (its answers are kept)."""
    url = str(url).lstrip()
    if ":" in url and not url.lower().startswith("http"):
        return url  # not http(s): left as it is, and refused by the URL check
    try:
        scheme, auth, host, port, path, query, fragment = parse_url(url)
    except LocationParseError as exc:
        raise InvalidURL(*exc.args) from exc
    if not scheme:
        raise InvalidURL(f"Invalid URL {url!r}: No scheme supplied. Perhaps you meant https://{url}?")
    if not host:
        raise InvalidURL(f"Invalid URL {url!r}: No host supplied")
    if not host.isascii():
        try:
            import idna

            host = idna.encode(host, uts46=True).decode("utf-8")
        except UnicodeError:  # idna.IDNAError is one
            raise InvalidURL("URL has an invalid label.") from None
    elif host.startswith(("*", ".")):
        raise InvalidURL("URL has an invalid label.")
    netloc = f"{auth}@{host}" if auth else host
    if port:
        netloc += f":{port}"
    return _requote(urlunparse((scheme, netloc, path or "/", "", query, fragment)))


def _requote(uri: str) -> str:
    """Percent-escapes of unreserved characters decoded, then every illegal character quoted."""
    try:
        return quote(_unquote_unreserved(uri), safe="!#$%&'()*+,/:;=?@[]~")
    except InvalidURL:  # a "%" that starts no escape: quote it too
        return quote(uri, safe="!#$&'()*+,/:;=?@[]~")


def _unquote_unreserved(uri: str) -> str:
    parts = uri.split("%")
    for i in range(1, len(parts)):
        h = parts[i][0:2]
        if len(h) == 2 and h.isalnum():
            try:
                c = chr(int(h, 16))
            except ValueError:
                raise InvalidURL(f"Invalid percent-escape sequence: '{h}'") from None
            parts[i] = c + parts[i][2:] if c in _UNRESERVED else f"%{parts[i]}"
        else:
            parts[i] = f"%{parts[i]}"
    return "".join(parts)


def request_target(prepared_url: str, absolute: bool) -> str:
    """What follows the method on the request line: path and query, or (to an http proxy forwarding a
    plain-http request) the whole URL; never the fragment, nor the user name and password."""
    if absolute:
        scheme, netloc, path, params, query, _ = urlparse(prepared_url)
        return urlunparse((scheme, netloc.rsplit("@", 1)[-1], path, params, query, ""))
    parts = urlsplit(prepared_url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def credentials_in_url(url: str) -> tuple[str, str]:
    """The URL's user name and password, percent-decoded; ("", "") unless it holds both."""
    parts = urlparse(url)
    if parts.username is None or parts.password is None:
        return "", ""
    return unquote(parts.username), unquote(parts.password)


def basic_authorization(user: str | bytes, password: str | bytes) -> str:
    """A Basic Authorization value; str in Latin-1 (UnicodeEncodeError beyond it), as requests encodes."""
    user = user if isinstance(user, bytes | str) else str(user)
    password = password if isinstance(password, bytes | str) else str(password)
    pair = b":".join(v.encode("latin1") if isinstance(v, str) else v for v in (user, password))
    return "Basic " + base64.b64encode(pair).strip().decode("ascii")


def _checked(name, value) -> None:
    for part, patterns, kind in ((name, _HEADER_NAME, "name"), (value, _HEADER_VALUE, "value")):
        pattern = patterns[str] if isinstance(part, str) else patterns[bytes] if isinstance(part, bytes) else None
        if pattern is None:
            raise InvalidHeader(
                f"Header part ({part!r}) from {(name, value)} must be of type str or bytes, not {type(part)}"
            )
        if not pattern.match(part):
            raise InvalidHeader(
                f"Invalid leading whitespace, reserved character(s), or return character(s) in header {kind}: {part!r}"
            )


def request_headers(
    method: str, prepared_url: str, headers: Mapping, body: bytes | None, auth: tuple[str, str] | None
) -> HTTPHeaderDict:
    """The headers sent (but Host, and the proxy's): the defaults, then the caller's (a None value drops
    one), Content-Length, and Authorization from `auth` or else from the URL's credentials."""
    merged = {name.lower(): (name, value) for name, value in DEFAULT_HEADERS}
    for name, value in headers.items():
        merged[name.lower()] = (name, value)
    sent = HTTPHeaderDict()
    for name, value in merged.values():
        if value is not None:
            _checked(name, value)
            sent[name] = value
    if body:
        sent["Content-Length"] = str(len(body))
    elif method not in ("GET", "HEAD") and sent.get("Content-Length") is None:
        sent["Content-Length"] = "0"
    if auth is None:
        in_url = credentials_in_url(prepared_url)
        auth = in_url if any(in_url) else None
    if auth:
        sent["Authorization"] = basic_authorization(*auth)
    return sent


def response_charset(headers: Mapping) -> str | None:
    """The charset a response's text is in: the Content-Type's, else ISO-8859-1 for text/*, UTF-8 for JSON."""
    content_type = headers.get("content-type")
    if not content_type:
        return None
    kind, *params = content_type.split(";")
    charset = None
    for param in params:
        param = param.strip()
        if param and (at := param.find("=")) != -1 and param[:at].strip("\"' ").lower() == "charset":
            charset = param[at + 1:].strip("\"' ")
    if charset is not None:
        return charset.strip("'\"")
    if "text" in kind.strip():
        return "ISO-8859-1"
    if "application/json" in kind.strip():
        return "utf-8"
    return None


def with_scheme(url: str, scheme: str = "http") -> str:
    """`url` with `scheme` put in front if it has none (how a proxy setting's bare "host:port" is read)."""
    parsed = parse_url(url)
    netloc, path = parsed.netloc, parsed.path
    if not netloc:
        netloc, path = path, netloc
    if parsed.auth:
        netloc = f"{parsed.auth}@{netloc}"
    return urlunparse((parsed.scheme or scheme, netloc, path or "", "", parsed.query, parsed.fragment))
