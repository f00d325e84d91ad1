"""A fake Microsoft Teams webhook, both kinds Kibana's `.teams` connector is given:

- a Workflows webhook (Power Automate, on logic.azure.com): POST /workflows/<id>/triggers/manual/paths/invoke
  with `api-version`, `sp`, `sv` and `sig` in the query; `sig` is the credential. It accepts with 202 and
  no body; a missing `sig` or a wrong one is 401, an unknown workflow 404, each with Logic Apps' JSON
  `{"error": {"code", "message"}}`; it can throttle with an HTTP 429 and Retry-After.
- an Office 365 connector webhook (the older kind, on webhook.office.com): POST /webhookb2/<…>/IncomingWebhook/<…>
  answers `1` in plain text; a body without text is 400 `Summary or Text is required.`. It reports its own
  throttling in a *200* answer whose text carries `ErrorCode:ApplicationThrottled` (what Kibana looks for).

Everything received is kept in `received` (the query strings the service read in `queries`).
"""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response, status_line

WORKFLOW_ID = "5f0e3c9a1b7d4e2f8a6c0b9d7e5f3a1c"
SIGNATURE = "tEaMsSiGnAtUrE-9xQ2vL7kP0wZ"
WORKFLOW_PATH = f"/workflows/{WORKFLOW_ID}/triggers/manual/paths/invoke"
WORKFLOW_QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
CONNECTOR_PATH = (
    "/webhookb2/2b4c6d8e-0000-4000-8000-00000000a1b2@72f988bf-0000-4000-8000-00000000c3d4"
    "/IncomingWebhook/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b/3a2b1c0d-0000-4000-8000-00000000e5f6"
)
THROTTLED_TEXT = (
    "Microsoft Teams endpoint returned HTTP error 429 with ContextId "
    "tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deEvPtFCZk6+4cZ8ORfpxA.0.. ErrorCode:ApplicationThrottled"
)


def logic_apps_error(status: int, code: str, message: str, **headers) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, **headers)


def text_answer(status: int, text: str, **headers) -> Response:
    return Response(text, status_line(status), headers=headers, content_type="text/plain; charset=utf-8")


class FakeTeams(FakeService):
    def __init__(self, **kw):
        self.queries: list[dict[str, str]] = []
        super().__init__(**kw)

    @property
    def workflow_url(self) -> str:
        return f"{self.url}{WORKFLOW_PATH}?{WORKFLOW_QUERY}&sig={SIGNATURE}"

    def workflow_url_signed(self, signature: str | None) -> str:
        return f"{self.url}{WORKFLOW_PATH}?{WORKFLOW_QUERY}" + (f"&sig={signature}" if signature is not None else "")

    @property
    def connector_url(self) -> str:
        return self.url + CONNECTOR_PATH

    # ---- faults for the next request

    def throttle_in_a_200(self, retry_after: str | None = "60") -> None:
        """The Office 365 connector's way: a 200 whose text says it was throttled."""
        self.answer_next(200, THROTTLED_TEXT, {"Retry-After": retry_after} if retry_after is not None else {})

    def throttle(self, retry_after: str = "60") -> None:
        """The Workflows way: an HTTP 429."""
        self.answer_next(429, {"error": {"code": "WorkflowRequestsThrottled",
                                         "message": "Number of requests exceeded the limit. Retry later."}},
                         {"Retry-After": retry_after})

    def outage(self, status: int = 503) -> None:
        self.answer_next(status, {"error": {"code": "ServiceUnavailable",
                                            "message": "The service is temporarily unavailable."}})

    # ---- the service

    def answer(self, request: Request) -> Response:
        self.queries.append(dict(request.args))
        if request.method != "POST":
            return text_answer(405, "Method Not Allowed")
        if request.path == CONNECTOR_PATH:
            return self._connector(request)
        if request.path.startswith("/workflows/"):
            return self._workflow(request)
        return text_answer(404, "Not Found")

    def _workflow(self, request: Request) -> Response:
        if request.path != WORKFLOW_PATH:
            workflow = request.path.split("/")[2]
            return logic_apps_error(404, "WorkflowNotFound", f"The workflow '{workflow}' could not be found.")
        if "sig" not in request.args:
            return logic_apps_error(401, "DirectApiAuthorizationRequired",
                                    "The request must be authenticated only by Shared Access scheme.")
        if request.args["sig"] != SIGNATURE:
            return logic_apps_error(401, "DirectApiInvalidAuthorizationSignature",
                                    "The provided authorization signature is not valid.")
        try:
            json.loads(request.get_data())
        except ValueError:
            return logic_apps_error(400, "InvalidRequestContent", "The request content is not valid JSON.")
        return Response(b"", status_line(202))

    def _connector(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return text_answer(400, "Bad payload received by generic incoming webhook.")
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("summary")):
            return text_answer(400, "Summary or Text is required.")
        return text_answer(200, "1")
