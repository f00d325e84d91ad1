"""What a ticketing type declares so that a case can be pushed to it (Kibana's Cases `pushToService`).

A type that can receive cases sets `case_fields` (the per-case choices Kibana keeps in a case's
`connector.fields`: Jira's issue type and priority, ServiceNow's urgency…; `EmptySchema` when it has
none) and implements `case_incident(case, fields)`, which turns the case into the `incident` object of
its own `pushToService` params (Kibana's `cases/server/connectors/<type>/format.ts`). The Cases service
adds `externalId` (None on the first push) and the new comments as `[{commentId, comment}]`, runs
`pushToService` through the one execution path, and reads the answer every ticketing type gives:
`{id, title, url, pushedDate, comments: [{commentId, pushedDate}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaseView:
    """A case as a push sees it; no database object, so types stay free of the app's layers."""

    id: str
    title: str
    description: str
    tags: tuple[str, ...] = ()
    severity: str = "low"  # Kibana's case severities: low, medium, high, critical
    status: str = "open"  # open, in-progress, closed
    external_id: str | None = None  # the incident a previous push created
    alert_ids: tuple[str, ...] = field(default=())
    rule_name: str | None = None  # set for cases the `.cases` system action opened from a rule's alerts


EXAMPLE_CASE = CaseView(
    id="case-1", title="Switchboard test case", description="Created to test a push.", tags=("switchboard",),
    severity="high",
)
