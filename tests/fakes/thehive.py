"""A fake TheHive 5 instance: the v1 API's cases, case comments and alerts, on 127.0.0.1.

It takes `Authorization: Bearer <API key>` (401 `AuthenticationError` when missing or wrong) and an optional
`X-Organisation` naming one of the key owner's organisations (403 `AuthorizationError` otherwise). Cases are
created with POST /api/v1/case (201 and the whole case, as TheHive answers), read with GET, updated with
PATCH (204), commented with POST /api/v1/case/{id}/comment (201); alerts are created with POST
/api/v1/alert (201; 400 `CreateError` when the type/source/sourceRef already exists). Errors are TheHive's
`{"type", "message"}` bodies. Faults (429 with Retry-After, 500, anything at all) are scripted for the
next requests. Everything received is kept in `received`; the cases and alerts it holds in `cases`/`alerts`.

Beyond cases and alerts it serves what an id put into a path must never reach: `GET /api/v1/user/{login}/key`
answers a user's API key as text, as TheHive does for an org admin's key. `echo_credentials` (hostile) quotes
the Authorization header in every error body; `answer_raw` scripts any JSON text as the next answer.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from http import HTTPStatus

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

API_KEY = "Vq7Lw3Rz9T0hk2Bx8mP4"
ORGANISATION = "SOC"
ORGANISATIONS = ("SOC", "admin")
USER = "kibana@thehive.local"
ADMIN = "admin@thehive.local"
ADMIN_KEY = "Zr8Pn4Kw1Tq6Hs3Vb9Dx"  # another user's key: no connector holds it
SEVERITY_LABELS = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}
TLP_LABELS = {0: "CLEAR", 1: "GREEN", 2: "AMBER", 3: "AMBER+STRICT", 4: "RED"}

_CASE = re.compile(r"^/api/v1/case/([^/]+)$")
_COMMENT = re.compile(r"^/api/v1/case/([^/]+)/comment$")
_USER_KEY = re.compile(r"^/api/v1/user/([^/]+)/key$")


def error(status: int, kind: str, message: str, **headers) -> Response:
    return json_response(status, {"type": kind, "message": message}, **headers)


class FakeTheHive(FakeService):
    def __init__(self, api_key: str = API_KEY, **kw):
        self.api_key = api_key
        self.cases: dict[str, dict] = {}
        self.alerts: list[dict] = []
        self._ids = itertools.count(41080, 8)
        self._numbers = itertools.count(1)
        self.keys = {USER: api_key, ADMIN: ADMIN_KEY}  # each user's API key, by login
        self.echo_credentials = False  # hostile: error bodies quote the credentials received
        super().__init__(**kw)

    # ---- what tests read

    def to(self, method: str, path: str) -> list:
        return [r for r in self.received if (r.method, r.path) == (method, path)]

    def add_case(self, title: str = "Existing case") -> dict:
        case = self._new_case({"title": title, "description": "Opened by hand."})
        self.cases[case["_id"]] = case
        return case

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str = "Wed, 21 Oct 2026 07:28:00 GMT") -> None:
        self.answer_next(429, {"type": "TooManyRequests", "message": "Too many requests, retry later"},
                         {"Retry-After": retry_after})

    def outage(self) -> None:
        self.answer_next(500, {"type": "InternalError", "message": "Unexpected error: database unavailable"})

    def answer_raw(self, status: int, text: str) -> None:
        """Answer the next request with this text as it is, as JSON (hostile bodies)."""
        self._next.append(Response(text, f"{status} {HTTPStatus(status).phrase}", content_type=self.json_type))

    # ---- the service

    def answer(self, request: Request) -> Response:
        if self.echo_credentials:
            return error(400, "BadRequest", f"Refused Authorization: {request.headers.get('Authorization', '')}")
        if not request.path.startswith("/api/v1/"):
            return error(404, "NotFoundError", f"{request.path} not found")
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return error(401, "AuthenticationError", "Authentication failure")
        organisation = request.headers.get("X-Organisation")
        if organisation is not None and organisation not in ORGANISATIONS:
            return error(403, "AuthorizationError", f"Organisation {organisation} not found or not accessible")
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return error(400, "BadRequest", "Invalid Json")
        return self._route(request.method, request.path, body)

    def _route(self, method: str, path: str, body) -> Response:
        if (match := _USER_KEY.match(path)) and method == "GET" and match.group(1) in self.keys:
            return Response(self.keys[match.group(1)], content_type="text/plain")
        if (method, path) == ("POST", "/api/v1/case"):
            return self._create_case(body)
        if (method, path) == ("POST", "/api/v1/alert"):
            return self._create_alert(body)
        if match := _COMMENT.match(path):
            case = self.cases.get(match.group(1))
            if method != "POST":
                return error(405, "MethodNotAllowed", f"{method} not allowed")
            if case is None:
                return error(404, "NotFoundError", f"Case {match.group(1)} not found")
            return self._comment(case, body)
        if match := _CASE.match(path):
            case = self.cases.get(match.group(1))
            if case is None:
                return error(404, "NotFoundError", f"Case {match.group(1)} not found")
            if method == "GET":
                return json_response(200, case)
            if method == "PATCH":
                case.update({k: v for k, v in (body or {}).items() if v is not None})
                case["_updatedAt"], case["_updatedBy"] = _now(), USER
                return Response(status=204)
        return error(404, "NotFoundError", f"{method} {path} not found")

    @staticmethod
    def _missing(body, *keys: str) -> Response | None:
        if not isinstance(body, dict):
            return error(400, "BadRequest", "Invalid Json")
        absent = [k for k in keys if not body.get(k)]
        if absent:
            return error(400, "AttributeCheckingError", f"[{', '.join(absent)}]: required attribute is missing")
        return None

    def _create_case(self, body) -> Response:
        refused = self._missing(body, "title", "description")
        if refused:
            return refused
        case = self._new_case(body)
        self.cases[case["_id"]] = case
        return json_response(201, case)

    def _new_case(self, body: dict) -> dict:
        now = _now()
        severity = body.get("severity") or 2
        tlp = body.get("tlp") if body.get("tlp") is not None else 2
        return {
            "_id": f"~{next(self._ids)}", "_type": "Case", "_createdBy": USER, "_createdAt": now,
            "number": next(self._numbers), "title": body["title"], "description": body["description"],
            "severity": severity, "severityLabel": SEVERITY_LABELS.get(severity, "MEDIUM"), "startDate": now,
            "tags": body.get("tags") or [], "flag": False, "tlp": tlp, "tlpLabel": TLP_LABELS.get(tlp, "AMBER"),
            "pap": 2, "papLabel": "AMBER", "status": "New", "stage": "New", "assignee": USER,
            "customFields": [], "userPermissions": ["manageCase/update"], "extraData": {}, "newDate": now,
            "timeToDetect": 0,
        }

    def _comment(self, case: dict, body) -> Response:
        refused = self._missing(body, "message")
        if refused:
            return refused
        comment = {"_id": f"~{next(self._ids)}", "_type": "Comment", "createdBy": USER, "createdAt": _now(),
                   "message": body["message"], "isEdited": False, "extraData": {}}
        case.setdefault("comments", []).append(comment)
        return json_response(201, comment)

    def _create_alert(self, body) -> Response:
        refused = self._missing(body, "type", "source", "sourceRef", "title", "description")
        if refused:
            return refused
        key = (body["type"], body["source"], body["sourceRef"])
        if any((a["type"], a["source"], a["sourceRef"]) == key for a in self.alerts):
            return error(400, "CreateError", f"Alert {body['type']}/{body['source']}/{body['sourceRef']} already exists")
        now = _now()
        severity = body.get("severity") or 2
        tlp = body.get("tlp") if body.get("tlp") is not None else 2
        alert = {
            "_id": f"~{next(self._ids)}", "_type": "Alert", "_createdBy": USER, "_createdAt": now,
            "type": body["type"], "source": body["source"], "sourceRef": body["sourceRef"], "title": body["title"],
            "description": body["description"], "severity": severity,
            "severityLabel": SEVERITY_LABELS.get(severity, "MEDIUM"), "date": now, "tags": body.get("tags") or [],
            "tlp": tlp, "tlpLabel": TLP_LABELS.get(tlp, "AMBER"), "pap": 2, "papLabel": "AMBER", "follow": True,
            "customFields": [], "observableCount": len(body.get("observables") or []), "status": "New",
            "stage": "New", "extraData": {}, "newDate": now, "timeToDetect": 0,
        }
        self.alerts.append(alert)
        return json_response(201, alert)


def _now() -> int:
    return int(time.time() * 1000)
