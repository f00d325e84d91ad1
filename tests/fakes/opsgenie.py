"""A fake Opsgenie Alert API (api.opsgenie.com): `POST /v2/alerts` creates an alert and
`POST /v2/alerts/<identifier>/close?identifierType=alias` closes one, both authenticated by
`Authorization: GenieKey <api key>`.

Accepted requests answer 202 with `{"result": "Request will be processed", "took", "requestId"}`: Opsgenie
does the work later, so closing an alias it never saw is accepted too. Errors carry Opsgenie's body
`{"message", "took", "requestId"}`: 401 for a wrong or missing key, 403 for a read-only key, 404 for
a path with no handler, 400 for a body that is not JSON, 422 with `errors` for an alert without a message.
It can be told to throttle (429 with Retry-After) or fail (500, or a proxy's HTML 503) for the next requests.
Everything received is kept in `received`, and the raw request targets (path and query, undecoded) in `targets`.
"""

from __future__ import annotations

import json
import re
import uuid

from werkzeug.wrappers import Request, Response

from tests.fakes import service

API_KEY = "9f1c2b7e-4d3a-4e8f-a1b2-opsgenie-key"
READ_ONLY_KEY = "5a6b7c8d-read-only-key"
CLOSE_PATH = re.compile(r"^/v2/alerts/(?P<identifier>.+)/close$")


def opsgenie_error(status: int, message: str, **extra) -> Response:
    return _json(status, {"message": message, **extra, "took": 0.001, "requestId": str(uuid.uuid4())})


def _json(status: int, body: dict, **headers) -> Response:
    return service.json_response(status, body, **headers)


class FakeOpsgenie(service.FakeService):
    def __init__(self, api_key: str = API_KEY, **kw):
        self.api_key = api_key
        self.targets: list[str] = []
        self.alerts: dict[str, dict] = {}  # alias -> the alert as created
        self.closed: list[str] = []
        super().__init__(**kw)

    def _app(self, environ, start_response):
        # The base records the decoded path only; how the alias was encoded is the thing to check here.
        self.targets.append(environ.get("RAW_URI") or environ.get("REQUEST_URI", ""))
        return super()._app(environ, start_response)

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "30") -> None:
        headers = {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "60"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        self.answer_next(429, _body("You are making too many requests! To avoid errors, we recommend you limit requests."),
                         headers)

    def outage(self) -> None:
        self.answer_next(500, _body("Internal Server Error"))

    def proxy_down(self) -> None:
        self.answer_next(503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")

    # ---- the service

    def answer(self, request: Request) -> Response:
        close = CLOSE_PATH.match(request.path)
        if request.method != "POST" or not (request.path == "/v2/alerts" or close):
            return opsgenie_error(404, "Could not find handler for request")
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "GenieKey" or key not in (self.api_key, READ_ONLY_KEY):
            return opsgenie_error(401, "Could not authenticate")
        if key == READ_ONLY_KEY:
            return opsgenie_error(403, "You are not authorized to take this action.")
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return opsgenie_error(400, "Request body is not a valid JSON")
        if close:
            if request.args.get("identifierType") != "alias":
                return opsgenie_error(422, "identifierType is not valid")
            self.closed.append(close["identifier"])
        elif not str(body.get("message", "")).strip():
            return opsgenie_error(422, "Request body is not processable. Please check the errors.",
                                  errors={"message": "Message can not be empty."})
        else:
            self.alerts[body.get("alias") or str(uuid.uuid4())] = body
        return _json(202, {"result": "Request will be processed", "took": 0.107, "requestId": str(uuid.uuid4())})


def _body(message: str) -> dict:
    return {"message": message, "took": 0.0, "requestId": str(uuid.uuid4())}
