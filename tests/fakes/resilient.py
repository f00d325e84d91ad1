"""A fake IBM Resilient (IBM Security QRadar SOAR) REST API for one organization, with HTTP Basic auth by
API key id and secret: `/rest/orgs/<org id>/…`.

Incidents are kept in memory and answered as Resilient answers with `text_content_output_format=
objects_convert` (a description is `{format, content}`): create (POST `incidents`), read (GET
`incidents/<id>`), update (PATCH `incidents/<id>` with a change-set; a change whose `old_value` no longer
matches is refused with `success: false`, as Resilient's optimistic update does), comments (POST
`incidents/<id>/comments`), and the incident fields (`types/incident/fields`, and the choices of
`incident_type_ids` and `severity_code`). Refusals carry Resilient's body `{success: false, title, message,
hints, error_code}`: 401 without the right key, 403 for another organization, 404 for an unknown incident
or path. It can be told to throttle (429 with Retry-After) or fail (503). Everything received is kept.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

KEY_ID = "7c4a1e52-resilient-key-id"
KEY_SECRET = "rs-secret-Vb81qLx0Zt6wPe"
ORG_ID = "201"
INCIDENT_TYPES = [(17, "Communication error (fax; email)"), (19, "Malware"), (1001, "Custom type")]
SEVERITIES = [(4, "Low"), (5, "Medium"), (6, "High")]
TEAMS = [(301, "Red team"), (302, "Blue team")]


def _values(pairs):
    return [{"value": v, "label": label, "enabled": True, "properties": None, "hidden": False, "default": False}
            for v, label in pairs]


def _field(name: str, input_type: str, *, prefix: str | None = None, values=None, text: str = "") -> dict:
    return {"name": name, "input_type": input_type, "read_only": False, "required": None, "text": text or name,
            "internal": prefix is None, "prefix": prefix, "values": _values(values) if values else []}


FIELDS = [
    _field("name", "text", text="Name"),
    _field("description", "textarea", text="Description"),
    _field("incident_type_ids", "multiselect", values=INCIDENT_TYPES, text="Incident Type"),
    _field("severity_code", "select", values=SEVERITIES, text="Severity"),
    _field("plan_status", "select", values=[("A", "Active"), ("C", "Closed")], text="Status"),
    _field("owner_team", "select", prefix="properties", values=TEAMS, text="Owner team"),
    _field("affected_host", "text", prefix="properties", text="Affected host"),
    _field("impact_score", "number", prefix="properties", text="Impact score"),
]


def resilient_error(status: int, message: str, *, title: str | None = None) -> Response:
    return json_response(status, {"success": False, "title": title, "message": message, "hints": [],
                                  "error_code": "generic"})


class FakeResilient(FakeService):
    def __init__(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET, org_id: str = ORG_ID, **kw):
        self.key = (key_id, key_secret)
        self.org_id = org_id
        self.incidents: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.full_paths: list[str] = []  # with the query string, for the requests the service itself answered
        self._ids = itertools.count(2001)
        self._comment_ids = itertools.count(1)
        super().__init__(**kw)

    @property
    def org_path(self) -> str:
        return f"/rest/orgs/{self.org_id}"

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "120") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"success": False, "title": None, "message": "Too many requests, slow down.",
                               "hints": [], "error_code": "generic"}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"success": False, "title": None, "message": "The server is temporarily unavailable.",
                                  "hints": [], "error_code": "generic"})

    def add_incident(self, name: str = "Existing incident", **fields) -> int:
        """An incident created in Resilient by someone else, to update."""
        incident_id = next(self._ids)
        now = int(time.time() * 1000)
        self.incidents[incident_id] = {
            "id": incident_id, "name": name, "description": {"format": "html", "content": "Seen first."},
            "discovered_date": now, "create_date": now, "inc_last_modified_date": now,
            "incident_type_ids": [17], "severity_code": 4, "plan_status": "A", "properties": {}, **fields,
        }
        return incident_id

    # ---- the service

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return given == f"{self.key[0]}:{self.key[1]}"

    def answer(self, request: Request) -> Response:
        self.full_paths.append(request.full_path.rstrip("?"))
        if not self._authorized(request):
            return resilient_error(401, "Unauthorized")
        prefix = "/rest/orgs/"
        if not request.path.startswith(prefix):
            return resilient_error(404, f"Resource not found: {request.path}")
        org, _, rest = request.path[len(prefix):].partition("/")
        if org != self.org_id:
            return resilient_error(403, f"User is not a member of organization {org}.", title="Access denied")
        parts = rest.strip("/").split("/")
        route = (request.method, *parts)
        if route == ("GET", "types", "incident", "fields"):
            return json_response(200, FIELDS)
        if route[:4] == ("GET", "types", "incident", "fields") and len(parts) == 4:
            field = next((f for f in FIELDS if f["name"] == parts[3]), None)
            if field is None:
                return resilient_error(404, f"Field {parts[3]} not found")
            return json_response(200, {"id": 16, **field})
        if route == ("POST", "incidents"):
            return self._create(request)
        if len(parts) >= 2 and parts[0] == "incidents":
            return self._on_incident(request, parts)
        return resilient_error(404, f"Resource not found: {request.path}")

    def _on_incident(self, request: Request, parts: list[str]) -> Response:
        try:
            incident = self.incidents[int(parts[1])]
        except (ValueError, KeyError):
            return resilient_error(404, f"Incident with ID {parts[1]} not found.")
        if len(parts) == 2 and request.method == "GET":
            return json_response(200, incident)
        if len(parts) == 2 and request.method == "PATCH":
            return self._patch(incident, json.loads(request.get_data() or b"{}"))
        if parts[2:] == ["comments"] and request.method == "POST":
            body = json.loads(request.get_data() or b"{}")
            comment = {"id": next(self._comment_ids), "inc_id": incident["id"], "text": body.get("text"),
                       "create_date": int(time.time() * 1000)}
            self.comments.setdefault(incident["id"], []).append(comment)
            return json_response(200, comment)
        return resilient_error(405 if len(parts) == 2 else 404, f"Resource not found: {request.path}")

    def _create(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return resilient_error(400, "Unable to parse the request body.")
        if not isinstance(body, dict) or not body.get("name"):
            return resilient_error(400, "Field 'name' is required.", title="Validation error")
        if "discovered_date" not in body:
            return resilient_error(400, "Field 'discovered_date' is required.", title="Validation error")
        incident_id = next(self._ids)
        now = int(time.time() * 1000)
        incident = {**body, "id": incident_id, "create_date": now, "inc_last_modified_date": now}
        if isinstance(body.get("incident_type_ids"), list):  # given as [{id}], answered as ids
            incident["incident_type_ids"] = [t.get("id") for t in body["incident_type_ids"]]
        if isinstance(body.get("severity_code"), dict):
            incident["severity_code"] = body["severity_code"].get("id")
        self.incidents[incident_id] = incident
        return json_response(200, incident)

    def _patch(self, incident: dict[str, Any], body: dict[str, Any]) -> Response:
        changes = body.get("changes")
        if not isinstance(changes, list):
            return resilient_error(400, "A change-set needs 'changes'.", title="Validation error")
        updated = dict(incident)
        for change in changes:
            name = change["field"]["name"]
            field = next((f for f in FIELDS if f["name"] == name), None)
            if field is None:
                return resilient_error(400, f"Unknown field: {name}", title="Validation error")
            holder = updated.setdefault("properties", {}) if field["prefix"] else updated
            if _unwrap(change.get("old_value")) != _unwrap({"": _current(holder.get(name))}):
                return json_response(200, {"success": False, "title": None, "hints": [],
                                           "message": f"Field '{name}' was changed by someone else.", })
            holder[name] = _stored(field, change.get("new_value"))
        updated["inc_last_modified_date"] = int(time.time() * 1000) + 1
        self.incidents[incident["id"]] = updated
        return json_response(200, {"success": True, "title": None, "message": None, "hints": []})


def _current(value: Any) -> Any:
    return value["content"] if isinstance(value, dict) and "content" in value else value


def _unwrap(shaped: Any) -> Any:
    """The bare value of a change-set value ({text}, {textarea}, {ids}, {id}…); None for an empty one."""
    if not isinstance(shaped, dict) or not shaped:
        return None
    inner = next(iter(shaped.values()))
    return _current(inner)


def _stored(field: dict[str, Any], shaped: Any) -> Any:
    value = next(iter(shaped.values())) if isinstance(shaped, dict) and shaped else None
    return value
