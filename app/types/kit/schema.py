"""Schemas: the pydantic base every config, secrets and params model uses, and its form-aware Field."""

from __future__ import annotations

import types as _pytypes
import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic import Field as _Field

from app.outbound import OutboundError, check_url


class Schema(BaseModel):
    """Base for every config/secrets/params model: unknown keys are rejected, as Kibana does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EmptySchema(Schema):
    pass


def Field(  # noqa: N802 - reads like pydantic's Field, which it wraps
    default: Any = ...,
    *,
    label: str,
    help: str | None = None,
    widget: str | None = None,
    placeholder: str | None = None,
    options: str | None = None,
    show_when: dict[str, list[str]] | None = None,
    choice_labels: dict[str, str] | None = None,
    form_default: Any = None,
    **kwargs: Any,
) -> Any:
    """A schema field with what the form needs: label, help text, and an optional widget.

    Without a widget the form picks one from the annotation (see app/types/fields.py).
    `options` names the endpoint a `suggest` widget asks for choices, e.g. "bedrock.models".
    `show_when` shows the field only while other fields hold one of the listed values, e.g.
    `{"eventAction": ["acknowledge", "resolve"]}` (same section) or `{"config.authType": [...]}`;
    a checkbox reads "true" / "false", an empty select "". Several fields must all match.
    `choice_labels` names a select's values for people; `form_default` is what a new form starts with
    when it should differ from the API's default (so that the form's defaults are valid on their own).
    """
    extra = {"widget": widget, "placeholder": placeholder, "options": options, "show_when": show_when,
             "choice_labels": choice_labels, "form_default": form_default}
    return _Field(
        default,
        title=label,
        description=help,
        json_schema_extra={k: v for k, v in extra.items() if v is not None},
        **kwargs,
    )


class _UrlField:
    """Marks a URL-valued field: the framework checks it against the allowed hosts on save."""

    def __repr__(self) -> str:
        return "UrlField"


URL_FIELD = _UrlField()
URL_PARSE_ERROR = "unable to parse url"  # how the outbound layer's check_url begins its refusal


def _parse_url(value: str) -> str:
    try:
        check_url(value, ("*",))
    except OutboundError as exc:
        raise ValueError(exc.message) from None
    return value


# An absolute http(s) URL. Any field of this type, in config or secrets, is checked against
# `[outbound] allowed_hosts` when a connector is saved or imported; no type does that itself.
Url = Annotated[str, AfterValidator(_parse_url), URL_FIELD]


def _is_url(annotation: Any, metadata: list[Any]) -> bool:
    if URL_FIELD in metadata:
        return True
    if typing.get_origin(annotation) is Annotated:
        return URL_FIELD in typing.get_args(annotation)[1:]
    if typing.get_origin(annotation) in (typing.Union, _pytypes.UnionType):
        return any(_is_url(arg, []) for arg in typing.get_args(annotation))
    return False


def url_fields(model: type[BaseModel]) -> list[str]:
    """The keys of `model` declared as `Url` (or `Url | None`)."""
    return [key for key, info in model.model_fields.items() if _is_url(info.annotation, info.metadata)]


def describe_errors(exc: ValidationError) -> str:
    """One line naming each bad field, e.g. `[subActionParams.body]: Field required`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"[{loc}]: {msg}" if loc else msg)
    return "; ".join(parts)


def human_message(err: Any) -> str:
    """A pydantic error in the words a form shows next to a field, the same for every type."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "missing":
        return "Required."
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "Required." if n == 1 else f"Enter at least {n} characters."
    if kind == "string_too_long":
        return f"Use at most {ctx.get('max_length')} characters."
    if kind == "literal_error":
        return f"Choose one of: {ctx.get('expected')}."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Enter a whole number."
    if kind in ("float_parsing", "float_type"):
        return "Enter a number."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
                 "less_than_equal": "at most"}
        bound = next(iter(ctx.values()), "")
        return f"Must be {words[kind]} {bound}."
    if kind == "bool_parsing":
        return "Choose yes or no."
    if kind == "extra_forbidden":
        return "Not a setting of this connector type."
    return err["msg"].removeprefix("Value error, ")


def field_errors(section: str, exc: ValidationError) -> dict[str, str]:
    """{"config.url": message} for each bad field of one section, first message per field."""
    errors: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        key = f"{section}.{err['loc'][0]}" if err["loc"] else section
        errors.setdefault(key, human_message(err))
    return errors
