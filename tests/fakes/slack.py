"""A fake Slack incoming webhook (hooks.slack.com): POST /services/<team id>/<bot id>/<token>.

The URL is the credential. As Slack's "Sending messages using incoming webhooks" documents, it answers
`ok` in plain text, and its errors are plain-text strings with a status: a wrong token 403
`invalid_token`, an unknown or removed webhook 404 `no_service`, a body that is not a JSON message 400
`invalid_payload`, one without text 400 `no_text`. The rest (`channel_not_found`, `action_prohibited`,
`channel_is_archived`, 429 with Retry-After, 500 `rollup_error`) are scripted for the next requests.
Everything received is kept in `received`.
"""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, status_line

TEAM_ID = "T0SWITCHB"
BOT_ID = "B0SWITCHB"
TOKEN = "sLaCkWeBhOoKtOkEn7Qx2L9ab"
HOOK_PATH = f"/services/{TEAM_ID}/{BOT_ID}/{TOKEN}"


def slack_text(status: int, text: str, **headers) -> Response:
    # Slack sends its answers as text/html, whatever they say.
    return Response(text, status_line(status), headers=headers, content_type="text/html")


class FakeSlack(FakeService):
    text_type = "text/html"

    @property
    def webhook_url(self) -> str:
        return self.url + HOOK_PATH

    # ---- Slack's documented failures, for the next request

    def refuse(self, status: int, error: str) -> None:
        self.answer_next(status, error)

    def throttle(self, retry_after: str | None = "30") -> None:
        self.answer_next(429, "rate_limited", {"Retry-After": retry_after} if retry_after is not None else {})

    def outage(self) -> None:
        self.answer_next(500, "rollup_error")

    # ---- the service

    def answer(self, request: Request) -> Response:
        if request.method != "POST":
            return slack_text(405, "invalid_method")
        parts = request.path.split("/")
        if len(parts) != 5 or parts[1] != "services" or parts[2:4] != [TEAM_ID, BOT_ID]:
            return slack_text(404, "no_service")
        if parts[4] != TOKEN:
            return slack_text(403, "invalid_token")
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return slack_text(400, "invalid_payload")
        if not isinstance(payload, dict):
            return slack_text(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks") and not payload.get("attachments"):
            return slack_text(400, "no_text")
        return slack_text(200, "ok")
