"""A fake Slack Web API (slack.com/api/): `POST /api/chat.postMessage`, `GET /api/conversations.info`, and the
reads `conversations.list`, `conversations.history`, `conversations.replies` and `users.list`.

Like Slack, it answers almost every failure with HTTP 200 and `{"ok": false, "error": "<code>"}`: no token is
`not_authed`, a wrong one `invalid_auth`, an unknown channel `channel_not_found`, a channel the bot has not
joined `not_in_channel`, a message without text or blocks `no_text`. It can be told to throttle (HTTP 429
with Retry-After and `ratelimited`, as Slack does), to fail (5xx), or to answer anything for the next
requests. Everything received is kept in `received`, with its query string.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, Received, json_response

TOKEN = "xoxb-1111111111-2222222222-fakeSlackBotToken"
GENERAL = ("C0123456789", "general")
ALERTS = ("C0987654321", "alerts")
# A private channel the bot can see but has not joined: posts to it are `not_in_channel`.
NOT_JOINED = ("C0PRIVATE01", "secret-ops")
TS = "1503435956.000247"


@dataclass
class SlackReceived(Received):
    query: str = ""

    @property
    def args(self) -> dict[str, list[str]]:
        return parse_qs(self.query)


def slack_error(code: str, status: int = 200, **headers) -> Response:
    return json_response(status, {"ok": False, "error": code}, **headers)


def conversation(channel_id: str, name: str, *, member: bool = True) -> dict:
    """The `channel` object of conversations.info, as Slack's docs show it (the fields Kibana reads and more)."""
    return {
        "id": channel_id, "name": name, "name_normalized": name, "is_channel": True, "is_group": False,
        "is_im": False, "is_private": not member, "is_archived": False, "is_general": name == "general",
        "is_member": member, "created": 1449252889, "creator": "W012A3BCD",
        "topic": {"value": "", "creator": "", "last_set": 0}, "purpose": {"value": "", "creator": "", "last_set": 0},
    }


class FakeSlack(FakeService):
    def __init__(self, token: str = TOKEN, **kw):
        self.token = token
        self.channels = {cid: (name, True) for cid, name in (GENERAL, ALERTS)}
        self.channels[NOT_JOINED[0]] = (NOT_JOINED[1], False)
        self._local = threading.local()
        super().__init__(**kw)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # ---- recording the query string too (the base records the path alone)

    def _app(self, environ, start_response):
        self._local.query = environ.get("QUERY_STRING", "")
        return super()._app(environ, start_response)

    def received_class(self, method: str, path: str, headers: Headers, body: bytes) -> SlackReceived:
        return SlackReceived(method, path, headers, body, getattr(self._local, "query", ""))

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "30") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.answer_next(429, {"ok": False, "error": "ratelimited"}, headers)

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"ok": False, "error": "service_unavailable"})

    # ---- the service

    def _channel(self, value: str) -> tuple[str, str, bool] | None:
        """A channel by ID or by name (`#name` or `name`), as chat.postMessage accepts either."""
        if value in self.channels:
            name, member = self.channels[value]
            return value, name, member
        for cid, (name, member) in self.channels.items():
            if value.removeprefix("#") == name:
                return cid, name, member
        return None

    def answer(self, request: Request) -> Response:
        methods = {
            "/api/chat.postMessage": self.post_message, "/api/conversations.info": self.conversations_info,
            "/api/conversations.list": self.conversations_list, "/api/conversations.history": self.history,
            "/api/conversations.replies": self.history, "/api/users.list": self.users_list,
        }
        if request.path not in methods:
            return slack_error("unknown_method", 404)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return slack_error("not_authed")
        if auth.removeprefix("Bearer ") != self.token:
            return slack_error("invalid_auth")
        return methods[request.path](request)

    def conversations_info(self, request: Request) -> Response:
        found = self._channel(request.args.get("channel", ""))
        if found is None or found[0] != request.args.get("channel"):
            return slack_error("channel_not_found")
        cid, name, member = found
        return json_response(200, {"ok": True, "channel": conversation(cid, name, member=member)})

    def conversations_list(self, request: Request) -> Response:
        channels = [conversation(cid, name, member=member) for cid, (name, member) in self.channels.items()]
        return json_response(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})

    def history(self, request: Request) -> Response:
        """conversations.history and conversations.replies: the one message the fake knows."""
        found = self._channel(request.args.get("channel", ""))
        if found is None:
            return slack_error("channel_not_found")
        if not found[2]:
            return slack_error("not_in_channel")
        if request.path.endswith(".replies") and request.args.get("ts") != TS:
            return slack_error("thread_not_found")
        message = {"type": "message", "user": "U012AB3CDE", "text": "Disk almost full", "ts": TS}
        return json_response(200, {"ok": True, "messages": [message], "has_more": False,
                                   "response_metadata": {"next_cursor": ""}})

    def users_list(self, request: Request) -> Response:
        members = [{"id": "U012AB3CDE", "team_id": "T012AB3C4", "name": "spengler", "deleted": False,
                    "real_name": "Egon Spengler", "is_bot": False, "profile": {"display_name": "spengler"}}]
        return json_response(200, {"ok": True, "members": members, "cache_ts": 1498777272,
                                   "response_metadata": {"next_cursor": ""}})

    def post_message(self, request: Request) -> Response:
        if "application/json" not in (request.content_type or ""):
            return slack_error("invalid_form_data")
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return slack_error("invalid_json")
        found = self._channel(str(body.get("channel", "")))
        if found is None:
            return slack_error("channel_not_found")
        cid, _, member = found
        if not member:
            return slack_error("not_in_channel")
        if not body.get("text") and not body.get("blocks"):
            return slack_error("no_text")
        message = {"type": "message", "subtype": "bot_message", "bot_id": "B0FAKEBOT01", "ts": TS,
                   "text": body.get("text", ""), **({"blocks": body["blocks"]} if body.get("blocks") else {})}
        return json_response(200, {"ok": True, "channel": cid, "ts": TS, "message": message})
