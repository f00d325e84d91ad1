"""Reads a type's pydantic models as a list of form fields, so one declaration drives every form."""

from __future__ import annotations

import types as _pytypes
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from app.types.kit.schema import url_fields


@dataclass(frozen=True)
class FormField:
    key: str  # the schema key, e.g. "apiUrl"
    label: str
    widget: str
    required: bool
    help: str | None = None
    placeholder: str | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    max_length: int | None = None
    options: str | None = None  # the endpoint a `suggest` widget asks for choices
    show_when: dict[str, list[str]] | None = None  # shown only while these fields hold these values
    choice_labels: dict[str, str] | None = None  # a select's values as people read them


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, _pytypes.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _widget_for(annotation: Any) -> tuple[str, tuple[str, ...]]:
    inner, _ = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "select", tuple(str(a) for a in typing.get_args(inner))
    if inner is bool:
        return "checkbox", ()
    if inner in (int, float):
        return "number", ()
    if origin is dict and typing.get_args(inner) == (str, str):
        return "kv", ()
    if inner is str:
        return "text", ()
    return "json", ()


def _max_length(info: FieldInfo) -> int | None:
    for meta in info.metadata:
        if getattr(meta, "max_length", None) is not None:
            return meta.max_length
    return None


def form_fields(model: type[BaseModel], *, secret: bool = False) -> list[FormField]:
    fields = []
    urls = set(url_fields(model))
    for key, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        widget, choices = _widget_for(info.annotation)
        widget = extra.get("widget") or ("url" if key in urls else widget)
        if secret and widget == "text":
            widget = "password"
        default = None
        if extra.get("form_default") is not None:
            default = extra["form_default"]
        elif info.default is not PydanticUndefined:
            default = info.default
        elif info.default_factory is not None:
            default = info.default_factory()
        fields.append(
            FormField(
                key=key,
                label=info.title or key,
                widget=widget,
                required=info.is_required(),
                help=info.description,
                placeholder=extra.get("placeholder"),
                default=default,
                choices=choices,
                secret=secret,
                max_length=_max_length(info),
                options=extra.get("options"),
                show_when=extra.get("show_when"),
                choice_labels=extra.get("choice_labels"),
            )
        )
    return fields
