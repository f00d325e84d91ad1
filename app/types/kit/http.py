"""What every type does over HTTP: read a service's error text, honour Retry-After, decide retries,
and the common "send JSON, 2xx is ok, 429/5xx retry, else the service's message" call.

Two error styles exist in Kibana and both are kept, since their texts are the spec:
- classic types (webhook, Slack, PagerDuty…): `error <doing what>, retry later` with `[status] reason: text`;
- sub-action types (Bedrock, Jira, Tines…): Kibana's generic text with `Status code: N. Message: …`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from app.json_limits import json_too_deep
from app.outbound import BoundHttp, OutboundError, OutboundResponse
from app.types.kit.result import GENERIC_ERROR, Failed, Result

# Outbound failures worth trying again: the service may answer next time.
RETRYABLE_CODES = frozenset({"connection_refused", "connection_failed", "connect_timeout", "read_timeout", "run_timeout"})
SERVICE_TEXT_LIMIT = 300


def is_retryable(exc: OutboundError) -> bool:
    return exc.code in RETRYABLE_CODES


def retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def strict_json(text: str | bytes) -> Any:
    """Parse JSON as JavaScript's JSON.parse does (Kibana's reading): NaN and Infinity are refused."""
    too_deep = json_too_deep(text)
    if too_deep:
        raise ValueError(too_deep)
    return json.loads(text, parse_constant=_not_json)


def json_or_none(response: OutboundResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def service_text(response: OutboundResponse, limit: int = SERVICE_TEXT_LIMIT) -> str:
    """The service's own explanation: a JSON `message`/`error_description`/`error`, else the start of the body."""
    body = json_or_none(response)
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return body[key]
            if isinstance(body.get(key), dict) and isinstance(body[key].get("message"), str):
                return body[key]["message"]  # {"error": {"message": …}} (OpenAI, Graph, Google)
    text = response.text.strip()
    return text[:limit] + ("…" if len(text) > limit else "")


def retry_at(retry_after: str | None) -> str | None:
    """Retry-After (seconds or an HTTP date) as an ISO date, or None when absent or unreadable."""
    if not retry_after:
        return None
    try:
        when = datetime.now(UTC) + timedelta(seconds=int(retry_after))
    except OverflowError:  # more seconds than a date can hold: a throttle without a readable date
        return None
    except ValueError:
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- classic style


def request_failed(exc: OutboundError, doing: str) -> Result:
    """No HTTP answer at all (refused, timed out, host not allowed…)."""
    return Result.error(f"error {doing}, request failed", f"[{exc.code}] {exc.message}", retry=is_retryable(exc))


def response_failed(response: OutboundResponse, doing: str, messages: dict[int, str] | None = None) -> Result:
    """A non-2xx answer: 429 retries at Retry-After (or later), 5xx later, anything else is final.

    `messages` gives a type's own words for some statuses (Torq's 401 "unauthorised").
    """
    detail = f"[{response.status_code}] {response.reason}"
    explanation = service_text(response)
    if explanation:
        detail += f": {explanation}"
    if response.status_code == 429:
        when = retry_at(response.headers.get("Retry-After"))
        if when:
            return Result.error(f"error {doing}, retry at {when}", detail, retry=when)
        return Result.error(f"error {doing}, retry later", detail, retry=True)
    own = (messages or {}).get(response.status_code)
    if response.status_code >= 500:
        return Result.error(own or f"error {doing}, retry later", detail, retry=True)
    return Result.error(own or f"error {doing}, invalid response", detail, retry=False)


def send(
    http: BoundHttp, method: str, url: str, *, doing: str, messages: dict[int, str] | None = None, **kwargs: Any
) -> OutboundResponse:
    """One request; a 2xx response comes back, anything else raises Failed with the classic texts."""
    try:
        response = http.request(method, url, **kwargs)
    except OutboundError as exc:
        raise Failed(request_failed(exc, doing)) from None
    if not response.ok:
        raise Failed(response_failed(response, doing, messages))
    return response


def post_json(http: BoundHttp, url: str, body: Any, *, doing: str, headers: dict[str, str] | None = None) -> Result:
    """POST a JSON body; ok with the service's JSON answer (or None), else the classic error texts."""
    try:
        response = send(http, "POST", url, doing=doing, data=json.dumps(body),
                        headers={"Content-Type": "application/json", **(headers or {})})
    except Failed as failed:
        return failed.result
    return Result.ok(json_or_none(response))


# ---------------------------------------------------------------- sub-action style


def status_failed(status: int, text: str) -> Result:
    """The sub-action framework's wrapper around a type's own reading of an error response."""
    return Result.error(GENERIC_ERROR, f"Status code: {status}. Message: {text}", retry=retryable_status(status))


def unexpected_error(exc: OutboundError) -> Result:
    return Result.error(GENERIC_ERROR, f"Unexpected API Error: {exc.code} - {exc.message}", retry=is_retryable(exc))


def undefined_status(exc: OutboundError) -> Result:
    """No status came back, in the words of Kibana's sub-action connectors that print an undefined status
    (Tines, XSOAR): `Status code: undefined. Message: Error: …`."""
    return Result.error(GENERIC_ERROR, f"Status code: undefined. Message: Error: {exc.message}",
                        retry=is_retryable(exc))


def invalid_response(detail: str) -> Result:
    return Result.error(GENERIC_ERROR, f"Response validation failed ({detail})", retry=False)


def json_object(response: OutboundResponse) -> dict[str, Any]:
    """The response's JSON object; raises Failed with Kibana's response-validation text otherwise."""
    data = json_or_none(response)
    if data is None:
        raise Failed(invalid_response("Response is not a valid JSON"))
    if not isinstance(data, dict):
        raise Failed(invalid_response("Response is not a valid JSON object"))
    return data


def api_error_text(response: OutboundResponse) -> str:
    """A default getResponseErrorMessage: `API Error: <reason> - <service text>`."""
    explanation = service_text(response)
    return f"API Error: {response.reason}" + (f" - {explanation}" if explanation else "")


def status_text_error(response: OutboundResponse) -> str:
    """A getResponseErrorMessage that reads only the status text, never the body (Tines, XSOAR)."""
    if response.reason:
        return f"API Error: {response.reason}"
    return f"AxiosError: Request failed with status code {response.status_code}"


def call_api(
    http: BoundHttp, method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None,
    error_text: Callable[[OutboundResponse], str] = api_error_text,
    unanswered: Callable[[OutboundError], Result] = unexpected_error, **kwargs: Any,
) -> OutboundResponse:
    """A sub-action's JSON call: a 2xx response, else Failed with `Status code: N. Message: …`.

    `error_text(response)` is the type's own reading of an error body (Kibana's getResponseErrorMessage);
    `unanswered(exc)` its result when no answer came at all (refused, timed out, host not allowed).
    """
    if body is not None:
        kwargs["data"] = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        response = http.request(method, url, headers=headers, **kwargs)
        if not response.ok:
            if kwargs.get("stream"):
                response.content  # noqa: B018 - a streamed error still has a body to read
            raise Failed(status_failed(response.status_code, error_text(response)))
    except OutboundError as exc:
        raise Failed(unanswered(exc)) from None
    return response
