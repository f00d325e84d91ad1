"""The email type's hooks into the app: its `[email]` settings for each request, and the widget its
address lists use. It has no pages of its own; the generic form and `show_when` draw everything."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app

from app.types.email import rules
from app.types.fields import FormField
from app.web.widgets import Widget, register

bp = Blueprint("email", __name__)

_SEPARATORS = re.compile(r"[,;\n]")


class Addresses(Widget):
    """A list of addresses typed on one line, separated by commas (Kibana's combo box, without JS)."""

    def parse(self, raw: str) -> Any:
        return [a.strip() for a in _SEPARATORS.split(raw) if a.strip()]

    def display(self, f: FormField, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(a) for a in value)
        return "" if value is None else str(value)


register(Addresses("addresses"))


@bp.before_app_request
def _bind_email_settings() -> None:
    rules.bind(current_app.config["SWITCHBOARD"].email)


@bp.teardown_app_request
def _unbind_email_settings(exc: BaseException | None) -> None:
    rules.bind(None)
