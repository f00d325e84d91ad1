"""TheHive's settings, params and the answers Kibana insists on (connector-types.md §28).

Severity and TLP are TheHive 5's numbers (TLP 2.0: CLEAR … RED, with AMBER+STRICT at 3), named as Kibana's
selects name them. Kibana coerces them from strings (`z.coerce.number`); a form's select posts strings too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from app.types.kit import Field, Schema, Url

SEVERITY_NAMES = {"1": "LOW", "2": "MEDIUM", "3": "HIGH", "4": "CRITICAL"}
TLP_NAMES = {"0": "CLEAR", "1": "GREEN", "2": "AMBER", "3": "AMBER+STRICT", "4": "RED"}
MEDIUM, AMBER = 2, 2
# Kibana's Cases severities as TheHive's numbers (its format.ts; anything else is MEDIUM).
CASE_SEVERITY = {"low": 1, "medium": 2, "high": 3, "critical": 4}

Severity = Literal[1, 2, 3, 4]
Tlp = Literal[0, 1, 2, 3, 4]


def coerce_number(value: Any) -> Any:
    """A numeric string as its number, as `z.coerce.number` reads it; anything else is left to the schema."""
    if isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def severity_field(**kw: Any) -> Any:
    return Field(None, label="Severity", choice_labels=SEVERITY_NAMES, form_default=MEDIUM, **kw)


def tlp_field(**kw: Any) -> Any:
    return Field(None, label="TLP", choice_labels=TLP_NAMES, form_default=AMBER,
                 help="Traffic Light Protocol: who the information may be shared with.", **kw)


def tags_field() -> Any:
    return Field(None, label="Tags", widget="thehive_tags", help="Separated by commas.")


class TheHiveConfig(Schema):
    url: Url = Field(label="URL", placeholder="https://thehive.example.com",
                     help="The address of your TheHive instance; its API is under /api/v1.")
    organisation: str | None = Field(
        None, label="Organisation",
        help="By default, it uses the default organisation of the API key owner.",
    )


class TheHiveSecrets(Schema):
    apiKey: str = Field(label="API key")


class _Numbers(Schema):
    @field_validator("severity", "tlp", mode="before", check_fields=False)
    @classmethod
    def _coerced(cls, value: Any) -> Any:
        return coerce_number(value)


class Incident(_Numbers):
    title: str = Field(label="Title")
    description: str = Field(label="Description", widget="textarea")
    externalId: str | None = Field(
        None, label="Case id to update", help="Leave blank to create a new case; a case's _id updates that case.",
    )
    severity: Severity | None = severity_field()
    tlp: Tlp | None = tlp_field()
    tags: list[str] | None = tags_field()


class PushComment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment id")


class PushParams(Schema):
    incident: Incident = Field(label="Case", widget="thehive_incident")
    comments: list[PushComment] | None = Field(
        None, label="Additional comments", help='Optional: [{"commentId": "c-1", "comment": "…"}], each added to the case.',
    )


class CreateAlertParams(_Numbers):
    title: str = Field(label="Title")
    description: str = Field(label="Description", widget="textarea")
    type: str = Field(label="Type")
    source: str = Field(label="Source")
    sourceRef: str = Field(label="Source reference", help="Unique per alert for this type and source.")
    severity: Severity | None = severity_field()
    isRuleSeverity: bool | None = Field(False, label="Keep severity from rule",
                                        help="Used when a rule runs the connector; a test keeps the severity above.")
    tlp: Tlp | None = tlp_field()
    tags: list[str] | None = tags_field()
    body: str | None = Field(
        None, label="Body", widget="jsontext",
        help="Additional body parameters such as observables, procedures (TTPs), and custom fields to include "
        "in the API request.",
    )


class GetIncidentParams(Schema):
    externalId: str = Field(label="Case id", help="The case's _id, e.g. ~41080.")


class CaseFields(Schema):
    """What Kibana's Cases keeps per case for TheHive (`TheHiveFieldsSchema`)."""

    tlp: Tlp | None = Field(None, label="TLP", choice_labels=TLP_NAMES,
                            help="Traffic Light Protocol of the case in TheHive; blank leaves TheHive's default.")

    @field_validator("tlp", mode="before")
    @classmethod
    def _coerced(cls, value: Any) -> Any:
        return coerce_number(value)


# ---- the answers: the fields Kibana's response schemas require, by JavaScript type

_CASE = {
    "_id": "string", "_type": "string", "_createdBy": "string", "_createdAt": "number", "number": "number",
    "title": "string", "description": "string", "severity": "number", "severityLabel": "string",
    "startDate": "number", "flag": "boolean", "tlp": "number", "tlpLabel": "string", "pap": "number",
    "papLabel": "string", "status": "string", "stage": "string", "extraData": "Object", "newDate": "number",
    "timeToDetect": "number",
}
_COMMENT = {
    "_id": "string", "_type": "string", "createdBy": "string", "createdAt": "number", "message": "string",
    "isEdited": "boolean", "extraData": "Object",
}
_ALERT = {
    "_id": "string", "_type": "string", "_createdBy": "string", "_createdAt": "number", "type": "string",
    "source": "string", "sourceRef": "string", "title": "string", "description": "string", "severity": "number",
    "severityLabel": "string", "date": "number", "tlp": "number", "tlpLabel": "string", "pap": "number",
    "papLabel": "string", "observableCount": "number", "status": "string", "stage": "string",
    "extraData": "Object", "newDate": "number", "timeToDetect": "number",
}
ANSWERS = {"case": _CASE, "comment": _COMMENT, "alert": _ALERT}


def js_type(value: Any, present: bool = True) -> str:
    """The type name Kibana's schema errors use for a value."""
    if not present:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "Array", dict: "Object"}.get(type(value), type(value).__name__)


def answer_problem(kind: str, data: dict[str, Any]) -> str | None:
    """The first required field of a TheHive answer that is missing or of the wrong type, in Kibana's words."""
    for key, expected in ANSWERS[kind].items():
        got = js_type(data.get(key), key in data)
        if got != expected:
            return f"[{key}]: expected value of type [{expected.lower()}] but got [{got}]"
    return None
