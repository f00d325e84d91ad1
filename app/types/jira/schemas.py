"""Jira: the config, secrets and sub-action params schemas (Kibana's kbn-connector-schemas/jira), and the
per-case choices a case keeps for a Jira connector (Kibana's JiraFieldsRt)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ConfigDict, field_validator

from app.types.kit import Field, Schema, Url

MAX_OTHER_FIELDS = 20  # Kibana's MAX_OTHER_FIELDS_LENGTH
WHITESPACE = re.compile(r"\s")


class JiraConfig(Schema):
    apiUrl: Url = Field(label="URL", placeholder="https://your-domain.atlassian.net",
                        help="The Jira site's address; the REST API is under /rest/api/2.")
    projectKey: str = Field(label="Project key", help="The key of the project issues are created in, e.g. SEC.")


class JiraSecrets(Schema):
    email: str = Field(label="Email address", help="The Atlassian account's email (the user name on Jira Data Center).")
    apiToken: str = Field(label="API token", help="An API token of that account (the password on Jira Data Center).")


class Incident(Schema):
    summary: str = Field(label="Summary")
    description: str | None = Field(None, label="Description")
    externalId: str | None = Field(None, label="Issue to update", help="Blank creates a new issue.")
    issueType: str | None = Field(None, label="Issue type", help="The issue type's id.")
    priority: str | None = Field(None, label="Priority", help="The priority's name.")
    labels: list[str] | None = Field(None, label="Labels")
    parent: str | None = Field(None, label="Parent issue", help="The parent issue's key.")
    otherFields: dict[str, Any] | None = Field(None, label="Additional fields")

    @field_validator("labels")
    @classmethod
    def _labels_without_spaces(cls, labels: list[str] | None) -> list[str] | None:
        for label in labels or ():
            if WHITESPACE.search(label):
                raise ValueError(f"The label {label} cannot contain spaces")
        return labels

    @field_validator("otherFields", mode="before")
    @classmethod
    def _other_fields_from_json(cls, value: Any) -> Any:
        # Kibana's Coerced(): a JSON text is read as the object it holds (the UI's editor sends text).
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("otherFields")
    @classmethod
    def _other_fields_allowed(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        taken = [key for key in value if key in Incident.model_fields]
        if taken:
            raise ValueError(f"The following properties cannot be defined inside otherFields: {', '.join(taken)}.")
        if len(value) > MAX_OTHER_FIELDS:
            raise ValueError(f"A maximum of {MAX_OTHER_FIELDS} fields in otherFields can be defined at a time.")
        return value


class Comment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment id")


class PushParams(Schema):
    # Kibana's push params object is not strict: keys beside incident and comments are dropped.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    incident: Incident = Field(label="Issue", widget="jira_incident")
    comments: list[Comment] | None = Field(None, label="Additional comments", widget="jira_comments")


class GetIncidentParams(Schema):
    externalId: str = Field(label="Issue id or key")


class IssueTypeParams(Schema):
    id: str = Field(label="Issue type id")


class IssuesParams(Schema):
    title: str = Field(label="Title", help="Text the issues' summaries contain.")


class IssueParams(Schema):
    id: str = Field(label="Issue id or key")


class AnyParams(Schema):
    """getFields takes any record and reads none of it (Kibana: reserved for later)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class JiraCaseFields(Schema):
    """What a case keeps for its Jira connector; each is a pick from the connector's own project."""

    issueType: str | None = Field(None, label="Issue type", widget="suggest", options="jira.issue_type_choices",
                                  help="The issue type's id; blank uses the project's first issue type.")
    priority: str | None = Field(None, label="Priority", widget="suggest", options="jira.priority_choices",
                                 help="The priority's name, among the issue type's priorities.")
    parent: str | None = Field(None, label="Parent issue", widget="suggest", options="jira.parent_choices",
                               help="The parent issue's key; type part of its summary and list the matches.")
    otherFields: str | None = Field(None, label="Additional fields", widget="jsontext",
                                    help="More Jira fields as a JSON object; Jira checks them, not Switchboard.")
