"""A fake webhook receiver: records every request, answers as told, and can misbehave on purpose."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b'{"ok": true}'
    headers: dict = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0  # seconds before answering (read-timeout tests)
    on_request: Callable[[Request], None] | None = None  # a test's look at the world while the call is open


class Receiver(FakeServer):
    """`routes` maps a path to a Reply; unknown paths answer 404 with a JSON message."""

    def __init__(self, **kw):
        self.received: list[Received] = []
        self.routes: dict[str, Reply] = {}
        self._lock = threading.Lock()
        super().__init__(self._app, **kw)

    def reply(self, path: str, **kw) -> str:
        self.routes[path] = Reply(**kw)
        return self.url + path

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.received.append(Received(request.method, request.path, dict(request.headers), request.get_data()))
        reply = self.routes.get(request.path)
        if reply is None:
            response = Response('{"message": "no such hook"}', 404, content_type="application/json")
        else:
            if reply.on_request is not None:
                reply.on_request(request)
            if reply.delay:
                time.sleep(reply.delay)
            response = Response(reply.body, reply.status, headers=reply.headers)
        return response(environ, start_response)
