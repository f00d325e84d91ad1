"""Index — `.index` (connector-types.md §15): write documents to an Elasticsearch index with `_bulk`.

Kibana writes to its own cluster, so the connector's config names only the index; Switchboard writes
to the cluster of the `[elasticsearch]` section of its config file (`ctx.elasticsearch`). Each document
is created (`op_type: create`, so data streams take it too), stamped with `executionTimeField` when set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import field_validator

from app.types.kit import (
    ELASTICSEARCH_NOT_CONFIGURED,
    ConnectorType,
    Context,
    Field,
    OutboundError,
    Result,
    Schema,
    http,
)

ERROR = "error indexing documents"
ALERT_HISTORY_PREFIX = "kibana-alert-history-"
NO_REASON = "Indexing error but no reason returned."
BULK_ACTION = json.dumps({"index": {"op_type": "create"}})


class IndexConfig(Schema):
    index: str = Field(label="Index", help="The index, data stream or alias the documents are written to.",
                       placeholder="alerts-history", min_length=1)
    refresh: bool = Field(False, label="Refresh index",
                          help="Refresh the affected shards so the documents are searchable at once.")
    executionTimeField: str | None = Field(
        None, label="Time field",
        help="A field set to the time of the run in every document (e.g. @timestamp). Leave empty for none.")


class IndexParams(Schema):
    documents: list[dict[str, Any]] = Field(label="Documents to index", widget="json",
                                            help="A JSON array of the documents (objects) to write.")
    indexOverride: str | None = Field(
        None, label="Index override",
        help=f'Write to this index instead; it must start with "{ALERT_HISTORY_PREFIX}".')

    @field_validator("indexOverride")
    @classmethod
    def _alert_history_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(ALERT_HISTORY_PREFIX):
            raise ValueError(f'index must start with "{ALERT_HISTORY_PREFIX}"')
        return value


def _now() -> str:
    """The time as JavaScript's `new Date()` serialises: milliseconds and `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bulk_body(documents: list[dict[str, Any]], time_field: str | None) -> str:
    field = (time_field or "").strip()
    lines = []
    stamp = _now()
    for document in documents:
        if field:
            document = {**document, field: stamp}
        lines += [BULK_ACTION, json.dumps(document)]
    return "\n".join(lines) + "\n"  # _bulk needs the final newline


def item_errors(answer: dict[str, Any]) -> str:
    """Kibana's summary of a bulk answer with `errors: true`: reasons `;`-joined, causes in brackets."""
    reasons, causes = [], []
    for item in answer.get("items") or []:
        for outcome in (item.values() if isinstance(item, dict) else ()):
            error = outcome.get("error") if isinstance(outcome, dict) else None
            if not isinstance(error, dict):
                continue
            if error.get("reason"):
                reasons.append(str(error["reason"]))
            caused_by = error.get("caused_by")
            if isinstance(caused_by, dict) and caused_by.get("reason"):
                causes.append(str(caused_by["reason"]))
    if not reasons:
        return NO_REASON
    return ";".join(reasons) + (f" ({';'.join(causes)})" if causes else "")


def request_error(response) -> str:
    """A refused request as Elasticsearch's client words it: `type: reason`, else the status."""
    body = http.json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("type"):
        return f"{error['type']}: {error.get('reason') or ''}".rstrip(": ")
    if isinstance(error, str):
        return error
    return f"Response Error: {response.status_code} {response.reason}".strip()


class Index(ConnectorType):
    id = ".index"
    name = "Index"
    description = "Index data into Elasticsearch."
    config = IndexConfig
    params = IndexParams
    uses_elasticsearch = True
    example = {"config": {"index": "alerts-history", "refresh": False, "executionTimeField": "@timestamp"},
               "secrets": {}}
    test_params = {"documents": [{"message": "Test document from Switchboard", "level": "info"}]}
    data_label = "Result data: Elasticsearch's bulk answer"
    minimum_license_required = "basic"
    supported_feature_ids = ("alerting", "uptime", "siem")

    def execute(self, ctx: Context[IndexConfig, Schema, IndexParams]) -> Result:
        cluster = ctx.elasticsearch
        if cluster is None:
            return Result.error(ERROR, ELASTICSEARCH_NOT_CONFIGURED, retry=False)
        index = ctx.params.indexOverride or ctx.config.index
        body = bulk_body(ctx.params.documents, ctx.config.executionTimeField)
        try:
            response = cluster.request("POST", f"/{quote(index, safe='')}/_bulk", data=body,
                                       content_type="application/x-ndjson",
                                       params=f"refresh={'true' if ctx.config.refresh else 'false'}")
        except OutboundError as exc:
            return Result.error(ERROR, f"[{exc.code}] {exc.message}", retry=http.is_retryable(exc))
        if not 200 <= response.status_code < 300:
            retry = (http.retry_at(response.headers.get("Retry-After")) or True) if http.retryable_status(
                response.status_code) else False
            return Result.error(ERROR, request_error(response), retry=retry)
        answer = http.json_or_none(response)
        if not isinstance(answer, dict):
            return Result.error(ERROR, "Elasticsearch's answer is not a JSON object", retry=False)
        if answer.get("errors"):
            return Result.error(ERROR, item_errors(answer), retry=False)
        return Result.ok(answer)
