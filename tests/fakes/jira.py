"""A fake Jira Cloud site: REST API v2 with HTTP Basic auth (account email and API token).

It keeps one project (`SEC`) with three issue types — Task (priorities, a parent), Bug (priorities, no
parent) and Sub-task (a required parent, no priority) — and answers as Jira Cloud does:

- `GET /rest/api/2/issue/createmeta/{project}/issuetypes[/{id}]`, paged answers holding `issueTypes` and
  `fields` (Data Center's `values` when `data_center=True`);
- `POST /rest/api/2/issue` (201 `{id, key, self}`), `PUT /rest/api/2/issue/{idOrKey}` (204),
  `GET /rest/api/2/issue/{idOrKey}`, `POST /rest/api/2/issue/{idOrKey}/comment` (201);
- `GET /rest/api/2/search/jql?jql=…&fields=…` (the old `/search` answers 410, as Jira Cloud since its removal);
- 401 with Jira's text for a wrong or missing credential, 400 with `errorMessages`/`errors` for fields Jira
  refuses, 404 `Issue does not exist…`, and, when told, 429 with `Retry-After` or a 5xx.

Everything received is kept in `received`; the JQL of every search in `searches`.

Hostile modes, for the security tests: `GET /rest/api/2/myself` answers the account (an endpoint the
connector must never reach from an id it was given), `echo_credentials` echoes the Authorization header
back in every error body, and `answer_raw` scripts any body under Jira's JSON content type.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response, status_line

EMAIL = "soc-bot@example.com"
API_TOKEN = "ATATT3xFfGF0-jira-fake-token-4Qm9"
PROJECT = "SEC"
API = "/rest/api/2"
UNAUTHENTICATED = "Client must be authenticated to access this resource."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
SEARCH_REMOVED = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                  "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
STARTED = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
JQL = re.compile(r'^project="(?P<project>[^"]*)" and summary ~"(?P<text>.*)"$', re.S)


def _priority(pid: str, name: str) -> dict:
    return {"self": f"https://example.atlassian.net{API}/priority/{pid}", "id": pid, "name": name}


PRIORITIES = {
    "10001": [_priority("2", "High"), _priority("3", "Medium"), _priority("4", "Low")],
    "10002": [_priority("1", "Highest"), _priority("2", "High"), _priority("3", "Medium"), _priority("4", "Low"),
              _priority("5", "Lowest")],
}
ISSUE_TYPES = [
    {"id": "10001", "name": "Task", "description": "A small, distinct piece of work.", "subtask": False,
     "hierarchyLevel": 0},
    {"id": "10002", "name": "Bug", "description": "A problem or error.", "subtask": False, "hierarchyLevel": 0},
    {"id": "10003", "name": "Sub-task", "description": "A small piece of a larger task.", "subtask": True,
     "hierarchyLevel": -1},
]


def _field(field_id: str, name: str, schema: dict, *, required: bool = False, **more) -> dict:
    return {"required": required, "schema": schema, "name": name, "fieldId": field_id,
            "hasDefaultValue": "defaultValue" in more, "operations": ["set"], **more}


def _fields(issue_type: str) -> list[dict]:
    common = [
        _field("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
        _field("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, required=True),
        _field("project", "Project", {"type": "project", "system": "project"}, required=True),
        _field("description", "Description", {"type": "string", "system": "description"}),
        _field("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
    ]
    if issue_type != "10003":
        common.append(_field("environment", "Environment", {"type": "string", "system": "environment"}))
    if issue_type in PRIORITIES:
        allowed = PRIORITIES[issue_type]
        common.append(_field("priority", "Priority", {"type": "priority", "system": "priority"},
                             allowedValues=allowed, defaultValue=allowed[1]))
    if issue_type != "10002":
        common.append(_field("parent", "Parent", {"type": "issuelink", "system": "parent"},
                             required=issue_type == "10003"))
    return common


class FakeJira(FakeService):
    json_type = "application/json;charset=UTF-8"
    text_type = "text/plain;charset=UTF-8"

    def __init__(self, email: str = EMAIL, api_token: str = API_TOKEN, *, data_center: bool = False, **kw):
        self.credentials = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self.data_center = data_center
        self.issues: dict[str, dict] = {}  # by id
        self.comments: dict[str, list[dict]] = {}  # by issue id
        self.searches: list[str] = []
        self._ids = itertools.count(10000)
        self._keys = itertools.count(1)
        self._comment_ids = itertools.count(10100)
        self._ticks = itertools.count()
        self.echo_credentials = False  # hostile: error bodies quote the credentials received
        self.issue_types = list(ISSUE_TYPES)  # the project's; a test may list thousands
        super().__init__(**kw)
        self.add_issue("Login page is slow for some users", issue_type="10001")
        self.add_issue("Suspicious login from a new country", issue_type="10001")

    # ---- state and faults

    def now(self) -> str:
        """Jira's timestamp format; each read is one minute after the last, so dates are predictable."""
        when = STARTED + timedelta(minutes=next(self._ticks))
        return when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def add_issue(self, summary: str, issue_type: str = "10001", **fields) -> dict:
        issue_id, key = str(next(self._ids)), f"{PROJECT}-{next(self._keys)}"
        created = self.now()
        issue = {"id": issue_id, "key": key, "self": f"{self.url}{API}/issue/{issue_id}",
                 "fields": {"summary": summary, "issuetype": self._type_ref(issue_type), "project": {"key": PROJECT},
                            "labels": [], "created": created, "updated": created, **fields}}
        self.issues[issue_id] = issue
        return issue

    def issue_by_key(self, key: str) -> dict | None:
        return next((i for i in self.issues.values() if key in (i["key"], i["id"])), None)

    def throttle(self, retry_after: str | None = "30") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"errorMessages": ["Internal server error"], "errors": {}})

    def answer_raw(self, status: int, text: str, content_type: str | None = None) -> None:
        """Answer the next request with this text as it is, as JSON unless told otherwise (hostile bodies)."""
        self._next.append(Response(text, status_line(status), content_type=content_type or self.json_type))

    # ---- the service

    def answer(self, request: Request) -> Response:
        if self.echo_credentials:
            sent = request.headers.get("Authorization", "")
            decoded = base64.b64decode(sent.removeprefix("Basic ") or "").decode(errors="replace")
            return _jira(400, errorMessages=[f"Refused {sent} ({decoded})"], errors={"auth": decoded})
        if request.headers.get("Authorization", "") != self.credentials:
            return Response(UNAUTHENTICATED, status_line(401), content_type="text/html;charset=UTF-8",
                            headers={"WWW-Authenticate": 'Basic realm="protected-area"'})
        path, method = request.path, request.method
        createmeta = f"{API}/issue/createmeta/"
        if path.startswith(createmeta) and method == "GET":
            return self._createmeta(path.removeprefix(createmeta).split("/"))
        if path == f"{API}/issue" and method == "POST":
            return self._create(_body(request))
        if path == f"{API}/search/jql" and method == "GET":
            return self._search(request.args.get("jql", ""))
        if path == f"{API}/search":
            return _jira(410, errorMessages=[SEARCH_REMOVED])
        if path == f"{API}/myself" and method == "GET":
            return json_response(200, {"accountId": "5b10a2844c20165700ede21g", "emailAddress": EMAIL,
                                       "displayName": "SOC bot", "groups": {"items": [{"name": "jira-admins"}]}},
                                 self.json_type)
        match = re.fullmatch(rf"{API}/issue/([^/]+)(/comment)?", path)
        if match:
            issue = self.issue_by_key(match.group(1))
            if issue is None:
                return _jira(404, errorMessages=[NO_ISSUE])
            if match.group(2) and method == "POST":
                return self._comment(issue, _body(request))
            if not match.group(2) and method == "GET":
                return json_response(200, issue, self.json_type)
            if not match.group(2) and method == "PUT":
                return self._update(issue, _body(request))
        return json_response(404, {"message": f"null for uri: {request.url}", "status-code": 404}, self.json_type)

    def _createmeta(self, parts: list[str]) -> Response:
        if parts[0] != PROJECT or len(parts) < 2 or parts[1] != "issuetypes" or len(parts) > 3:
            return _jira(404, errorMessages=[f"No project could be found with key '{parts[0]}'."])
        if len(parts) == 2:
            return self._page("issueTypes", [{"self": f"{self.url}{API}/issuetype/{t['id']}", **t}
                                             for t in self.issue_types])
        if parts[2] not in {t["id"] for t in self.issue_types}:
            return _jira(404, errorMessages=[f"Issue type with id '{parts[2]}' does not exist."])
        return self._page("fields", _fields(parts[2]))

    def _page(self, name: str, items: list) -> Response:
        key = "values" if self.data_center else name  # Data Center pages its lists as `values`
        return json_response(200, {"maxResults": 50, "startAt": 0, "total": len(items), key: items}, self.json_type)

    def _create(self, body: Any) -> Response:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return _jira(400, errorMessages=["Can not deserialize instance of the issue's fields."])
        errors = {}
        if (fields.get("project") or {}).get("key") != PROJECT:
            errors["project"] = "valid project is required"
        type_id = (fields.get("issuetype") or {}).get("id")
        if not type_id:
            errors["issuetype"] = "Specify an issue type"
        elif type_id not in {t["id"] for t in ISSUE_TYPES}:
            errors["issuetype"] = "valid issue type is required"
        if not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        if not errors:
            errors = self._field_errors(type_id, fields)
        if errors:
            return _jira(400, errors=errors)
        others = {k: v for k, v in fields.items() if k not in ("summary", "issuetype", "project")}
        issue = self.add_issue(fields["summary"], type_id, **self._stored(type_id, others))
        return json_response(201, {"id": issue["id"], "key": issue["key"], "self": issue["self"]}, self.json_type)

    def _update(self, issue: dict, body: Any) -> Response:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return _jira(400, errorMessages=["Can not deserialize instance of the issue's fields."])
        type_id = (fields.get("issuetype") or {}).get("id") or issue["fields"]["issuetype"]["id"]
        errors = self._field_errors(type_id, fields)
        if errors:
            return _jira(400, errors=errors)
        others = {k: v for k, v in fields.items() if k != "project"}
        issue["fields"].update(self._stored(type_id, others))
        issue["fields"]["updated"] = self.now()
        return Response(status=status_line(204))

    def _field_errors(self, type_id: str, fields: dict) -> dict[str, str]:
        on_screen = {f["fieldId"]: f for f in _fields(type_id)}
        errors = {}
        for name in fields:
            if name not in on_screen:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        priority = fields.get("priority")
        if "priority" in on_screen and priority is not None:
            names = {p["name"] for p in on_screen["priority"]["allowedValues"]}
            if not isinstance(priority, dict) or priority.get("name") not in names:
                errors["priority"] = "Specify a valid 'id' or 'name' for Priority"
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or re.search(r"\s", label):
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        parent = fields.get("parent")
        if "parent" in on_screen and parent is not None:
            if not isinstance(parent, dict) or self.issue_by_key(str(parent.get("key"))) is None:
                errors["parent"] = "Could not find issue by id or key."
        elif on_screen.get("parent", {}).get("required") and "parent" not in fields and "summary" in fields:
            errors["parent"] = "Given parent work item does not belong to appropriate hierarchy."
        return errors

    def _stored(self, type_id: str, fields: dict) -> dict:
        stored = dict(fields)
        stored["issuetype"] = self._type_ref(type_id)
        if isinstance(fields.get("priority"), dict):
            allowed = {p["name"]: p for p in PRIORITIES.get(type_id, [])}
            stored["priority"] = allowed.get(fields["priority"].get("name"), fields["priority"])
        if isinstance(fields.get("parent"), dict):
            parent = self.issue_by_key(str(fields["parent"].get("key")))
            stored["parent"] = {"id": parent["id"], "key": parent["key"]} if parent else fields["parent"]
        return stored

    def _type_ref(self, type_id: str) -> dict:
        found = next((t for t in ISSUE_TYPES if t["id"] == type_id), {"id": type_id, "name": type_id})
        return {"id": found["id"], "name": found["name"]}

    def _comment(self, issue: dict, body: Any) -> Response:
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _jira(400, errors={"comment": "Comment body can not be empty!"})
        created = self.now()
        comment = {"id": str(next(self._comment_ids)), "self": f"{issue['self']}/comment", "body": text,
                   "author": {"emailAddress": EMAIL, "displayName": "SOC bot"}, "created": created, "updated": created}
        self.comments.setdefault(issue["id"], []).append(comment)
        return json_response(201, comment, self.json_type)

    def _search(self, jql: str) -> Response:
        self.searches.append(jql)
        match = JQL.match(jql)
        if match is None:
            return _jira(400, errorMessages=[f"Error in the JQL Query: {jql!r} could not be read."])
        words = re.findall(r"\w+", match.group("text").lower())  # Jira's text search matches words
        found = [
            {"id": i["id"], "key": i["key"], "self": i["self"], "fields": {"summary": i["fields"]["summary"]}}
            for i in self.issues.values()
            if match.group("project") == PROJECT and all(w in i["fields"]["summary"].lower() for w in words)
        ]
        return json_response(200, {"issues": found, "isLast": True}, self.json_type)


def _body(request: Request) -> Any:
    try:
        return json.loads(request.get_data() or b"null")
    except ValueError:
        return None


def _jira(status: int, *, errorMessages: list[str] | None = None, errors: dict | None = None) -> Response:  # noqa: N803
    """Jira's error body: `errorMessages` for the request, `errors` by field."""
    body = {"errorMessages": errorMessages or [], "errors": errors or {}}
    return json_response(status, body, "application/json;charset=UTF-8")
