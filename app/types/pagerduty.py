"""PagerDuty — `.pagerduty` (connector-types.md §17): trigger, acknowledge or resolve alerts through the
PagerDuty Events API v2.

As Kibana does, the routing key travels in the `X-Routing-Key` header, not as `routing_key` in the body;
acknowledge and resolve send only the event action and the dedup key. Any answer but 202 is an error:
429 and 5xx are worth retrying, anything else is final.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from pydantic import field_validator, model_validator

from app.types.kit import ConnectorType, Context, Field, OutboundError, OutboundResponse, Result, Schema, Url, http

PAGER_DUTY_API_URL = "https://events.pagerduty.com/v2/enqueue"
POSTING_ERROR = "error posting pagerduty event"
NEEDS_DEDUP_KEY = ("acknowledge", "resolve")
# The payload fields PagerDuty reads only on a trigger; the test pane shows them only then ("" is the default).
ON_TRIGGER = {"eventAction": ["", "trigger"]}
# moment() reads what is not ISO 8601 or RFC 2822 with JavaScript's Date; these are its common shapes.
DATE_FALLBACKS = (
    "%Y-%m", "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y", "%m/%d/%Y %H:%M:%S",
    "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y %H:%M:%S", "%b %d, %Y %H:%M:%S",
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTEGER = re.compile(r"^(0|-?[1-9][0-9]*)$")  # what JSON.stringify(parseInt(s)) gives back unchanged
EXAMPLE_KEY = "e93facc04764012d7bfb002500d5d1a6"


class PagerDutyConfig(Schema):
    apiUrl: Url | None = Field(
        None, label="API URL", help=f"Optional; the Events API v2 endpoint, {PAGER_DUTY_API_URL} when blank.",
        placeholder=PAGER_DUTY_API_URL,
    )

    @field_validator("apiUrl", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        return None if value == "" else value  # Kibana posts to its default URL when apiUrl is ""


class PagerDutySecrets(Schema):
    routingKey: str = Field(
        label="Integration key",
        help="The 32-character integration key (routing key) of an Events API v2 integration on a service.",
    )


class Link(Schema):
    href: str
    text: str


class PagerDutyParams(Schema):
    eventAction: Literal["trigger", "resolve", "acknowledge"] = Field("trigger", label="Event action")
    dedupKey: str | None = Field(
        None, label="DedupKey", max_length=255,
        help="Identifies the alert: required to acknowledge or resolve it; optional on a trigger.",
    )
    summary: str | None = Field(None, label="Summary", max_length=1024, show_when=ON_TRIGGER,
                                help="Default: No summary provided.")
    severity: Literal["critical", "error", "warning", "info"] = Field("info", label="Severity", show_when=ON_TRIGGER)
    timestamp: str | None = Field(None, label="Timestamp", show_when=ON_TRIGGER,
                                  help="Optional: an ISO 8601 date such as 2025-01-31T09:30:00Z, or epoch milliseconds.")
    component: str | None = Field(None, label="Component", show_when=ON_TRIGGER)
    group: str | None = Field(None, label="Group", show_when=ON_TRIGGER)
    source: str | None = Field(None, label="Source", show_when=ON_TRIGGER,
                               help="Default: Kibana Action <connector id>.")
    class_: str | None = Field(None, alias="class", label="Class", show_when=ON_TRIGGER)
    customDetails: dict[str, Any] | None = Field(None, label="Custom details", widget="json", show_when=ON_TRIGGER,
                                                 help="Optional: a JSON object, sent as custom_details.")
    links: list[Link] | None = Field(None, label="Links", widget="json", show_when=ON_TRIGGER,
                                     help='Optional: a JSON list of {"href": …, "text": …}.')

    @field_validator("customDetails", mode="before")
    @classmethod
    def _json_text_is_read(cls, value: Any) -> Any:
        if isinstance(value, str):  # Kibana's schema takes the object as JSON text too
            try:
                return http.strict_json(value)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _kibana_rules(self) -> PagerDutyParams:
        converted = converted_timestamp(self.timestamp)
        if converted is not None and event_time(converted) is None:
            raise ValueError(f'error parsing timestamp "{self.timestamp}"')
        if self.eventAction in NEEDS_DEDUP_KEY and not self.dedupKey:
            raise ValueError(f'DedupKey is required when eventAction is "{self.eventAction}"')
        return self


# ---------------------------------------------------------------- timestamps, read as Kibana reads them


def converted_timestamp(timestamp: str | None) -> str | int | None:
    """Kibana's convertTimestamp: trimmed text, epoch milliseconds when it is a plain integer, None when blank."""
    text = (timestamp or "").strip()
    if not text:
        return None
    return int(text) if INTEGER.match(text) else text


def event_time(value: str | int) -> datetime | None:
    """The moment `value` names (ISO 8601, RFC 2822, a common date shape, or epoch ms); None if it names none.

    A date without an offset is read as UTC, where Kibana reads it in its server's time zone.
    """
    if isinstance(value, int):
        try:
            return EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        pass
    try:
        return _aware(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        pass
    for shape in DATE_FALLBACKS:
        try:
            return _aware(datetime.strptime(value, shape))
        except ValueError:
            continue
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_string(moment: datetime) -> str:
    """JavaScript's toISOString: UTC with milliseconds, e.g. 1963-09-23T01:23:45.000Z."""
    u = moment.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------- the event


def event_body(connector_id: str, params: PagerDutyParams) -> dict[str, Any]:
    """Kibana's getBodyForEventAction: acknowledge and resolve carry only the action and the dedup key."""
    body: dict[str, Any] = {"event_action": params.eventAction}
    if params.dedupKey:
        body["dedup_key"] = params.dedupKey
    if params.eventAction in NEEDS_DEDUP_KEY:
        return body
    payload: dict[str, Any] = {
        "summary": params.summary or "No summary provided.",
        "source": params.source or f"Kibana Action {connector_id}",
        "severity": params.severity,
    }
    converted = converted_timestamp(params.timestamp)
    moment = event_time(converted) if converted else None  # epoch 0 is falsy to Kibana: no timestamp
    if moment is not None:
        payload["timestamp"] = iso_string(moment)
    for key, value in (("component", params.component), ("group", params.group), ("class", params.class_)):
        if value is not None:
            payload[key] = value
    if params.customDetails is not None:
        payload["custom_details"] = params.customDetails
    body["payload"] = payload
    if params.links is not None:
        body["links"] = [link.model_dump() for link in params.links]
    return body


def pagerduty_says(response: OutboundResponse) -> str:
    """PagerDuty's own explanation beside the status: its message and the errors it lists."""
    answer = http.json_or_none(response)
    listed = answer.get("errors") if isinstance(answer, dict) else None
    parts = [http.service_text(response), *(map(str, listed) if isinstance(listed, list) else ())]
    text = ": ".join(filter(None, [parts[0], "; ".join(parts[1:])]))
    return f"[{response.status_code}] {response.reason}" + (f": {text}" if text else "")


def answered(response: OutboundResponse) -> Result:
    """Kibana's reading of PagerDuty's answer: 202 is the only success."""
    status = response.status_code
    if status == 202:
        data = http.json_or_none(response)
        return Result.ok(data if data is not None else response.text)
    if status == 429 or status >= 500:
        # Kibana retries later; a Retry-After PagerDuty sends says when.
        when = http.retry_at(response.headers.get("Retry-After")) if status == 429 else None
        return Result.error(f"{POSTING_ERROR}: http status {status}, retry later", pagerduty_says(response),
                            retry=when or True)
    return Result.error(f"{POSTING_ERROR}: unexpected status {status}", pagerduty_says(response), retry=False)


class PagerDuty(ConnectorType):
    id = ".pagerduty"
    name = "PagerDuty"
    description = "Send an event in PagerDuty."
    config = PagerDutyConfig
    secrets = PagerDutySecrets
    params = PagerDutyParams
    example = {"config": {"apiUrl": PAGER_DUTY_API_URL}, "secrets": {"routingKey": EXAMPLE_KEY}}
    test_params = {"eventAction": "trigger", "summary": "Test event from Switchboard", "severity": "info"}
    config_error_prefix = "error configuring pagerduty action"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem", "workflows")

    def execute(self, ctx: Context[PagerDutyConfig, PagerDutySecrets, PagerDutyParams]) -> Result:
        headers = {"Content-Type": "application/json", "X-Routing-Key": ctx.secrets.routingKey}
        body = json.dumps(event_body(ctx.connector_id, ctx.params))
        try:
            response = ctx.http.request("POST", ctx.config.apiUrl or PAGER_DUTY_API_URL, headers=headers, data=body)
        except OutboundError as exc:
            return Result.error(POSTING_ERROR, f"[{exc.code}] {exc.message}", retry=http.is_retryable(exc))
        return answered(response)
