"""A fake ticket tracker shaped like a generic REST issue tracker (Jira-like JSON), for Webhook - Case Management.

- `POST /api/issues` creates an issue from `{"fields": {...}}` and answers 201 `{"id", "key", "self"}`;
- `GET /api/issues/<key>` answers the issue `{"id", "key", "fields": {"summary", ...}}`;
- `POST /api/issues/search` answers the issue named by `{"key": ...}` (a get done with POST);
- `PUT /api/issues/<key>` updates it and answers 204 with no body;
- `POST /api/issues/<key>/comments` adds `{"body": ...}` and answers 201 `{"id", "body"}`.

Every call needs authentication: basic, or a client certificate when the tracker is served with an
`ssl_context` that verifies one (the TLS handshake has checked it by then: it stands for `USER`, the way a
tracker maps a certificate to an account). None or a wrong password is a 401, a user without write access a
403 on writes, each with the tracker's `{"errorMessages": [...], "errors": {}}` body; an unknown issue
is a 404 of the same shape, a body that is not JSON a 400. Faults for the next requests: throttling (429
with Retry-After), an outage (503), and answers without the expected key or that are not JSON.
Everything received is kept in `received` (and the client certificate each call came with, if any, in
`client_certificates`); the issues in `issues`.
"""

from __future__ import annotations

import base64
import json
import re

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response, status_line

USER = "switchboard"
PASSWORD = "tracker-pass-5Jq8Zr"
READ_ONLY_USER = "auditor"
PROJECT = "SEC"
_ISSUE = re.compile(r"/api/issues/([^/]+)")
_COMMENTS = re.compile(r"/api/issues/([^/]+)/comments")


def errors(*messages: str) -> dict:
    return {"errorMessages": list(messages), "errors": {}}


class FakeTracker(FakeService):
    def __init__(self, user: str = USER, password: str = PASSWORD, **kw):
        self.accounts = {user: password, READ_ONLY_USER: password}
        self.issues: dict[str, dict] = {}
        self.comments: dict[str, list[dict]] = {}
        self.raw_paths: list[str] = []  # as sent, before decoding: where URL-encoding shows
        self.certificate_user = user
        self.client_certificates: list[str | None] = []  # PEM, as the handshake verified it
        super().__init__(**kw)

    # ---- what a connector is set up with

    @property
    def api(self) -> str:
        return f"{self.url}/api/issues"

    def config(self, **overrides) -> dict:
        config = {
            "createIncidentUrl": self.api,
            "createIncidentMethod": "post",
            "createIncidentJson": '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}, '
                                  '"labels": {{{case.tags}}}, "priority": {{{case.severity}}}}}',
            "createIncidentResponseKey": "key",
            "getIncidentUrl": f"{self.api}/{{{{{{external.system.id}}}}}}",
            "getIncidentResponseExternalTitleKey": "fields.summary",
            "viewIncidentUrl": f"{self.url}/browse/{{{{{{external.system.id}}}}}}",
            "updateIncidentUrl": f"{self.api}/{{{{{{external.system.id}}}}}}",
            "updateIncidentMethod": "put",
            "updateIncidentJson": '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}, '
                                  '"status": {{{case.status}}}, "ref": {{{external.system.id}}}}}',
            "createCommentUrl": f"{self.api}/{{{{{{external.system.id}}}}}}/comments",
            "createCommentMethod": "post",
            "createCommentJson": '{"body": {{{case.comment}}}}',
            "hasAuth": True,
            "authType": "webhook-authentication-basic",
        }
        return {**config, **overrides}

    def add_issue(self, summary: str) -> str:
        key = f"{PROJECT}-{len(self.issues) + 1}"
        self.issues[key] = {"id": str(10000 + len(self.issues) + 1), "key": key, "fields": {"summary": summary}}
        return key

    # ---- faults for the next requests, answered in order before the tracker's own rules

    def throttle(self, retry_after: str | None = "120") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, errors("Rate limit exceeded."), headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, errors("The tracker is down for maintenance."))

    def answer_raw(self, status: int, body: str, content_type: str | None) -> None:
        """The next answer exactly so: a page that is not JSON, or no Content-Type at all."""
        response = Response(body, status_line(status))
        if content_type is None:
            del response.headers["Content-Type"]
        else:
            response.headers["Content-Type"] = content_type
        self._next.append(response)

    # ---- the tracker

    def _app(self, environ, start_response):
        self.raw_paths.append(environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", ""))
        # werkzeug's server passes on the certificate the TLS layer verified; none over plain HTTP
        self.client_certificates.append(environ.get("SSL_CLIENT_CERT"))
        return super()._app(environ, start_response)

    def _user(self, request: Request) -> str | None:
        if request.environ.get("SSL_CLIENT_CERT"):
            return self.certificate_user
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        return user if self.accounts.get(user) == password else None

    def answer(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return json_response(401, errors("You are not authenticated. Authentication required to perform this operation."),
                                 **{"WWW-Authenticate": 'Basic realm="tracker"'})
        if request.method != "GET" and request.path != "/api/issues/search" and user == READ_ONLY_USER:
            return json_response(403, errors("You do not have permission to edit issues in this project."))
        body = None
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                body = json.loads(request.get_data())
            except ValueError:
                return json_response(400, errors("Unexpected character in the JSON body."))
        if request.path == "/api/issues" and request.method == "POST":
            key = self.add_issue(body.get("fields", {}).get("summary", ""))
            self.issues[key]["fields"].update(body.get("fields", {}))
            issue = self.issues[key]
            return json_response(201, {"id": issue["id"], "key": key, "self": f"{self.api}/{issue['id']}"})
        if request.path == "/api/issues/search" and request.method == "POST":
            return self._issue(str(body.get("key", "")))
        if match := _COMMENTS.fullmatch(request.path):
            key = match.group(1)
            if key not in self.issues:
                return json_response(404, errors("Issue does not exist or you do not have permission to see it."))
            comment = {"id": str(len(self.comments.setdefault(key, [])) + 1), "body": body.get("body")}
            self.comments[key].append(comment)
            return json_response(201, comment)
        if match := _ISSUE.fullmatch(request.path):
            key = match.group(1)
            if request.method == "GET":
                return self._issue(key)
            if request.method in ("PUT", "PATCH") and key in self.issues:
                self.issues[key]["fields"].update(body.get("fields", {}))
                return Response(status=204)
        if request.path.startswith("/api/issues"):
            return json_response(404, errors("Issue does not exist or you do not have permission to see it."))
        return json_response(404, errors("No such page."))

    def _issue(self, key: str) -> Response:
        if key not in self.issues:
            return json_response(404, errors("Issue does not exist or you do not have permission to see it."))
        return json_response(200, self.issues[key])
