"""A response as the outbound client hands it on (capped, read against the run's deadline, recorded in
the trace), and the translation of urllib3's failures into OutboundError's kinds and words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from urllib3 import BaseHTTPResponse, HTTPHeaderDict
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from app.json_limits import json_too_deep
from app.outbound.deadline import RunDeadline
from app.outbound.policy import OutboundError
from app.outbound.trace import Exchange
from app.outbound.wire import response_charset


@dataclass
class OutboundResponse:
    status_code: int
    reason: str
    headers: HTTPHeaderDict  # case-insensitive; a repeated header's values joined by ", "
    url: str
    _raw: BaseHTTPResponse = field(repr=False)
    _cap: int = field(repr=False)
    _sent_url: str = field(repr=False, default="")  # as sent (prepared): what a failure reading the body names
    _exchange: Exchange | None = field(repr=False, default=None)
    _content: bytes | None = field(repr=False, default=None)
    _deadline: RunDeadline | None = field(repr=False, default=None)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_bytes())
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode(response_charset(self.headers) or "utf-8", errors="replace")

    def json(self):
        """The body as JSON; ValueError when it is not JSON or nests deeper than anything may walk."""
        too_deep = json_too_deep(self.content)
        if too_deep:
            raise ValueError(too_deep)
        return json.loads(self.content)

    def iter_bytes(self, chunk_size: int = 8192) -> Iterator[bytes]:
        """Yield the body as it arrives, failing once it passes the response cap."""
        received = 0
        kept: list[bytes] = []
        finished = False
        try:
            for chunk in self._pieces(chunk_size):
                received += len(chunk)
                if received > self._cap:
                    raise OutboundError(
                        "response_too_large",
                        f"response body exceeds the maximum size of {self._cap} bytes "
                        "([outbound] max_response_bytes)",
                    )
                kept.append(chunk)
                yield chunk
            finished = True
        except Urllib3Error as exc:
            raise _translate_body_error(exc, self._sent_url, self._deadline) from exc
        finally:
            if not finished:  # a body cut short leaves its connection unusable: closed
                self._raw.close()
            self._raw.release_conn()  # read to the end, the connection goes back to the pool for the next run
            if self._exchange is not None:
                self._exchange.record_body(b"".join(kept), received)

    def _pieces(self, chunk_size: int) -> Iterator[bytes]:
        """The body as it arrives, checked against the run's deadline before each piece."""
        if self._deadline is None:
            yield from self._raw.stream(chunk_size, decode_content=True)
            return
        body = self._raw
        while True:
            self._deadline.check()
            # read1, not read: read(n) waits for n bytes, and a drip of one byte a second would never be cut.
            piece = body.read1(chunk_size, decode_content=True)
            if not piece:
                break
            yield piece


def _translate_body_error(exc: Urllib3Error, url: str, deadline: RunDeadline | None) -> OutboundError:
    if deadline is not None and deadline.passed():
        return deadline.error()
    if isinstance(exc, ReadTimeoutError):
        return OutboundError("read_timeout", f"{_origin(url)} did not answer in time (read timeout)")
    return OutboundError("request_failed", f"request to {_origin(url)} failed: {_root_cause(exc)}")


def _kind(exc: BaseException) -> str:
    """What a failure to get a response was, sorted as requests sorted urllib3's exceptions when the
    client was built on it (the kinds and words below are that sorting's)."""
    if isinstance(exc, MaxRetryError):  # no retries: it wraps the one failure
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            return "connect_timeout"
        if isinstance(reason, ResponseError):
            return "other"
        return _kind(reason) if isinstance(reason, ProxyError | SSLError) else "connection"
    if isinstance(exc, ProtocolError | OSError | ClosedPoolError):
        return "connection"
    if isinstance(exc, ProxyError):
        return "proxy"
    if isinstance(exc, SSLError):
        return "tls"
    if isinstance(exc, ReadTimeoutError):
        return "read_timeout"
    return "other"


def translate(exc: BaseException, url: str) -> OutboundError:
    """A failure to send a request or get its response (a urllib3 exception, or a request the client
    refused to send: a bad header, a proxy setting it cannot use) as OutboundError."""
    kind = _kind(exc)
    if kind == "connect_timeout":
        return OutboundError("connect_timeout", f"connection to {_origin(url)} timed out")
    if kind == "read_timeout" or "Read timed out" in str(exc):
        return OutboundError("read_timeout", f"{_origin(url)} did not answer in time (read timeout)")
    if kind == "tls":
        return OutboundError("tls_error", f"TLS handshake with {_origin(url)} failed: {_root_cause(exc)}")
    if kind == "proxy":
        return OutboundError("proxy_error", f"proxy refused or failed the request: {_root_cause(exc)}")
    if kind == "connection":
        cause = _root_cause(exc)
        if "refused" in cause.lower():
            return OutboundError("connection_refused", f"connection to {_origin(url)} was refused")
        return OutboundError("connection_failed", f"could not connect to {_origin(url)}: {cause}")
    return OutboundError("request_failed", f"request to {_origin(url)} failed: {_root_cause(exc)}")


def translate_send_error(exc: BaseException, url: str, deadline: RunDeadline | None) -> OutboundError:
    """A timeout cut short by the run's deadline is the deadline's error, not the connect or read timeout's."""
    if deadline is not None and deadline.passed() and _kind(exc) in ("connect_timeout", "read_timeout"):
        return deadline.error()
    return translate(exc, url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    if exc.args and hasattr(exc.args[-1], "reason") and exc.args[-1].reason is not None:
        exc = exc.args[-1].reason
    text = str(exc)
    if text in ("", "None"):
        text = f"{type(exc).__name__} (no reason given)"
    return text
