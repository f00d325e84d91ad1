"""What a connector type is: one declaration (DESIGN rule 1), knowing nothing of Flask or the database.

A type declares pydantic models for `config`, `secrets` and `params` (or a `sub_actions` map whose
entries carry their own params model), default test params, and an `execute(ctx)` method. The models
are the single source of truth: the HTML form, input validation and the API documents all read them.

`execute` returns a `Result`, or is a generator that yields text deltas as they arrive (streaming
LLM output) and returns the `Result` at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as _Field

from app.outbound import OutboundClient, Trace


class Schema(BaseModel):
    """Base for every config/secrets/params model: unknown keys are rejected, as Kibana does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def Field(  # noqa: N802 - reads like pydantic's Field, which it wraps
    default: Any = ...,
    *,
    label: str,
    help: str | None = None,  # noqa: A002 - the word the forms use
    widget: str | None = None,
    placeholder: str | None = None,
    **kwargs: Any,
) -> Any:
    """A schema field with what the form needs: label, help text, and an optional widget override.

    Widgets: text, textarea, url, password, select, checkbox, number, json (parsed), jsontext (checked
    as JSON, passed on as text), kv (name/value rows).
    Without an override the widget follows the annotation.
    """
    extra = {"label": label, "help": help, "widget": widget, "placeholder": placeholder}
    return _Field(
        default,
        title=label,
        description=help,
        json_schema_extra={k: v for k, v in extra.items() if v is not None and k != "label"},
        **kwargs,
    )


class EmptySchema(Schema):
    pass


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class Result:
    """Kibana's ActionTypeExecutorResult. `retry` is a bool, or an ISO date to retry at."""

    status: Literal["ok", "error"]
    message: str | None = None
    service_message: str | None = None
    data: Any = None
    retry: bool | str | None = None
    usage: TokenUsage | None = None
    sub_action: str | None = None

    @classmethod
    def ok(cls, data: Any = None, *, usage: TokenUsage | None = None) -> Result:
        return cls(status="ok", data=data, usage=usage)

    @classmethod
    def error(
        cls, message: str, service_message: str | None = None, *, retry: bool | str | None = False
    ) -> Result:
        return cls(status="error", message=message, service_message=service_message, retry=retry)

    @property
    def is_ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ExecutionContext:
    """Everything an executor may use. Secrets are decrypted only into this object."""

    connector_id: str
    connector_name: str
    config: Schema
    secrets: Schema
    params: Schema
    http: OutboundClient
    trace: Trace
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("switchboard.execution"))
    sub_action: str | None = None
    sub_action_params: Schema | None = None


@dataclass(frozen=True)
class SubAction:
    params: type[Schema]
    description: str = ""
    streams: bool = False
    example: dict[str, Any] | None = None  # what the test pane prefills when this sub-action is picked


class SubActionParams(Schema):
    subAction: str = Field(label="Sub-action")
    subActionParams: dict[str, Any] = Field(default_factory=dict, label="Sub-action parameters", widget="json")


ExecuteReturn = Result | Generator[str, None, Result]


class ConnectorType:
    """Subclass and register one instance per type id."""

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    config: ClassVar[type[Schema]] = EmptySchema
    secrets: ClassVar[type[Schema]] = EmptySchema
    params: ClassVar[type[Schema]] = EmptySchema
    sub_actions: ClassVar[dict[str, SubAction]] = {}
    # Kibana's param shape for sub-action types; what the test pane prefills.
    test_params: ClassVar[dict[str, Any]] = {}
    read_timeout: ClassVar[float | None] = None
    minimum_license_required: ClassVar[str] = "basic"
    supported_feature_ids: ClassVar[tuple[str, ...]] = ("alerting",)

    @property
    def params_model(self) -> type[Schema]:
        return SubActionParams if self.sub_actions else self.params

    def parse_params(self, raw: dict, connector_id: str = "", connector_name: str = "") -> tuple[Schema, str | None, Schema | None]:
        """Validate params; for sub-action types also the chosen sub-action's own params.

        Raises ParamsError with Kibana's texts.
        """
        try:
            params = self.params_model.model_validate(raw)
        except ValidationError as exc:
            raise ParamsError(f"error validating action params: {describe_errors(exc)}") from exc
        if not self.sub_actions:
            return params, None, None
        name = params.subAction
        if name not in self.sub_actions:
            raise ParamsError(
                f'Sub action "{name}" is not registered. Connector id: {connector_id}. '
                f"Connector name: {connector_name}. Connector type: {self.id}"
            )
        try:
            sub = self.sub_actions[name].params.model_validate(params.subActionParams)
        except ValidationError as exc:
            raise ParamsError(f"Request validation failed ({describe_errors(exc)})") from exc
        return params, name, sub

    def check_connector(self, config: Schema, secrets: Schema, allowed_hosts: tuple[str, ...]) -> dict[str, str]:
        """Checks across config and secrets, or against settings: {"secrets.user": "message"}."""
        return {}

    def execute(self, ctx: ExecutionContext) -> ExecuteReturn:
        raise NotImplementedError


class ParamsError(ValueError):
    pass


def describe_errors(exc: ValidationError) -> str:
    """One line naming each bad field, e.g. `[subActionParams.body]: Field required`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"[{loc}]: {msg}" if loc else msg)
    return "; ".join(parts)
