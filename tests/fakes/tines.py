"""A fake Tines tenant: the REST API's stories and actions (legacy name "agents") and the webhook actions'
URLs, on 127.0.0.1.

The API takes the legacy `x-user-email` / `x-user-token` headers (what Kibana sends) and answers 401 when
either is missing or wrong. Lists page as Tines documents: `per_page` defaults to 20 and stops at 500,
`page` picks the page, and `meta` carries current/previous/next page links, `next_page_number`,
`per_page`, `pages` and `count`. Actions list under both `/api/v1/agents` and `/api/v1/actions` and filter
by `story_id` and `action_type`. A webhook action takes a POST at `/webhook/<path>/<secret>` with no
credential but its secret, and answers 201. Tines publishes no error bodies, so errors are Rails-style
`{"error": …}`. Faults (429 with Retry-After, 500, anything at all) are scripted for the next requests.

The tenant holds 520 stories, so a page of Kibana's 500 leaves one story on the second page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from werkzeug.wrappers import Request, Response

from tests.fakes import service

EMAIL = "soc-automation@example.com"
TOKEN = "tines-api-token-9Qz4Lx7wPe"
WEBHOOK_AGENT = "Agents::WebhookAgent"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 500
STORY_COUNT = 520

TRIAGE_STORY = 97469  # on the first page
TRIAGE_WEBHOOK = 941613
TRIAGE_PATH = "18f15eaaae93111d3187af42d236c8b2"
TRIAGE_SECRET = "eb80106acb3ee1521985f5cec3dd224c"
PHISHING_WEBHOOK = 941615
PHISHING_PATH = "phishing-intake"
PHISHING_SECRET = "5d1c0f7e9b2a4c6e8f0a1b3c5d7e9f11"
LATE_STORY = 99999  # the last story: on the second page of 500
LATE_WEBHOOK = 950001
LATE_PATH = "late-intake"
LATE_SECRET = "0a9b8c7d6e5f40312233445566778899"

_ITEM = re.compile(r"^/api/v1/(?:agents|actions)/(\d+)$")


@dataclass
class Received(service.Received):
    query: dict = field(default_factory=dict)  # the base records the path alone; paging lives in the query


@dataclass
class Agent:
    id: int
    name: str
    type: str
    story_id: int
    options: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type, "story_id": self.story_id, "user_id": 1,
                "team_id": 1, "guid": f"guid-{self.id}", "disabled": False, "options": self.options,
                "position": {"x": 0, "y": 0}, "sources": [], "receivers": []}


def default_stories() -> list[dict]:
    stories = [{"id": TRIAGE_STORY, "name": "Elastic alerts triage", "published": True}]
    stories += [{"id": 10_000 + n, "name": f"Story {n:03}", "published": n % 2 == 0} for n in range(1, STORY_COUNT - 1)]
    stories.append({"id": LATE_STORY, "name": "Late story", "published": False})
    return stories


def default_agents() -> list[Agent]:
    return [
        Agent(TRIAGE_WEBHOOK, "Elastic Security Webhook", WEBHOOK_AGENT, TRIAGE_STORY,
              {"path": TRIAGE_PATH, "secret": TRIAGE_SECRET, "verbs": "get,post"}),
        Agent(941614, "Enrich alert", "Agents::HTTPRequestAgent", TRIAGE_STORY, {"url": "https://example.com"}),
        Agent(PHISHING_WEBHOOK, "Phishing intake", WEBHOOK_AGENT, TRIAGE_STORY,
              {"path": PHISHING_PATH, "secret": PHISHING_SECRET}),
        Agent(LATE_WEBHOOK, "Late intake", WEBHOOK_AGENT, LATE_STORY, {"path": LATE_PATH, "secret": LATE_SECRET}),
    ]


class FakeTines(service.FakeService):
    received_class = Received

    def __init__(self, email: str = EMAIL, token: str = TOKEN, **kw):
        self.email, self.token = email, token
        self.stories = default_stories()
        self.agents = {a.id: a for a in default_agents()}
        self.webhook_answer: tuple[int, str, str] = (201, json.dumps({"status": "ok"}), "application/json")
        super().__init__(**kw)

    def webhook_url(self, path: str = TRIAGE_PATH, secret: str = TRIAGE_SECRET) -> str:
        return f"{self.url}/webhook/{path}/{secret}"

    @property
    def webhook_posts(self) -> list[service.Received]:
        return [r for r in self.received if r.path.startswith("/webhook/")]

    @property
    def api_calls(self) -> list[service.Received]:
        return [r for r in self.received if r.path.startswith("/api/")]

    # ---- faults for the next requests, answered in order before the tenant's own rules

    def throttle(self, retry_after: str = "30") -> None:
        self.answer_next(429, {"error": "Too many requests, please slow down"}, {"Retry-After": retry_after})

    def outage(self) -> None:
        self.answer_next(500, {"error": "We're sorry, but something went wrong."})

    def forbid(self) -> None:
        self.answer_next(403, {"error": "You do not have permission to access this resource"})

    def _app(self, environ, start_response):
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        with self._lock:
            before = len(self.received)
        answer = super()._app(environ, start_response)
        with self._lock:
            self.received[before].query = query
        return answer

    # ---- the tenant

    def answer(self, request: Request) -> Response:
        if request.path.startswith("/webhook/"):
            return self._webhook(request)
        if not request.path.startswith("/api/v1/"):
            return _error(404, "Not Found")
        if (request.headers.get("x-user-email"), request.headers.get("x-user-token")) != (self.email, self.token):
            return _error(401, "Authentication failed: provide a valid x-user-email and x-user-token")
        if request.method != "GET":
            return _error(404, "Not Found")
        if request.path == "/api/v1/stories":
            return self._page(request, "stories", self.stories)
        if request.path in ("/api/v1/agents", "/api/v1/actions"):
            found = list(self.agents.values())
            if request.args.get("story_id"):
                found = [a for a in found if str(a.story_id) == request.args["story_id"]]
            if request.args.get("action_type"):
                found = [a for a in found if a.type == request.args["action_type"]]
            return self._page(request, "agents", [a.as_json() for a in found])
        item = _ITEM.match(request.path)
        if item and int(item[1]) in self.agents:
            return service.json_response(200, self.agents[int(item[1])].as_json())
        return _error(404, "Not Found")

    def _page(self, request: Request, key: str, items: list[dict]) -> Response:
        per_page = min(max(_int(request.args.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(_int(request.args.get("page"), 1), 1)
        pages = max(1, -(-len(items) // per_page))

        def link(number: int) -> str:
            return f"{self.url}{request.path}?{urlencode({**request.args, 'page': number, 'per_page': per_page})}"

        meta = {
            "current_page": link(page),
            "previous_page": link(page - 1) if page > 1 else None,
            "next_page": link(page + 1) if page < pages else None,
            "next_page_number": page + 1 if page < pages else None,
            "per_page": per_page,
            "pages": pages,
            "count": len(items),
        }
        return service.json_response(200, {key: items[(page - 1) * per_page: page * per_page], "meta": meta})

    def _webhook(self, request: Request) -> Response:
        parts = request.path.split("/")[2:]
        for agent in self.agents.values():
            if agent.type == WEBHOOK_AGENT and parts == [agent.options.get("path"), agent.options.get("secret")]:
                status, body, content_type = self.webhook_answer
                return Response(body, service.status_line(status), content_type=content_type)
        return _error(404, "Not Found")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _error(status: int, message: str) -> Response:
    return service.json_response(status, {"error": message})
