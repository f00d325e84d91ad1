"""A fake Cortex XSOAR server, on-premises (6.x) and cloud (8.x) at once, on 127.0.0.1.

On-premises, the API is at the root and takes the API key alone in `Authorization`; cloud serves it under
/xsoar/public/v1 and also needs the key's id in `x-xdr-auth-id`. A wrong or missing credential is 401, with
XSOAR 6's error object on-premises and the Cortex public API's `{"reply": {"err_code", "err_msg", …}}` on
cloud. POST /playbook/search answers the server's playbooks as XSOAR does (with `total` and `tags`);
POST /incident creates an incident (201 and the incident). Faults (429 with Retry-After, 500, anything at
all) are scripted for the next requests. Everything received is kept in `received`, the incidents in
`incidents`.

Hostile modes for the security tests: `echo_credentials` quotes the credentials received in every error body,
and `answer_raw` scripts any JSON text as the next answer.
"""

from __future__ import annotations

import itertools
import json

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response, status_line

API_KEY = "Xk93TbQ2vL7sNw4RcZ1pJm8E"
API_KEY_ID = "17"
CLOUD_PREFIX = "/xsoar/public/v1"
PHISHING = {"id": "8db0105c-f674-4d83-8095-f95a9f61e77a", "name": "Phishing Investigation - Generic v3"}
MALWARE = {"id": "c28b63d3-c860-4e16-82b4-6db6b58bdee3", "name": "Malware Investigation & Response"}
PLAYBOOKS = (PHISHING, MALWARE, {"id": "e228a044-2ad5-4ab0-873a-d5bb94a5c1b4", "name": "Block Indicators - Generic"})


def on_premises_error(status: int, title: str, detail: str) -> Response:
    body = {"id": title.lower().replace(" ", "_"), "status": status, "title": title, "detail": detail,
            "error": detail, "encrypted": False, "multires": None}
    return json_response(status, body)


def cloud_error(status: int, message: str, extra: str = "") -> Response:
    return json_response(status, {"reply": {"err_code": status, "err_msg": message, "err_extra": extra}})


class FakeXsoar(FakeService):
    def __init__(self, api_key: str = API_KEY, api_key_id: str = API_KEY_ID, **kw):
        self.api_key, self.api_key_id = api_key, api_key_id
        self.playbooks = [dict(p, version=4, propagationLabels=["all"], tasks={}) for p in PLAYBOOKS]
        self.incidents: list[dict] = []
        self._ids = itertools.count(178791)
        self.echo_credentials = False  # hostile: error bodies quote the credentials received
        super().__init__(**kw)

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str = "30") -> None:
        self.answer_next(429, {"id": "too_many_requests", "status": 429, "title": "Too Many Requests",
                               "detail": "API rate limit exceeded", "error": "API rate limit exceeded",
                               "encrypted": False, "multires": None}, {"Retry-After": retry_after})

    def answer_raw(self, status: int, text: str) -> None:
        """Answer the next request with this text as it is, as JSON (hostile bodies)."""
        self._next.append(Response(text, status_line(status), content_type=self.json_type))

    def outage(self) -> None:
        self.answer_next(500, {"id": "internal_error", "status": 500, "title": "Internal Server Error",
                               "detail": "failed to save incident", "error": "failed to save incident",
                               "encrypted": False, "multires": None})

    # ---- the service

    def answer(self, request: Request) -> Response:
        if self.echo_credentials:
            return on_premises_error(400, "Bad Request", f"refused key {request.headers.get('Authorization')} "
                                     f"(id {request.headers.get('x-xdr-auth-id')})")
        cloud = request.path.startswith(CLOUD_PREFIX + "/")
        path = request.path.removeprefix(CLOUD_PREFIX) if cloud else request.path
        if cloud and (request.headers.get("Authorization") != self.api_key
                      or request.headers.get("x-xdr-auth-id") != self.api_key_id):
            return cloud_error(401, "Public API request unauthorized", "the API key or its id is wrong")
        if not cloud and request.headers.get("Authorization") != self.api_key:
            return on_premises_error(401, "Unauthorized", "Issue with the API key: not valid or not authorized")
        if (request.method, path) == ("POST", "/playbook/search"):
            return json_response(200, {"playbooks": self.playbooks, "total": len(self.playbooks),
                                       "tags": ["Phishing", "Malware"]})
        if (request.method, path) == ("POST", "/incident"):
            return self._create_incident(request)
        return on_premises_error(404, "Not Found", f"{request.method} {request.path} not found")

    def _create_incident(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return on_premises_error(400, "Bad Request", "request body must be an incident object")
        playbook = body.get("playbookId")
        if playbook and playbook not in {p["id"] for p in self.playbooks}:
            return on_premises_error(400, "Bad Request", f"playbook {playbook} not found")
        incident = {"id": str(next(self._ids)), "version": 1, "type": body.get("type", "Unclassified"),
                    "name": body.get("name", ""), "severity": body.get("severity", 0), "status": 0,
                    "playbookId": playbook or "", "created": "2026-12-07T09:00:00Z",
                    "investigationId": "" if not body.get("createInvestigation") else "inv-1",
                    "labels": [{"type": "Brand", "value": "Manual"}], "details": body.get("details", "")}
        self.incidents.append(incident)
        return json_response(201, incident)
