"""A fake xMatters Flow Designer HTTP trigger: `POST /api/integration/1/functions/<trigger id>/triggers`,
authenticated either by basic auth (an xMatters user and password) or by the `apiKey` in the URL's query,
as the trigger's "URL" and "API Key" authentication methods generate it.

An accepted request answers 202 with the `requestId` xMatters gives every inbound request. Refusals use
the xMatters REST API's error body `{"code", "reason", "message"}`: 401 for missing or wrong credentials,
404 for an unknown trigger, 400 for a body that is not JSON. It can be told to throttle (429 with
Retry-After; xMatters limits requests per minute) or fail (500/503) for the next requests.
Everything received is kept in `received`.
"""

from __future__ import annotations

import base64
import json
import uuid
from http import HTTPStatus

from werkzeug.wrappers import Request, Response

from tests.fakes import service

TRIGGER_ID = "9a3f6c1e-2b7d-4e0a-8c55-1f2e3d4c5b6a"
TRIGGER_PATH = f"/api/integration/1/functions/{TRIGGER_ID}/triggers"
USER = "elastic-integration"
PASSWORD = "xm-Pa55word-7Kq2"
API_KEY = "b1e0d5c4-xm-api-key-83f2"


def xmatters_error(status: int, message: str, **headers) -> Response:
    return service.json_response(status, {"code": status, "reason": HTTPStatus(status).phrase, "message": message},
                                 **headers)


class FakeXmatters(service.FakeService):
    def __init__(self, user: str = USER, password: str = PASSWORD, api_key: str = API_KEY, **kw):
        self.user, self.password, self.api_key = user, password, api_key
        super().__init__(**kw)

    @property
    def trigger_url(self) -> str:
        """The trigger's URL for basic authentication."""
        return self.url + TRIGGER_PATH

    def api_key_url(self, api_key: str | None = None) -> str:
        """The trigger's URL for URL authentication: the API key is part of it."""
        return f"{self.trigger_url}?apiKey={api_key or self.api_key}"

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "60") -> None:
        body = {"code": 429, "reason": "Too Many Requests", "message": "Rate limit exceeded; retry later."}
        self.answer_next(429, body, {"Retry-After": retry_after} if retry_after is not None else {})

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"code": status, "reason": HTTPStatus(status).phrase,
                                  "message": "The service is temporarily unavailable."})

    # ---- the service

    def answer(self, request: Request) -> Response:
        if request.path != TRIGGER_PATH or request.method != "POST":
            return xmatters_error(404, f"Could not find a trigger at {request.path}")
        if not self._authenticated(request):
            return xmatters_error(401, "The request could not be authenticated.", **{"WWW-Authenticate": 'Basic realm="xMatters"'})
        try:
            json.loads(request.get_data())
        except ValueError:
            return xmatters_error(400, "The request body is not valid JSON.")
        return service.json_response(202, {"requestId": str(uuid.uuid4())})

    def _authenticated(self, request: Request) -> bool:
        if "apiKey" in request.args:
            return request.args["apiKey"] == self.api_key
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.user, self.password)
