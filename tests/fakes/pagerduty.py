"""A fake PagerDuty Events API v2 (events.pagerduty.com): POST /v2/enqueue with an alert event.

The integration key comes as `routing_key` in the body (PagerDuty's docs) or in the `X-Routing-Key` header
(what Kibana sends, and PagerDuty takes). PagerDuty answers a bad or missing key with 400 "invalid event",
not 401/403. Accepted events get 202 with the dedup key (a new one when a trigger has none); an acknowledge
or resolve without a dedup key, or a trigger without summary, source or severity, is an invalid event.
It can be told to throttle (429, optionally with Retry-After) or fail (5xx) for the next requests, and
`echo_key` makes its errors repeat the key it was sent, as a careless service might.
"""

from __future__ import annotations

import json
import uuid

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

ROUTING_KEY = "4f1c9b2e8d7a6c5b4a3f2e1d0c9b8a7f"  # 32 characters, as PagerDuty's are
ENQUEUE = "/v2/enqueue"
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def invalid(*errors: str) -> Response:
    return json_response(400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)})


class FakePagerDuty(FakeService):
    def __init__(self, routing_key: str = ROUTING_KEY, **kw):
        self.routing_key = routing_key
        self.echo_key = False
        super().__init__(**kw)

    @property
    def enqueue_url(self) -> str:
        return self.url + ENQUEUE

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"status": "throttle event", "message": "Requests for this service are arriving too "
                               "quickly. Please retry later.", "errors": ["Enhance Your Calm."]}, headers)

    def outage(self, status: int = 500) -> None:
        self.answer_next(status, {"status": "unrecognized", "message": "internal server error"})

    # ---- the service

    def answer(self, request: Request) -> Response:
        if request.path != ENQUEUE:
            return json_response(404, {"status": "not found", "message": "Not Found"})
        if request.method != "POST":
            return json_response(405, {"status": "method not allowed", "message": "Method Not Allowed"})
        try:
            event = json.loads(request.get_data())
        except ValueError:
            return invalid("Malformed JSON body")
        if not isinstance(event, dict):
            return invalid("Event object must be a JSON object")
        key = event.get("routing_key") or request.headers.get("X-Routing-Key", "")
        refused = self._refuse_key(key)
        if refused:
            return invalid(refused + (f" ({key})" if self.echo_key else ""))
        problems = self._problems(event)
        if problems:
            return invalid(*problems)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        return json_response(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})

    def _refuse_key(self, key: str) -> str | None:
        if not key:
            return "'routing_key' is missing or blank"
        if len(key) != 32:
            return "Length of 'routing_key' is incorrect (should be 32 characters)"
        if key != self.routing_key:
            return "Invalid routing key"
        return None

    def _problems(self, event: dict) -> list[str]:
        action = event.get("event_action")
        if action not in ACTIONS:
            return ["'event_action' is invalid (must be one of trigger, acknowledge, resolve)"]
        if action != "trigger":
            return [] if event.get("dedup_key") else ["'dedup_key' is missing or blank"]
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return ["'payload' is missing or not an object"]
        problems = [f"'payload.{name}' is missing or blank" for name in ("summary", "source") if not payload.get(name)]
        if payload.get("severity") not in SEVERITIES:
            problems.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
        if len(payload.get("summary") or "") > 1024:
            problems.append("'payload.summary' is too long (maximum is 1024 characters)")
        return problems
