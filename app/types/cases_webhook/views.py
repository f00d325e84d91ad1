"""Webhook - Case Management's own part of the connector form: template fields that offer their variables.

Served under /types/.cases-webhook/ (app/web/type_views.py finds `bp`); the blueprint carries only the
small script that inserts a clicked variable into its field. Each template field lists the variables
Kibana's picker offers for it (mustache.FIELD_VARIABLES); without JavaScript the list still shows them.
"""

from __future__ import annotations

from flask import Blueprint

from app.types.cases_webhook.mustache import FIELD_VARIABLES, Variable
from app.types.cases_webhook.schemas import JSON_TEMPLATE, URL_TEMPLATE
from app.web.widgets import Widget, register

bp = Blueprint("cases_webhook", __name__, template_folder="templates", static_folder="static")


class CaseTemplate(Widget):
    """A template's text with a button per variable it may hold; a click inserts `{{{variable}}}` at the caret."""

    template = "cases_webhook/template_field.html"

    def __init__(self, name: str, *, multiline: bool):
        super().__init__(name)
        self.multiline = multiline

    def variables(self, key: str) -> tuple[Variable, ...]:
        return FIELD_VARIABLES.get(key, ())


register(CaseTemplate(JSON_TEMPLATE, multiline=True))
register(CaseTemplate(URL_TEMPLATE, multiline=False))
