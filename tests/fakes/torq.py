"""A fake Torq webhook integration (hooks.torq.io): POST /v1/webhooks/<integration id>, authenticated by the
integration's authentication header, here `X-Torq-Token` as Kibana's connector sends it.

It accepts events with 200 and an event id (Torq's docs do not show the webhook's answer; Kibana reads only
the status, and an error body's `message`), refuses a wrong or missing token (401), an
unknown integration (404) and methods a webhook does not take (405), and can be told to throttle (429
with Retry-After) or fail (503) for the next requests. Everything received is kept in `received`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer

INTEGRATION_ID = "af6aab8d-0b1e-4c6f-9d1a-74259a93b18f"
TOKEN = "torq-hook-secret-7Qx2L9"
TOKEN_HEADER = "X-Torq-Token"
# What a Torq webhook answers besides POST (the docs list GET and OPTIONS as accepted too).
ACCEPTED_METHODS = ("POST", "GET", "OPTIONS")


@dataclass
class Received:
    method: str
    path: str
    headers: Headers  # names match in any case, as HTTP's do
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class FakeTorq(FakeServer):
    def __init__(self, token: str = TOKEN, **kw):
        self.token = token
        self.received: list[Received] = []
        self._next: deque[Response] = deque()
        self._lock = threading.Lock()
        super().__init__(self._app, **kw)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/v1/webhooks/{INTEGRATION_ID}"

    def hook_url(self, integration_id: str) -> str:
        return f"{self.url}/v1/webhooks/{integration_id}"

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "120") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._queue(429, {"message": "rate limit exceeded, please retry later"}, headers)

    def outage(self, status: int = 503) -> None:
        self._queue(status, {"message": "service temporarily unavailable"})

    def answer_next(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        self._queue(status, body, headers or {})

    def _queue(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        text = json.dumps(body) if isinstance(body, dict) else body
        content_type = "application/json" if isinstance(body, dict) else "text/plain; charset=utf-8"
        self._next.append(Response(text, _status_line(status), headers=headers or {}, content_type=content_type))

    # ---- the service

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.received.append(Received(request.method, request.path, Headers(request.headers), request.get_data()))
            scripted = self._next.popleft() if self._next else None
        response = scripted or self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        prefix, _, integration_id = request.path.rpartition("/")
        if prefix != "/v1/webhooks" or integration_id != INTEGRATION_ID:
            return _json(404, {"message": "webhook not found"})
        if request.method not in ACCEPTED_METHODS:
            return _json(405, {"message": "method not allowed"}, Allow=", ".join(ACCEPTED_METHODS))
        if request.headers.get(TOKEN_HEADER, "") != self.token:
            return _json(401, {"message": "invalid webhook authentication header"})
        if request.method == "POST" and "json" in (request.content_type or ""):
            try:
                json.loads(request.get_data())
            except ValueError:
                return _json(400, {"message": "invalid JSON body"})
        return _json(200, {"event_id": str(uuid.uuid4())})


def _status_line(status: int) -> str:
    # Real servers send the reason in title case ("Unauthorized"), which Kibana shows as statusText.
    return f"{status} {HTTPStatus(status).phrase}"


def _json(status: int, body: dict, **headers) -> Response:
    return Response(json.dumps(body), _status_line(status), headers=headers, content_type="application/json")
