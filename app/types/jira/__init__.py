"""Jira — `.jira` (connector-types.md §11): create and update Jira issues, and read what a form needs.

Kibana's Jira connector is a classic executor with `subAction`/`subActionParams`; its sub-actions are kept
with their names and shapes. Errors are thrown in Kibana, so a failed run reads "an error occurred while
running the action" with Jira's own account of it as the service message (see service.py). The test pane
draws `pushToService`'s issue with pickers filled from the service (views.py).
"""

from __future__ import annotations

import re
from typing import Any

from app.types.jira.schemas import (
    AnyParams,
    GetIncidentParams,
    IssueParams,
    IssuesParams,
    IssueTypeParams,
    JiraCaseFields,
    JiraConfig,
    JiraSecrets,
    PushParams,
)
from app.types.jira.service import JiraApi, JiraFailure, escape_jql, summary_line
from app.types.kit import GENERIC_ERROR, CaseView, ConnectorType, Context, EmptySchema, Failed, Result, sub_action

__all__ = ["Jira", "JiraCaseFields", "JiraConfig", "JiraSecrets", "escape_jql", "summary_line"]

_EXAMPLE_PUSH = {
    "incident": {"summary": "Switchboard test issue", "description": "Created from Switchboard's test pane.",
                 "labels": ["switchboard"]},
    "comments": [],
}
_EXAMPLE_UPDATE = {
    "incident": {"summary": "Switchboard test issue (updated)", "externalId": "SEC-1"},
    "comments": [{"commentId": "1", "comment": "Updated from Switchboard."}],
}


def _ended(failure: JiraFailure) -> Failed:
    return Failed(Result.error(GENERIC_ERROR, failure.text, retry=failure.retry))


class Jira(ConnectorType):
    id = ".jira"
    name = "Jira"
    description = "Create and manage Jira issues."
    config = JiraConfig
    secrets = JiraSecrets
    example = {
        "config": {"apiUrl": "https://example.atlassian.net", "projectKey": "SEC"},
        "secrets": {"email": "soc@example.com", "apiToken": "ATATT3xFfGF0-example-token"},
    }
    test_params = {"subAction": "pushToService", "subActionParams": _EXAMPLE_PUSH}
    config_error_prefix = "error configuring connector action"
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "cases", "uptime", "siem")
    case_fields = JiraCaseFields

    def _api(self, ctx: Context) -> JiraApi:
        try:
            return JiraApi(ctx)
        except JiraFailure as failure:
            raise _ended(failure) from None

    @sub_action("pushToService", PushParams, "Create an issue, or update one, and add comments.",
                example=_EXAMPLE_UPDATE)
    def push_to_service(self, ctx: Context[JiraConfig, JiraSecrets, PushParams]) -> Result:
        api = self._api(ctx)
        incident = ctx.params.incident.model_dump(exclude={"externalId"})
        external_id = ctx.params.incident.externalId
        try:
            if external_id is not None:
                pushed = api.update_incident(external_id, incident)
            else:
                pushed = api.create_incident(incident)
            # Every answer names its comments, an empty list when none were pushed (the Cases contract).
            pushed["comments"] = [api.create_comment(pushed["id"], c.model_dump())
                                  for c in ctx.params.comments or () if c.comment]
        except JiraFailure as failure:
            raise _ended(failure) from None
        return Result.ok(pushed)

    @sub_action("getIncident", GetIncidentParams, "Read an issue.", example={"externalId": "SEC-1"})
    def get_incident(self, ctx: Context[JiraConfig, JiraSecrets, GetIncidentParams]) -> Result:
        return self._ask(ctx, lambda api: api.get_incident(ctx.params.externalId))

    @sub_action("issueTypes", EmptySchema, "List the project's issue types.", example={})
    def issue_types(self, ctx: Context[JiraConfig, JiraSecrets, EmptySchema]) -> Result:
        return self._ask(ctx, lambda api: api.issue_types())

    @sub_action("fieldsByIssueType", IssueTypeParams, "List an issue type's fields.", example={"id": "10001"})
    def fields_by_issue_type(self, ctx: Context[JiraConfig, JiraSecrets, IssueTypeParams]) -> Result:
        return self._ask(ctx, lambda api: api.fields_by_issue_type(ctx.params.id))

    @sub_action("getFields", AnyParams, "List the fields every issue type of the project has.", example={})
    def get_fields(self, ctx: Context[JiraConfig, JiraSecrets, AnyParams]) -> Result:
        return self._ask(ctx, lambda api: api.common_fields())

    @sub_action("issues", IssuesParams, "Search the project's issues by summary.", example={"title": "login"})
    def issues(self, ctx: Context[JiraConfig, JiraSecrets, IssuesParams]) -> Result:
        return self._ask(ctx, lambda api: api.search(ctx.params.title))

    @sub_action("issue", IssueParams, "Read an issue's id, key and summary.", example={"id": "SEC-1"})
    def issue(self, ctx: Context[JiraConfig, JiraSecrets, IssueParams]) -> Result:
        return self._ask(ctx, lambda api: api.issue(ctx.params.id))

    def _ask(self, ctx: Context, call) -> Result:
        api = self._api(ctx)
        try:
            return Result.ok(call(api))
        except JiraFailure as failure:
            raise _ended(failure) from None

    def case_incident(self, case: CaseView, fields: JiraCaseFields) -> dict[str, Any]:
        """Kibana's cases/server/connectors/jira/format.ts, with the case's title and description."""
        return {
            "summary": case.title,
            "description": case.description,
            # Jira refuses labels with spaces: Kibana turns each run of whitespace into a hyphen.
            "labels": [re.sub(r"\s+", "-", tag) for tag in case.tags],
            "issueType": fields.issueType,
            "priority": fields.priority,
            "parent": fields.parent,
            "otherFields": fields.otherFields,
        }
