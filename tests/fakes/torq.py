"""A fake Torq webhook integration (hooks.torq.io): POST /v1/webhooks/<integration id>, authenticated by the
integration's authentication header, here `X-Torq-Token` as Kibana's connector sends it.

It accepts events with 200 and an event id (Torq's docs do not show the webhook's answer; Kibana reads only
the status, and an error body's `message`), refuses a wrong or missing token (401), an
unknown integration (404) and methods a webhook does not take (405), and can be told to throttle (429
with Retry-After) or fail (503) for the next requests. Everything received is kept in `received`.
"""

from __future__ import annotations

import json
import uuid

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

INTEGRATION_ID = "af6aab8d-0b1e-4c6f-9d1a-74259a93b18f"
TOKEN = "torq-hook-secret-7Qx2L9"
TOKEN_HEADER = "X-Torq-Token"
# What a Torq webhook answers besides POST (the docs list GET and OPTIONS as accepted too).
ACCEPTED_METHODS = ("POST", "GET", "OPTIONS")


class FakeTorq(FakeService):
    def __init__(self, token: str = TOKEN, **kw):
        self.token = token
        super().__init__(**kw)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/v1/webhooks/{INTEGRATION_ID}"

    def hook_url(self, integration_id: str) -> str:
        return f"{self.url}/v1/webhooks/{integration_id}"

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "120") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"message": "rate limit exceeded, please retry later"}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"message": "service temporarily unavailable"})

    # ---- the service

    def answer(self, request: Request) -> Response:
        prefix, _, integration_id = request.path.rpartition("/")
        if prefix != "/v1/webhooks" or integration_id != INTEGRATION_ID:
            return json_response(404, {"message": "webhook not found"})
        if request.method not in ACCEPTED_METHODS:
            return json_response(405, {"message": "method not allowed"}, Allow=", ".join(ACCEPTED_METHODS))
        if request.headers.get(TOKEN_HEADER, "") != self.token:
            return json_response(401, {"message": "invalid webhook authentication header"})
        if request.method == "POST" and "json" in (request.content_type or ""):
            try:
                json.loads(request.get_data())
            except ValueError:
                return json_response(400, {"message": "invalid JSON body"})
        return json_response(200, {"event_id": str(uuid.uuid4())})
