"""Jira's REST API v2 as Kibana's Jira connector calls it (stack_connectors/jira/service.ts), with its texts.

Every call sends HTTP Basic `email:apiToken`; an answer must be JSON (204 aside) and hold the fields the
call needs. A failure becomes `JiraFailure`, worded as Kibana's:
`[Action][Jira]: Unable to create incident. Error: Request failed with status code 400. Reason: <Jira's
errorMessages, or its errors' values>`; a failure inside another (the issue read back after creating it)
is wrapped once more, as Kibana does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app.types.kit import Context, OutboundError, OutboundResponse, http

NAME = "Jira"
API_PATH = "rest/api/2"
JSON_TYPE = "application/json"
NO_RESPONSE = "unknown: errorResponse was null"
NO_ERRORS = "unknown: errorResponse.errors was null"
# Kibana's JQL_SPECIAL_CHARACTERS_REGEX: what Jira's text search would read as an operator.
JQL_SPECIAL = re.compile(r"[-!^+&*()\[\]/{}|:?~]")
# encodeURIComponent leaves these as they are.
URI_COMPONENT_SAFE = "-_.!~*'()"
# What an id put into a path may not hold: a character that ends its segment or the path, or an escape that
# a server may read as one; "." and ".." are refused whole (the HTTP client resolves dot segments).
PATH_BREAKERS = re.compile(r"[/\\?#%\x00-\x1f\x7f]")
# Issue types whose fields getFields reads one call each; a project with more is refused, not walked.
MAX_ISSUE_TYPES = 100


class JiraFailure(Exception):
    """A Jira call that failed; `text` is Kibana's service message, `retry` the run's retry flag or date."""

    def __init__(self, text: str, retry: bool | str = False, status: int | None = None):
        super().__init__(text)
        self.text = text
        self.retry = retry
        self.status = status


class _Refused(Exception):
    """An answer outside 2xx; worded by the operation that made the call."""

    def __init__(self, response: OutboundResponse, body: bytes):
        self.response = response
        self.body = body


class _Invalid(Exception):
    """A 2xx answer the connector cannot use (Kibana's throwIfResponseIsNotValid and friends)."""


def escape_jql(text: str) -> str:
    """Kibana's escapeJqlSpecialCharacters, quirks kept: `"` dropped, `'` turned into two backslashes."""
    text = text.replace('"', "").replace("\\", "\\\\").replace("'", "\\\\")
    return JQL_SPECIAL.sub(lambda m: "\\\\" + m.group(0), text)


def path_segment(value: str, what: str) -> str:
    """`value` as one path segment, or _Invalid when it could name another endpoint of the service."""
    if value in ("", ".", "..") or PATH_BREAKERS.search(value):
        raise _Invalid(f'The {what} "{value}" may not contain "/", "\\", "?", "#", "%" or control characters, '
                       'nor be empty, "." or ".."')
    return quote(value, safe=URI_COMPONENT_SAFE)


def summary_line(text: str) -> str:
    """Kibana's trimAndRemoveNewlines: one line, the non-blank lines joined by ", "."""
    return ", ".join(line.strip() for line in re.split(r"[\n\r]", text) if line.strip())


def iso_date(value: Any) -> str:
    """JavaScript's `new Date(value).toISOString()` for Jira's dates (`2026-12-07T09:30:00.000+0000`)."""
    if isinstance(value, str):
        for parse in (lambda v: datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%f%z"), datetime.fromisoformat):
            try:
                when = parse(value)
            except ValueError:
                continue
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            try:
                when = when.astimezone(UTC)
            except OverflowError:  # year 1 a few hours east of UTC: JavaScript's Date has no such time either
                break
            return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    raise _Invalid("Invalid time value")


def error_reason(body: bytes) -> str:
    """Kibana's createErrorMessage over the error body as axios holds it (parsed JSON, else the text)."""
    if not body:
        return NO_ERRORS  # axios keeps an empty body as "", which has no `errors`
    try:
        data = http.strict_json(body)
    except ValueError:
        return NO_ERRORS
    if data is None:
        return NO_RESPONSE
    if not isinstance(data, dict):
        return NO_ERRORS
    messages = data.get("errorMessages")
    if isinstance(messages, list) and messages:
        return ", ".join(_js_text(m) for m in messages)
    errors = data.get("errors")
    if errors is None:
        return NO_ERRORS
    values = errors.values() if isinstance(errors, dict) else []
    return " ".join(_js_text(v) for v in values)


def _js_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "[object Object]"
    if value is None:
        return "null"
    return json.dumps(value)


def _retry(status: int, response: OutboundResponse) -> bool | str:
    if status == 429:
        return http.retry_at(response.headers.get("Retry-After")) or True
    return status >= 500


class JiraApi:
    """The calls of one run, on the run's outbound client."""

    def __init__(self, ctx: Context):
        config, secrets = ctx.config, ctx.secrets
        if not (config.apiUrl and config.projectKey and secrets.email and secrets.apiToken):
            raise JiraFailure(f"[Action]{NAME}: Wrong configuration.")
        self.http = ctx.http
        self.project = config.projectKey
        self.auth = (secrets.email, secrets.apiToken)
        self.base = config.apiUrl.removesuffix("/")
        self.issue_url = f"{self.base}/{API_PATH}/issue"
        project = quote(self.project, safe=URI_COMPONENT_SAFE)  # an admin's value, still one segment
        self.issue_types_url = f"{self.base}/{API_PATH}/issue/createmeta/{project}/issuetypes"
        self.search_url = f"{self.base}/{API_PATH}/search/jql"

    def view_url(self, key: str) -> str:
        return f"{self.base}/browse/{key}"

    # ---------------------------------------------------------------- issues

    def get_incident(self, issue_id: str) -> dict[str, Any]:
        with self._failing(f"Unable to get incident with id {issue_id}"):
            url = f"{self.issue_url}/{path_segment(issue_id, 'issue id or key')}"
            data = self._call("GET", url, required=("id", "key"))
            fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
            return {"id": data["id"], "key": data["key"], "created": fields.get("created"),
                    "updated": fields.get("updated"), **fields}

    def create_incident(self, incident: dict[str, Any]) -> dict[str, Any]:
        # Jira's answer to a create holds only the id and key: the issue is read back for its dates.
        issue_type = incident.get("issueType")
        if not issue_type:
            types = self.issue_types()
            issue_type = types[0]["id"] if types else ""
        fields = self.issue_fields({**incident, "issueType": issue_type})
        with self._failing("Unable to create incident"):
            created = self._call("POST", self.issue_url, body={"fields": fields}, required=("id",))
            issue = self.get_incident(str(created["id"]))
            return self._pushed(issue, issue["created"])

    def update_incident(self, issue_id: str, incident: dict[str, Any]) -> dict[str, Any]:
        fields = self.issue_fields({k: v for k, v in incident.items() if v is not None})
        with self._failing(f"Unable to update incident with id {issue_id}"):
            self._call("PUT", f"{self.issue_url}/{path_segment(issue_id, 'issue id or key')}",
                       body={"fields": fields})
            issue = self.get_incident(issue_id)
            return self._pushed(issue, issue["updated"])

    def create_comment(self, issue_id: str, comment: dict[str, str]) -> dict[str, str]:
        with self._failing(f"Unable to create comment at incident with id {issue_id}"):
            data = self._call("POST", f"{self.issue_url}/{path_segment(issue_id, 'issue id or key')}/comment",
                              body={"body": comment["comment"]}, required=("id", "created"))
            return {"commentId": comment["commentId"], "pushedDate": iso_date(data["created"])}

    def issue_fields(self, incident: dict[str, Any]) -> dict[str, Any]:
        """Kibana's createFields: the create/edit body's `fields`; otherFields are merged in last."""
        fields: dict[str, Any] = {"summary": summary_line(incident.get("summary") or ""),
                                  "project": {"key": self.project}}
        if incident.get("issueType"):
            fields["issuetype"] = {"id": incident["issueType"]}
        if incident.get("description"):
            fields["description"] = incident["description"]
        if incident.get("labels") is not None:  # an empty list is sent: it clears the labels
            fields["labels"] = incident["labels"]
        if incident.get("priority"):
            fields["priority"] = {"name": incident["priority"]}
        if incident.get("parent"):
            fields["parent"] = {"key": incident["parent"]}
        return {**fields, **(incident.get("otherFields") or {})}

    def _pushed(self, issue: dict[str, Any], when: Any) -> dict[str, Any]:
        return {"title": issue["key"], "id": issue["id"], "pushedDate": iso_date(when),
                "url": self.view_url(issue["key"])}

    # ---------------------------------------------------------------- metadata and search

    def issue_types(self) -> list[dict[str, Any]]:
        with self._failing("Unable to get issue types"):
            data = self._call("GET", self.issue_types_url)
            # Jira Cloud answers `issueTypes`, Data Center `values`.
            found = _listed(data, "issueTypes", "values")
            return [{"id": t.get("id"), "name": t.get("name")} for t in found if isinstance(t, dict)]

    def fields_by_issue_type(self, issue_type_id: str) -> dict[str, dict[str, Any]]:
        with self._failing("Unable to get fields"):
            data = self._call("GET", f"{self.issue_types_url}/{path_segment(issue_type_id, 'issue type id')}")
            found = _listed(data, "fields", "values")  # Cloud's name, then Data Center's
            fields: dict[str, dict[str, Any]] = {}
            for field in found:
                if isinstance(field, dict):
                    fields[str(field.get("fieldId"))] = {
                        "required": field.get("required"),
                        "allowedValues": field.get("allowedValues") or [],
                        "defaultValue": field.get("defaultValue") or {},
                        "schema": field.get("schema"),
                        "name": field.get("name"),
                    }
            return fields

    def common_fields(self) -> dict[str, dict[str, Any]]:
        """The fields every issue type of the project has (Kibana's getFields, its reduce kept as it is)."""
        common: dict[str, dict[str, Any]] = {}
        issue_types = self.issue_types()
        if len(issue_types) > MAX_ISSUE_TYPES:  # one call per issue type: a hostile list must not mean thousands
            with self._failing("Unable to get fields"):
                raise _Invalid(f"The project lists {len(issue_types)} issue types; the fields of at most "
                               f"{MAX_ISSUE_TYPES} are read")
        for issue_type in issue_types:
            fields = self.fields_by_issue_type(str(issue_type["id"]))
            common = fields if not common else {k: v for k, v in common.items() if k in fields}
        return common

    def search(self, title: str) -> list[dict[str, Any]]:
        jql = f'project="{self.project}" and summary ~"{escape_jql(title)}"'
        url = f"{self.search_url}?jql={quote(jql, safe=URI_COMPONENT_SAFE)}&fields=summary,key"
        with self._failing("Unable to get issues"):
            data = self._call("GET", url)
            issues = data.get("issues") if isinstance(data, dict) else None
            return [_issue_summary(i) for i in issues or [] if isinstance(i, dict)]

    def issue(self, issue_id: str) -> dict[str, Any]:
        with self._failing(f"Unable to get issue with id {issue_id}"):
            data = self._call("GET", f"{self.issue_url}/{path_segment(issue_id, 'issue id or key')}")
            return _issue_summary(data if isinstance(data, dict) else {})

    # ---------------------------------------------------------------- one call

    def _call(self, method: str, url: str, *, body: Any = None, required: tuple[str, ...] = ()) -> Any:
        headers = {"Accept": "application/json, text/plain, */*"}
        if body is not None:
            headers["Content-Type"] = JSON_TYPE
        response = self.http.request(method, url, headers=headers, auth=self.auth,
                                     data=json.dumps(body) if body is not None else None)
        content = response.content
        if not response.ok:
            raise _Refused(response, content)
        return _valid(response, content, method, url, required)

    @contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        """Kibana's wrapError around one operation: its words, the cause's, and Jira's reason."""
        prefix = f"[Action][{NAME}]: {doing}. Error: "
        try:
            yield
        except _Refused as refused:
            status = refused.response.status_code
            raise JiraFailure(f"{prefix}Request failed with status code {status}. Reason: {error_reason(refused.body)}",
                              _retry(status, refused.response), status) from None
        except OutboundError as exc:
            raise JiraFailure(f"{prefix}{exc.message}. Reason: {NO_RESPONSE}", http.is_retryable(exc)) from None
        except _Invalid as exc:
            raise JiraFailure(f"{prefix}{exc}. Reason: {NO_RESPONSE}") from None
        except JiraFailure as inner:
            raise JiraFailure(f"{prefix}{inner.text}. Reason: {NO_RESPONSE}", inner.retry, inner.status) from None


def _valid(response: OutboundResponse, content: bytes, method: str, url: str, required: tuple[str, ...]) -> Any:
    """Kibana's throwIfResponseIsNotValid: 204 passes; else JSON, and an object holding `required`."""
    if response.status_code == 204:
        return {}
    content_type = response.headers.get("Content-Type") or "undefined"
    if JSON_TYPE not in content_type:
        raise _Invalid(f"Unsupported content type: {content_type} in {method.lower()} {url}. "
                       f"Supported content types: {JSON_TYPE}")
    if not content.strip():
        data: Any = {}
    else:
        try:
            data = http.strict_json(content)
        except ValueError:  # the kit's reading also refuses JSON nested too deeply to walk safely
            raise _Invalid("Response is not a valid JSON") from None
        if isinstance(data, str) and data:  # lodash's isEmpty lets numbers and booleans through
            raise _Invalid("Response is not a valid JSON")
    if required and (not isinstance(data, dict) or any(key not in data for key in required)):
        raise _Invalid(f"Response is missing at least one of the expected fields: {','.join(required)}")
    return data


def _listed(data: Any, *keys: str) -> list[Any]:
    if isinstance(data, dict):
        for key in keys:
            if data.get(key) is not None:  # JavaScript's `a || b`: an empty list is kept
                return data[key] if isinstance(data[key], list) else []
    raise _Invalid(f"Response is missing at least one of the expected fields: {','.join(keys)}")


def _issue_summary(issue: dict[str, Any]) -> dict[str, Any]:
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    return {"id": issue.get("id"), "key": issue.get("key"), "title": fields.get("summary")}
