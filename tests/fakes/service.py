"""The base of a fake JSON service: every request recorded, scripted answers for the next requests,
and the service's own rules in `answer(request)`. Real HTTP on 127.0.0.1 (FakeServer)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer


@dataclass
class Received:
    method: str
    path: str
    headers: Headers  # names match in any case, as HTTP's do
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


def status_line(status: int) -> str:
    # Real servers send the reason in title case ("Not Found"), which Kibana shows as statusText.
    return f"{status} {HTTPStatus(status).phrase}"


def json_response(status: int, body: dict, content_type: str = "application/json", **headers) -> Response:
    return Response(json.dumps(body), status_line(status), headers=headers, content_type=content_type)


class FakeService(FakeServer):
    """Subclass and write `answer(request)`; `received` lists what came in, oldest first."""

    received_class = Received
    json_type = "application/json"
    text_type = "text/plain; charset=utf-8"

    def __init__(self, **kw):
        self.received: list[Received] = []
        self._next: deque[Response] = deque()
        self._lock = threading.Lock()
        super().__init__(self._app, **kw)

    def answer_next(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        """Answer the next request with this (a dict as JSON), before the service's own rules."""
        content_type = self.json_type if isinstance(body, dict) else self.text_type
        text = json.dumps(body) if isinstance(body, dict) else body
        self._next.append(Response(text, status_line(status), headers=headers or {}, content_type=content_type))

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.received.append(
                self.received_class(request.method, request.path, Headers(request.headers), request.get_data())
            )
            scripted = self._next.popleft() if self._next else None
        return (scripted or self.answer(request))(environ, start_response)
