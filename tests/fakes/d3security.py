"""A fake D3 SOAR event intake: the webhook request URL D3 generates for its Kibana integration,
POST /<tenant>/VSOC/api/Data/Kibana/<site>/CreateEvents, authenticated by the `d3key` header.

It answers 200 with the new event's `refid` (what Kibana's connector requires), and refuses as D3's ASP.NET
Web API does: 401 for a wrong or missing key, 404 for any other path, each with its `{"Message": …}` body.
It can be told to throttle (429 with Retry-After; D3 allows 50 requests a second), fail (500), or answer
the next request with anything at all. Everything received is kept in `received`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer

TOKEN = "d3-webhook-key-5Rk8Vw2"
KEY_HEADER = "d3key"
TENANT = "elasticsearch"
SITE = "Security Operations"
INTAKE_PATH = f"/{TENANT}/VSOC/api/Data/Kibana/{SITE}/CreateEvents"


@dataclass
class Received:
    method: str
    path: str
    headers: Headers  # names match in any case, as HTTP's do
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def source(self) -> dict:
        """The event D3 reads: the one hit's `_source`."""
        return self.json["hits"]["hits"]["_source"]


class FakeD3(FakeServer):
    def __init__(self, token: str = TOKEN, **kw):
        self.token = token
        self.received: list[Received] = []
        self._next: deque[Response] = deque()
        self._refids = itertools.count(1001)
        self._lock = threading.Lock()
        super().__init__(self._app, **kw)

    @property
    def intake_url(self) -> str:
        return self.url + INTAKE_PATH.replace(" ", "%20")

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "1") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"Message": "Rate limit exceeded. Try again later."}, headers)

    def outage(self) -> None:
        self.answer_next(500, {"Message": "An error has occurred."})

    def answer_next(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        text = json.dumps(body) if isinstance(body, dict) else body
        content_type = "application/json; charset=utf-8" if isinstance(body, dict) else "text/html; charset=utf-8"
        self._next.append(Response(text, _status_line(status), headers=headers or {}, content_type=content_type))

    # ---- the service

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.received.append(Received(request.method, request.path, Headers(request.headers), request.get_data()))
            scripted = self._next.popleft() if self._next else None
            refid = f"EVT-{next(self._refids)}"
        response = scripted or self._answer(request, refid)
        return response(environ, start_response)

    def _answer(self, request: Request, refid: str) -> Response:
        if request.path != INTAKE_PATH or request.method != "POST":
            return _json(404, {"Message": f"No HTTP resource was found that matches the request URI '{request.url}'."})
        if request.headers.get(KEY_HEADER, "") != self.token:
            return _json(401, {"Message": "Authorization has been denied for this request."})
        try:
            json.loads(request.get_data())
        except ValueError:
            return _json(400, {"Message": "The request is invalid."})
        return _json(200, {"refid": refid})


def _status_line(status: int) -> str:
    # Real servers send the reason in title case ("Not Found"), which Kibana shows as statusText.
    return f"{status} {HTTPStatus(status).phrase}"


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), _status_line(status), content_type="application/json; charset=utf-8")
