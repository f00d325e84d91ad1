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
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from tests.fakes import service

TOKEN = "d3-webhook-key-5Rk8Vw2"
KEY_HEADER = "d3key"
TENANT = "elasticsearch"
SITE = "Security Operations"
INTAKE_PATH = f"/{TENANT}/VSOC/api/Data/Kibana/{SITE}/CreateEvents"


@dataclass
class Received(service.Received):
    @property
    def source(self) -> dict:
        """The event D3 reads: the one hit's `_source`."""
        return self.json["hits"]["hits"]["_source"]


class FakeD3(service.FakeService):
    received_class = Received
    json_type = "application/json; charset=utf-8"
    text_type = "text/html; charset=utf-8"  # ASP.NET's error pages

    def __init__(self, token: str = TOKEN, **kw):
        self.token = token
        self._refids = itertools.count(1001)
        super().__init__(**kw)

    @property
    def intake_url(self) -> str:
        return self.url + INTAKE_PATH.replace(" ", "%20")

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "1") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"Message": "Rate limit exceeded. Try again later."}, headers)

    def outage(self) -> None:
        self.answer_next(500, {"Message": "An error has occurred."})

    # ---- the service

    def answer(self, request: Request) -> Response:
        if request.path != INTAKE_PATH or request.method != "POST":
            return _json(404, {"Message": f"No HTTP resource was found that matches the request URI '{request.url}'."})
        if request.headers.get(KEY_HEADER, "") != self.token:
            return _json(401, {"Message": "Authorization has been denied for this request."})
        try:
            json.loads(request.get_data())
        except ValueError:
            return _json(400, {"Message": "The request is invalid."})
        return _json(200, {"refid": f"EVT-{next(self._refids)}"})


def _json(status: int, body: dict) -> Response:
    return service.json_response(status, body, "application/json; charset=utf-8")
