"""Cortex XSOAR — `.xsoar` (connector-types.md §29): incidents in XSOAR, optionally run by a playbook.

On-premises XSOAR (6.x) takes the API key alone in `Authorization`; XSOAR 8 (cloud) also needs the key's id
in `x-xdr-auth-id` and serves the API under /xsoar/public/v1 — a non-empty `apiKeyID` means cloud, as in
Kibana. `getPlaybooks` posts an empty search to /playbook/search (what the test pane's picker lists);
`run` posts the incident to /incident: the `body` JSON first, the explicit fields over it. Errors are
Kibana's: `API Error: <status text>`, whatever XSOAR's body says.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from app.types.kit import (
    GENERIC_ERROR,
    ConnectorType,
    Context,
    EmptySchema,
    Failed,
    Field,
    Result,
    Schema,
    Url,
    http,
    sub_action,
)
from app.types.kit.http import call_api, invalid_response, json_object

CLOUD_API_PATH = "/xsoar/public/v1"
PLAYBOOKS_PATH = "/playbook/search"
INCIDENT_PATH = "/incident"
SEVERITY_NAMES = {"0": "Unknown", "0.5": "Informational", "1": "Low", "2": "Medium", "3": "High", "4": "Critical"}


class XsoarConfig(Schema):
    url: Url = Field(label="URL", placeholder="https://xsoar.example.com",
                     help="Your XSOAR server; for XSOAR 8 (cloud), the API URL of the tenant.")


class XsoarSecrets(Schema):
    apiKey: str = Field(label="API key")
    apiKeyID: str | None = Field(
        None, label="API key ID",
        help="For the cloud instance, the API Key ID is required, that is your unique token used to "
        "authenticate the API Key.",
    )


class RunParams(Schema):
    name: str = Field(label="Name", help="The incident's name.")
    playbookId: str | None = Field(
        None, label="XSOAR Playbooks", widget="xsoar_playbook",
        help="The XSOAR playbook to associate with incident: List playbooks, then pick one.",
    )
    createInvestigation: bool = Field(label="Start investigation")
    severity: Literal[0, 0.5, 1, 2, 3, 4] = Field(label="Severity", choice_labels=SEVERITY_NAMES)
    isRuleSeverity: bool | None = Field(False, label="Keep severity from rule",
                                        help="Used when a rule runs the connector; a test keeps the severity above.")
    body: str | None = Field(None, label="Body", widget="jsontext",
                             help="More incident fields as JSON; the fields above win over the same keys.")

    @field_validator("severity", mode="before")
    @classmethod
    def _coerced(cls, value: Any) -> Any:
        """A numeric string as its number, as Kibana's `z.coerce.number` reads it (a form's select posts text)."""
        if isinstance(value, str) and value.strip():
            try:
                number = float(value)
            except ValueError:
                return value
            return int(number) if number.is_integer() else number
        return value


_EXAMPLE_RUN = {"name": "Switchboard test incident", "playbookId": None, "createInvestigation": False,
                "severity": 0, "isRuleSeverity": False, "body": None}


def incident_body(params: RunParams) -> dict[str, Any]:
    """Kibana's formatIncidentBody: the body's keys, then every other param over them."""
    try:
        extra = http.strict_json(params.body if params.body is not None else "{}")
    except ValueError as exc:
        raise Failed(Result.error(GENERIC_ERROR, f"Error parsing alert body for xSOAR: SyntaxError: {exc}",
                                  retry=False)) from None
    spread = extra if isinstance(extra, dict) else {}  # JSON.parse's non-objects add no keys to the incident
    return {**spread, **params.model_dump(exclude={"body"})}


def playbooks_problem(data: dict[str, Any]) -> str | None:
    """What Kibana's response schema finds wrong with a playbook search answer."""
    playbooks = data.get("playbooks")
    if not isinstance(playbooks, list):
        got = "undefined" if "playbooks" not in data else "null" if playbooks is None else type(playbooks).__name__
        return f"[playbooks]: expected value of type [array] but got [{got}]"
    for i, playbook in enumerate(playbooks):
        for key in ("id", "name"):
            if not isinstance(playbook, dict) or not isinstance(playbook.get(key), str):
                return f"[playbooks.{i}.{key}]: expected value of type [string]"
    return None


class Xsoar(ConnectorType):
    id = ".xsoar"
    name = "XSOAR"
    description = "Create an incident in XSOAR."
    config = XsoarConfig
    secrets = XsoarSecrets
    example = {"config": {"url": "https://xsoar.example.com"}, "secrets": {"apiKey": "example-xsoar-api-key"}}
    test_params = {"subAction": "run", "subActionParams": _EXAMPLE_RUN}
    minimum_license_required = "platinum"
    supported_feature_ids = ("siem",)

    @staticmethod
    def _post(ctx: Context[XsoarConfig, XsoarSecrets, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
        cloud = ctx.secrets.apiKeyID not in (None, "")
        headers = {"Authorization": ctx.secrets.apiKey}
        if cloud:
            headers["x-xdr-auth-id"] = ctx.secrets.apiKeyID
        url = ctx.config.url.rstrip("/") + (CLOUD_API_PATH if cloud else "") + path
        response = call_api(ctx.http, "POST", url, body=body, headers=headers, error_text=http.status_text_error,
                            unanswered=http.undefined_status)
        return json_object(response)

    @sub_action("getPlaybooks", EmptySchema, "List the playbooks", example={})
    def get_playbooks(self, ctx: Context[XsoarConfig, XsoarSecrets, EmptySchema]) -> Result:
        data = self._post(ctx, PLAYBOOKS_PATH, {})
        problem = playbooks_problem(data)
        if problem:
            raise Failed(invalid_response(problem))
        return Result.ok(data)

    @sub_action("run", RunParams, "Create an incident", example=_EXAMPLE_RUN)
    def run_incident(self, ctx: Context[XsoarConfig, XsoarSecrets, RunParams]) -> Result:
        self._post(ctx, INCIDENT_PATH, incident_body(ctx.params))
        return Result.ok({})  # Kibana's run returns nothing; the trace shows XSOAR's answer
