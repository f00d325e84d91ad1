"""A fake Elasticsearch that speaks `_bulk` (NDJSON in, the bulk answer out), as the REST API documents it.

`POST /<index>/_bulk?refresh=…`: an action line and a document line per item; each item is created (or
refused: a field that does not fit the index's mapping is a `mapper_parsing_exception` item, caused by an
`illegal_argument_exception`, with `errors: true`). Authentication is an API key (`ApiKey <encoded>`) or
Basic; a wrong one is Elasticsearch's 401 `security_exception`. It can reject the next request whole
(429 `es_rejected_execution_exception`) or fail (503). Received requests, with their query strings,
are kept; written documents are kept per index.
"""

from __future__ import annotations

import base64
import itertools
import json
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from tests.fakes.service import FakeService, json_response

API_KEY = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()
USERNAME, PASSWORD = "switchboard_writer", "es-writer-password-41"


def es_error(status: int, kind: str, reason: str, caused_by: dict | None = None, **headers) -> Response:
    error = {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}
    if caused_by:
        error["caused_by"] = caused_by
    return json_response(status, {"error": error, "status": status}, **headers)


class FakeElasticsearch(FakeService):
    json_type = "application/json"

    def __init__(self, *, api_key: str | None = API_KEY, basic: tuple[str, str] | None = None, **kw):
        self.api_key, self.basic = api_key, basic
        self.documents: dict[str, list[dict]] = {}
        self.mappings: dict[str, dict[str, str]] = {}  # index -> field -> "long" | "keyword"
        self.queries: list[dict[str, str]] = []
        self.raw_paths: list[str] = []  # as sent, before percent-decoding
        self._ids = itertools.count(1)
        super().__init__(**kw)

    # ---- faults for the next requests

    def reject(self, retry_after: str | None = None) -> None:
        self._next.append(es_error(
            429, "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
            "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]",
            **({"Retry-After": retry_after} if retry_after else {})))

    def outage(self) -> None:
        self._next.append(es_error(503, "cluster_block_exception",
                                   "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"))

    # ---- the service

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.api_key is not None and header == f"ApiKey {self.api_key}":
            return True
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return header == f"Basic {expected}"
        return self.api_key is None and self.basic is None and not header

    def answer(self, request: Request) -> Response:
        self.queries.append(dict(request.args))
        self.raw_paths.append(request.environ.get("RAW_URI", "").partition("?")[0])
        if not self._authenticated(request):
            return es_error(401, "security_exception", "unable to authenticate user [unknown] for REST request "
                            f"[{request.path}]", **{"WWW-Authenticate": 'ApiKey, Basic realm="security"'})
        index, _, action = request.path.lstrip("/").partition("/")
        if request.method != "POST" or action != "_bulk" or not index:
            return es_error(400, "illegal_argument_exception", f"request [{request.path}] contains unrecognized path")
        index = unquote(index)
        if "ndjson" not in (request.content_type or ""):
            return es_error(406, "media_type_header_exception",
                            f"Content-Type header [{request.content_type}] is not supported")
        lines = [line for line in request.get_data(as_text=True).split("\n") if line.strip()]
        if len(lines) % 2:
            return es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        items, errors = [], False
        for action_line, document_line in zip(lines[::2], lines[1::2], strict=True):
            op = json.loads(action_line)
            kind = "create" if op.get("create") is not None or op.get("index", {}).get("op_type") == "create" else "index"
            document = json.loads(document_line)
            problem = self._mapping_problem(index, document)
            if problem:
                errors = True
                items.append({kind: {"_index": index, "_id": None, "status": 400, "error": problem}})
                continue
            doc_id = f"doc-{next(self._ids)}"
            self.documents.setdefault(index, []).append(document)
            items.append({kind: {"_index": index, "_id": doc_id, "_version": 1, "result": "created",
                                 "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0,
                                 "_primary_term": 1, "status": 201}})
        return json_response(200, {"took": 3, "errors": errors, "items": items})

    def _mapping_problem(self, index: str, document: dict) -> dict | None:
        for field, kind in self.mappings.get(index, {}).items():
            value = document.get(field)
            if kind == "long" and value is not None and not isinstance(value, int):
                return {
                    "type": "document_parsing_exception",
                    "reason": f"[1:{len(field) + 5}] failed to parse field [{field}] of type [long] in document "
                              f"with id 'null'. Preview of field's value: '{value}'",
                    "caused_by": {"type": "illegal_argument_exception", "reason": f'For input string: "{value}"'},
                }
        return None
