"""A fake Microsoft Graph `POST /users/{id | userPrincipalName}/sendMail`, trusting the tokens a fake
OAuth server (tests/fakes/oauth.py) issued.

As Graph answers: 202 Accepted with no body; 401 `InvalidAuthenticationToken` for a missing, unknown or
revoked token; 403 `ErrorAccessDenied` for a mailbox the app may not send as; 404 `ErrorInvalidUser` for
an unknown mailbox; 400 `ErrorInvalidRecipients` for a message without recipients. Errors are Graph's
`{"error": {"code", "message", "innerError"}}`; `throttle` and `outage` script a 429 and a 5xx.
"""

from __future__ import annotations

import json
import re

from werkzeug.wrappers import Request, Response

from tests.fakes.oauth import OAuthServer
from tests.fakes.service import FakeService, json_response, status_line

SEND_MAIL = re.compile(r"^/v1\.0/users/(?P<user>[^/]+)/sendMail$")
REQUEST_ID = "8b1a2c3d-4e5f-4a6b-9c7d-0e1f2a3b4c5d"


def graph_error(status: int, code: str, message: str, **headers) -> Response:
    inner = {"date": "2026-12-07T08:00:00", "request-id": REQUEST_ID, "client-request-id": REQUEST_ID}
    return json_response(status, {"error": {"code": code, "message": message, "innerError": inner}}, **headers)


class FakeGraph(FakeService):
    """`api_url` is what `[email] graph_api_url` points at; `mailboxes` are the users that exist, and
    `forbidden` those the app has no Mail.Send permission for."""

    def __init__(self, oauth: OAuthServer, mailboxes: tuple[str, ...] = ("alerts@example.com",)):
        self.oauth = oauth
        self.mailboxes = set(mailboxes)
        self.forbidden: set[str] = set()
        self.revoked: set[str] = set()
        self.sent: list[dict] = []  # the messages Graph accepted, as posted
        super().__init__()

    @property
    def api_url(self) -> str:
        return self.url + "/v1.0"

    def revoke_issued_tokens(self) -> None:
        """Every token issued so far stops working, as when an admin revokes the app's sessions."""
        self.revoked.update(self.oauth.issued)

    def throttle(self, retry_after: str | None = "30") -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.answer_next(429, {"error": {"code": "ApplicationThrottled",
                                         "message": "Application is over its MailboxConcurrency limit."}}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"error": {"code": "ServiceUnavailable",
                                            "message": "Service is temporarily unavailable. Please try again."}})

    def answer(self, request: Request) -> Response:
        match = SEND_MAIL.match(request.path)
        if request.method != "POST" or match is None:
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{request.path.rsplit('/', 1)[-1]}'.")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.",
                               **{"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        if token not in self.oauth.issued or token in self.revoked:
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                               **{"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        user = match["user"]
        if user not in self.mailboxes:
            return graph_error(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if user in self.forbidden:
            return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        try:
            message = json.loads(request.get_data())["message"]
        except (ValueError, KeyError, TypeError):
            return graph_error(400, "ErrorInvalidRequest", "Cannot read the request body.")
        if not (message.get("toRecipients") or message.get("ccRecipients") or message.get("bccRecipients")):
            return graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        self.sent.append(message)
        return Response(status=status_line(202))
