"""What a connector type is: one declaration (DESIGN rule 1), knowing nothing of Flask or the database.

A type declares pydantic models for `config`, `secrets` and `params`, a valid `example` connector and
`test_params`, and either an `execute(ctx)` method (classic types) or handler methods marked with
`@sub_action(...)`, which the framework validates, dispatches and documents. A handler returns a
`Result`, or is a generator that yields text deltas as they arrive and returns the `Result` at the end
(streaming LLM output). Raising `Failed(result)` anywhere in a handler ends the run with that result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError

from app.outbound import MASK, BoundHttp, OutboundError, check_url
from app.types.kit.cases import CaseView
from app.types.kit.context import Context
from app.types.kit.result import Failed, Result
from app.types.kit.schema import (
    URL_PARSE_ERROR,
    EmptySchema,
    Field,
    Schema,
    describe_errors,
    field_errors,
    url_fields,
)

ExecuteReturn = Result | Generator[str, None, Result]


@dataclass(frozen=True)
class SubAction:
    name: str
    params: type[Schema]
    handler: str  # the method's name on the type
    description: str = ""
    example: dict[str, Any] | None = None  # valid params; what the test pane prefills when it is picked
    streams: bool = False  # the handler is a generator of text deltas


def sub_action(
    name: str, params: type[Schema] = EmptySchema, description: str = "", *, example: dict[str, Any] | None = None
) -> Callable:
    """Mark a method as the handler of sub-action `name` (Kibana's `subAction`). Stack it for aliases."""

    def mark(method: Callable) -> Callable:
        method.__dict__.setdefault("_sub_actions", []).insert(0, (name, params, description, example))
        return method

    return mark


def lookup(name: str, params: type[Schema] = EmptySchema, description: str = "") -> Callable:
    """Mark a method as a lookup: a call that fills a form's choices from the service (e.g. the models
    Bedrock lists) without being one of Kibana's sub-actions. It runs through the one execution path
    (validated settings, masked trace, an event row) but is not offered by `_execute` or the API docs."""

    def mark(method: Callable) -> Callable:
        method.__dict__["_lookup"] = (name, params, description)
        return method

    return mark


class SubActionParams(Schema):
    subAction: str = Field(label="Sub-action")
    subActionParams: dict[str, Any] = Field(default_factory=dict, label="Sub-action parameters", widget="json")


class ParamsError(ValueError):
    """Run params that the type refuses; the message is Kibana's text."""


class InvalidSettings(ValueError):
    """Config or secrets that the type refuses: `errors` maps "config.url" / "secrets.x" to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"[{k}]: {v}" for k, v in errors.items()))
        self.errors = errors


class ConnectorType:
    """Subclass, declare, and register one instance per type id in app/types/__init__.py."""

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    # The icon's file under static/icons/types/ without ".svg"; None means the type's slug
    # (`.server-log` -> `server_log`), and a type with no file of its own gets the generic glyph.
    icon: ClassVar[str | None] = None
    config: ClassVar[type[Schema]] = EmptySchema
    secrets: ClassVar[type[Schema]] = EmptySchema
    params: ClassVar[type[Schema]] = EmptySchema  # classic types; sub-action types declare per handler
    # A connector this type accepts, as {"config": {...}, "secrets": {...}}: docs, API examples, tests.
    example: ClassVar[dict[str, dict[str, Any]]] = {"config": {}, "secrets": {}}
    # What the test pane prefills (Kibana's param shape; for sub-action types {subAction, subActionParams}).
    test_params: ClassVar[dict[str, Any]] = {}
    # The message that prefixes a URL field's allowed-hosts error (Kibana's wording differs by type).
    config_error_prefix: ClassVar[str] = "error validating action type config"
    # Kibana's own words for a URL field that cannot be parsed, by key ("secrets.webhookUrl": "…"); the
    # kit's words quote the URL, which a secret URL must never have quoted back.
    url_parse_errors: ClassVar[dict[str, str]] = {}
    # What a run's `data` is, in the test pane's words (Kibana's API answers a webhook's body there).
    data_label: ClassVar[str] = "Result data"
    read_timeout: ClassVar[float | None] = None
    # The overall deadline of a run (seconds) when the type has its own; else [outbound] run_timeout.
    run_timeout: ClassVar[float | None] = None
    minimum_license_required: ClassVar[str] = "basic"
    supported_feature_ids: ClassVar[tuple[str, ...]] = ("alerting",)
    # False for types that never leave the process (server log): no fake service to test against.
    calls_out: ClassVar[bool] = True
    sub_actions: ClassVar[dict[str, SubAction]] = {}
    lookups: ClassVar[dict[str, SubAction]] = {}
    # True for types that write to the `[elasticsearch]` cluster: their runs get `ctx.elasticsearch`.
    uses_elasticsearch: ClassVar[bool] = False
    # Set by types a case can be pushed to (see app/types/kit/cases.py): the per-case choices.
    case_fields: ClassVar[type[Schema] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, SubAction] = {}
        lookups: dict[str, SubAction] = {}
        for klass in reversed(cls.__mro__):
            for attr, member in vars(klass).items():
                for name, params, description, example in getattr(member, "_sub_actions", ()):
                    streams = inspect.isgeneratorfunction(member)
                    found[name] = SubAction(name, params, attr, description, example, streams)
                if hasattr(member, "_lookup"):
                    name, params, description = member._lookup
                    lookups[name] = SubAction(name, params, attr, description)
        if found.keys() & lookups.keys():
            raise TypeError(f"{cls.__name__}: {sorted(found.keys() & lookups.keys())} are both sub-actions and lookups")
        cls.sub_actions, cls.lookups = found, lookups

    # ------------------------------------------------------------- validation

    @property
    def params_model(self) -> type[Schema]:
        return SubActionParams if self.sub_actions else self.params

    def check(self, config: Any, secrets: Any) -> dict[str, str]:
        """Checks across fields (a password that basic auth needs): {"secrets.password": "message"}."""
        return {}

    def validate_connector(
        self, config: dict[str, Any], secrets: dict[str, Any] | None, *, allowed_hosts: tuple[str, ...] | None = None
    ) -> tuple[Any, Any]:
        """Config and secrets as the type's models, every problem at once; raises InvalidSettings.

        The one validation for saving, importing and running. With `allowed_hosts`, every `Url` field
        of config and secrets is also checked against them (the outbound client checks again per call).
        `secrets=None` checks the config alone (an import carries no secrets).
        """
        errors: dict[str, str] = {}
        validated: dict[str, Any] = {}
        for section, model, values in (("config", self.config, config), ("secrets", self.secrets, secrets)):
            if values is not None:
                validated[section] = self._section(section, model, values, errors)
        if allowed_hosts is not None:
            for section, model in validated.items():
                errors.update(self._host_errors(section, model, allowed_hosts))
        if all(m is not None for m in validated.values()):
            given_secrets = validated.get("secrets") or self.secrets.model_construct()
            for key, message in self.check(validated["config"], given_secrets).items():
                if secrets is not None or not key.startswith("secrets."):
                    errors.setdefault(key, message)
        for key, message in self.url_parse_errors.items():  # the type's own words, quoting nothing
            if errors.get(key, "").startswith(f"{self.config_error_prefix}: {URL_PARSE_ERROR}"):
                errors[key] = message
        if errors:
            raise InvalidSettings(errors)
        return validated["config"], validated.get("secrets")

    def _section(self, section: str, model: type[Schema], values: dict[str, Any], errors: dict[str, str]) -> Any:
        """The section's model, or None with its problems added to `errors`."""
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            found = field_errors(section, exc)
        for key in url_fields(model):  # Kibana words a bad URL with the type's own prefix, too
            message = found.get(f"{section}.{key}", "")
            if message.startswith(URL_PARSE_ERROR):
                found[f"{section}.{key}"] = f"{self.config_error_prefix}: {message}"
        if section == "secrets":  # a message may quote what was typed (a bad URL): never a secret
            secrets = sorted((v for v in values.values() if isinstance(v, str) and len(v) >= 4), key=len, reverse=True)
            for key, message in found.items():
                for value in secrets:
                    message = message.replace(value, MASK)
                found[key] = message
        errors.update(found)
        return None

    def _host_errors(self, section: str, model: Schema | None, allowed_hosts: tuple[str, ...]) -> dict[str, str]:
        errors = {}
        for key in url_fields(type(model)) if model is not None else ():
            value = getattr(model, key)
            try:
                if value:
                    check_url(value, allowed_hosts)
            except OutboundError as exc:
                errors[f"{section}.{key}"] = f"{self.config_error_prefix}: {exc.message}"
        return errors

    def parse_params(self, raw: dict, connector_id: str = "", connector_name: str = "") -> tuple[str | None, Schema]:
        """The sub-action's name (None for classic types) and its validated params.

        Raises ParamsError with Kibana's texts.
        """
        try:
            params = self.params_model.model_validate(raw)
        except ValidationError as exc:
            raise ParamsError(f"error validating action params: {describe_errors(exc)}") from exc
        if not isinstance(params, SubActionParams):
            return None, params
        name = params.subAction
        if name not in self.sub_actions:
            raise ParamsError(
                f'Sub action "{name}" is not registered. Connector id: {connector_id}. '
                f"Connector name: {connector_name}. Connector type: {self.id}"
            )
        try:
            return name, self.sub_actions[name].params.model_validate(params.subActionParams)
        except ValidationError as exc:
            raise ParamsError(f"Request validation failed ({describe_errors(exc)})") from exc

    def context(
        self, connector_id: str, connector_name: str, config: dict[str, Any], secrets: dict[str, Any],
        raw_params: dict[str, Any], *, http: BoundHttp, tokens: Any, lookup: str | None = None,
        elasticsearch: Any = None,
    ) -> Context:
        """A run's context from stored values (for a lookup when named); raises InvalidSettings or ParamsError."""
        config_model, secrets_model = self.validate_connector(config, secrets)
        if lookup is None:
            name, params = self.parse_params(raw_params, connector_id, connector_name)
        elif lookup not in self.lookups:
            raise ParamsError(f'Lookup "{lookup}" is not registered. Connector type: {self.id}')
        else:
            try:
                name, params = lookup, self.lookups[lookup].params.model_validate(raw_params)
            except ValidationError as exc:
                raise ParamsError(f"Request validation failed ({describe_errors(exc)})") from exc
        return Context(connector_id, connector_name, config_model, secrets_model, params, http, tokens, name,
                       elasticsearch)

    # ------------------------------------------------------------- running

    def run(self, ctx: Context) -> ExecuteReturn:
        """Dispatch to the sub-action's handler, or `execute` for classic types."""
        spec = (self.sub_actions.get(ctx.sub_action) or self.lookups[ctx.sub_action]) if ctx.sub_action else None
        handler = getattr(self, spec.handler) if spec else self.execute
        try:
            out = handler(ctx)
        except Failed as failed:
            return failed.result
        return _ending_failed(out) if inspect.isgenerator(out) else out

    def connector_deprecated(self, config: dict[str, Any] | None) -> bool:
        """Whether a connector with this stored config is deprecated (Kibana's `isConnectorDeprecated`:
        ServiceNow connectors on the legacy Table API); the API's `is_deprecated`."""
        return False

    def case_incident(self, case: CaseView, fields: Any) -> dict[str, Any]:
        """The `incident` of this type's `pushToService` params for `case` (types with `case_fields`)."""
        raise NotImplementedError(f"{self.id} cannot receive cases")

    def execute(self, ctx: Context) -> ExecuteReturn:
        raise NotImplementedError(f"{self.id} declares neither execute() nor sub-actions")


def _ending_failed(stream: Generator[str, None, Result]) -> Generator[str, None, Result]:
    """A streaming handler may raise Failed between deltas too."""
    try:
        return (yield from stream)
    except Failed as failed:
        return failed.result
