"""A fake Swimlane API for one application, authenticated by the `Private-Token` header: `/api/app/<app id>`.

It describes the application and its fields (GET `app/<id>`), creates records (POST `app/<id>/record`, values
keyed by field id, answered with the record's `id`, `name` (its tracking id), `createdDate`…), updates them
(PATCH `app/<id>/record/<record id>`, answered with `modifiedDate`) and takes comments on a comments field
(POST `…/record/<record id>/<field id>/comment`, answered with no body, as Swimlane does). Refusals carry
Swimlane's `{ErrorCode, Argument}` body: 401 without the right token, 404 for an unknown application or
record, 400 for a value under a field the application does not have. It can be told to throttle (429 with
Retry-After) or fail (503). Everything received is kept in `received`; records in `records`.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

TOKEN = "sw-private-token-P4x9Lm2Q"
APP_ID = "aNcL6DVOjBdCp5F7m"
FIELDS = [
    {"id": "a6fdf", "key": "alert-id", "name": "Alert Id", "fieldType": "text"},
    {"id": "a6sst", "key": "rule-name", "name": "Rule Name", "fieldType": "text"},
    {"id": "a7sev", "key": "severity", "name": "Severity", "fieldType": "text"},
    {"id": "a8cid", "key": "case-id", "name": "Case Id", "fieldType": "text"},
    {"id": "a8cnm", "key": "case-name", "name": "Case Name", "fieldType": "text"},
    {"id": "a6vtx", "key": "comments", "name": "Comments", "fieldType": "comments"},
    {"id": "a9dsc", "key": "description", "name": "Description", "fieldType": "text"},
    {"id": "a9rsk", "key": "risk-score", "name": "Risk Score", "fieldType": "numeric"},
]


def swimlane_error(status: int, code: int, argument: str | None, message: str) -> Response:
    return json_response(status, {"ErrorCode": code, "Argument": argument, "Message": message})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeSwimlane(FakeService):
    def __init__(self, token: str = TOKEN, app_id: str = APP_ID, **kw):
        self.token = token
        self.app_id = app_id
        self.records: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)
        super().__init__(**kw)

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "120") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"ErrorCode": 1429, "Argument": None, "Message": "Rate limit exceeded"}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"ErrorCode": 1500, "Argument": None, "Message": "Service unavailable"})

    def add_record(self, **values) -> str:
        """A record someone created in Swimlane, to update."""
        number = next(self._numbers)
        record_id = f"aRec{number:04d}"
        self.records[record_id] = {"id": record_id, "name": f"SW-{number}", "trackingFull": f"SW-{number}",
                                   "applicationId": self.app_id, "values": values, "createdDate": now(),
                                   "modifiedDate": now()}
        return record_id

    # ---- the service

    def answer(self, request: Request) -> Response:
        if request.headers.get("Private-Token", "") != self.token:
            return swimlane_error(401, 1001, "Private-Token", "The access token is invalid or has expired.")
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["api", "app"] or len(parts) < 3:
            return swimlane_error(404, 1004, request.path, "Not found.")
        if parts[2] != self.app_id:
            return swimlane_error(404, 2001, parts[2], "Application not found.")
        rest, method = parts[3:], request.method
        if not rest and method == "GET":
            return json_response(200, {"id": self.app_id, "name": "Security Alerts", "acronym": "SW",
                                       "fields": FIELDS})
        if rest == ["record"] and method == "POST":
            return self._create(request)
        if len(rest) >= 2 and rest[0] == "record":
            record = self.records.get(rest[1])
            if record is None:
                return swimlane_error(404, 3001, rest[1], "Record not found.")
            if len(rest) == 2 and method == "PATCH":
                return self._update(record, request)
            if len(rest) == 4 and rest[3] == "comment" and method == "POST":
                return self._comment(record, rest[2], request)
        return swimlane_error(405 if rest[:1] == ["record"] else 404, 1004, request.path, "Not found.")

    def _values(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return swimlane_error(400, 1000, None, "The request body is not valid JSON.")
        values = body.get("values") if isinstance(body, dict) else None
        if not isinstance(values, dict) or body.get("applicationId") != self.app_id:
            return swimlane_error(400, 1000, "applicationId", "A record needs its applicationId and values.")
        known = {f["id"] for f in FIELDS}
        for field_id in values:
            if field_id not in known:
                return swimlane_error(400, 5008, field_id, f"Field {field_id} does not exist in the application.")
        return values

    def _create(self, request: Request) -> Response:
        values = self._values(request)
        if isinstance(values, Response):
            return values
        record_id = self.add_record(**values)
        return json_response(200, self.records[record_id])

    def _update(self, record: dict[str, Any], request: Request) -> Response:
        values = self._values(request)
        if isinstance(values, Response):
            return values
        record["values"] = {**record["values"], **values}
        record["modifiedDate"] = now()
        return json_response(200, record)

    def _comment(self, record: dict[str, Any], field_id: str, request: Request) -> Response:
        if not any(f["id"] == field_id and f["fieldType"] == "comments" for f in FIELDS):
            return swimlane_error(400, 5010, field_id, f"Field {field_id} is not a comments field.")
        self.comments.setdefault(record["id"], []).append({"fieldId": field_id, **json.loads(request.get_data())})
        return Response(status=200)
