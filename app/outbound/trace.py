"""What an execution sent and got back, for the test pane: never a secret value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "••••••"
PREVIEW_BYTES = 64 * 1024
# Shorter values (a user name like "bob") would mask ordinary text, so they are not searched for;
# credentials themselves only ever travel in headers, whose values the trace never keeps.
MIN_SECRET_LENGTH = 4
_TEXTUAL = re.compile(r"^text/|json|xml|javascript|x-www-form-urlencoded", re.I)
_QUERY_PAIR = re.compile(r"([^&=]+)=([^&]*)")
_SECRET_PARAM = re.compile(r"(token|key|secret|password|passwd|signature|sig|auth|credential)", re.I)


def _secret_url_parts(value: object) -> list[str]:
    """The parts of a secret URL a service may echo on their own: the values of its secret-named query
    parameters (an API key, a signature) and its password. Which path segments are secret only the type knows (`ctx.mask`)."""
    if not isinstance(value, str) or "://" not in value:
        return []
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    found = [unquote_plus(v) for k, v in _QUERY_PAIR.findall(parts.query) if _SECRET_PARAM.search(unquote_plus(k))]
    if parts.password:
        found.append(unquote_plus(parts.password))
    return [p for p in found if p != value]


class Masker:
    """Replaces known secret values, longest first, wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._values: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        """Mask `value` too from now on (a secret a run learns from a service, e.g. a webhook's)."""
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
            self._values = sorted([*self._values, value], key=len, reverse=True)
        for part in _secret_url_parts(value):
            self.add(part)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(f":{parts.password}@", f":{MASK}@")
        query = _QUERY_PAIR.sub(
            lambda m: f"{m[1]}={MASK}" if _SECRET_PARAM.search(unquote_plus(m[1])) else m[0], parts.query
        )
        return self(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def deep(self, value):
        """Mask secret values inside any JSON-like structure."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        return value


@dataclass
class Exchange:
    masker: Masker
    method: str
    url: str
    request_headers: list[str]
    request_body_bytes: int
    status: int | None = None
    reason: str = ""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    duration_ms: float | None = None
    body_preview: str = ""
    body_bytes: int = 0
    body_truncated: bool = False
    error: str | None = None

    def respond(self, status: int, reason: str, sent: Mapping, received: Mapping, duration_ms: float) -> None:
        self.status, self.reason, self.duration_ms = status, reason or "", round(duration_ms, 1)
        self.request_headers = list(sent.keys())
        self.response_headers = [
            (k, MASK if k.lower() in ("set-cookie", "authorization") else self.masker(v)) for k, v in received.items()
        ]

    def fail(self, error: str, duration_ms: float) -> None:
        self.error, self.duration_ms = self.masker(error), round(duration_ms, 1)

    def record_body(self, body: bytes, received: int) -> None:
        self.body_bytes = received
        content_type = next((v for k, v in self.response_headers if k.lower() == "content-type"), "")
        if content_type and not _TEXTUAL.search(content_type):
            self.body_preview = f"({content_type}, {received} bytes, not shown as text)"
            return
        self.body_truncated = len(body) > PREVIEW_BYTES or received > len(body)
        self.body_preview = self.masker(body[:PREVIEW_BYTES].decode("utf-8", errors="replace"))

    def as_dict(self) -> dict:
        """What the test pane shows, masked again with every secret the run learned by its end."""
        mask = self.masker
        return {
            "method": self.method,
            "url": mask.url(self.url),
            "request_headers": self.request_headers,
            "request_body_bytes": self.request_body_bytes,
            "status": self.status,
            "reason": self.reason,
            "response_headers": [(k, mask(v)) for k, v in self.response_headers],
            "duration_ms": self.duration_ms,
            "body_preview": mask(self.body_preview),
            "body_bytes": self.body_bytes,
            "body_truncated": self.body_truncated,
            "error": mask(self.error) if self.error else self.error,
        }


class Trace:
    """The exchanges of one execution, in order."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.masker = Masker(secrets)
        self.exchanges: list[Exchange] = []

    def begin(self, method: str, url: str, headers: Mapping, body: bytes | None, auth=None) -> Exchange:
        names = list(headers.keys()) + (["Authorization"] if auth else [])
        ex = Exchange(self.masker, method, self.masker.url(url), names, len(body or b""))
        self.exchanges.append(ex)
        return ex

    @property
    def request_body_bytes(self) -> int:
        return sum(e.request_body_bytes for e in self.exchanges)
