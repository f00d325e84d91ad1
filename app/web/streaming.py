"""Streamed test runs: Server-Sent Events over a POST, read by static/app.js with fetch()."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Response, render_template, request, stream_with_context

from app.services.executions import Run


def wants_stream() -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _event(name: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n"


def stream_response(items: Iterator[str | Run]) -> Response:
    """`delta` events carry text as JSON strings; the last, `result`, carries the result panel's HTML."""

    def generate():
        for item in items:
            if isinstance(item, Run):
                yield _event("result", render_template("connectors/_result.html", result=item))
            else:
                yield _event("delta", json.dumps(item))

    response = Response(stream_with_context(generate()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # let a fronting nginx pass frames through
    return response
