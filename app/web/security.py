"""Security headers on every response (issue #7 item 13).

The Content-Security-Policy allows only the app's own files: no inline script or handler (there is none:
the behaviour lives in static/app.js), no inline `<style>` or `style=` either, no framing, forms posting
only here. The one inline style allowed is htmx 2's own indicator `<style>` (it hides the progress bar
until a request is in flight), by its exact sha256: no 'unsafe-inline'. A new htmx must bring its hash
(tests/test_security_headers.py recomputes it from the vendored file). `img-src data:` is for Pico's
inline SVG icons (select arrows, checkboxes) in its stylesheet; `connect-src 'self'` covers htmx and
the stream's fetch.
"""

from __future__ import annotations

import re

from flask import Flask, Response

# sha256 of htmx 2.0.11's indicator <style> (includeIndicatorStyles), the only inline style allowed.
HTMX_INDICATOR_STYLE_HASH = "sha256-faU7yAF8NxuMTNEwVmBz+VcYeIoBQ2EMHW3WaVxCvnk="
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    f"style-src 'self' '{HTMX_INDICATOR_STYLE_HASH}'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def register(app: Flask) -> None:
    app.after_request(_add_headers)


# --- JSON nesting (issue #7 item 7) ---------------------------------------------------------------------
# Real payloads nest a handful of levels (a Bedrock message's content blocks, Slack's Block Kit, PagerDuty's
# custom details: under 10). Every JSON value here is later walked by recursive code (json itself, jsonify,
# the masker's `deep`, the pretty-printer, pydantic), each taking one or more stack frames per level against
# Python's limit of 1,000; 64 levels leaves ample room for any real payload and a wide margin below that limit.
MAX_JSON_DEPTH = 64
# A whole string, a bracket, or a quote that opens a string never closed (then the rest is inside it). Each
# string is matched once from its opening quote, so the scan is linear even on thousands of unpaired quotes.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.S)


def json_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply `text` nests arrays and objects (brackets inside strings do not count), without parsing
    it and without recursion; counting stops once past `limit`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char[0] == '"':
            if len(char) == 1:  # an unterminated string: no bracket after it counts
                break
            continue
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth = max(depth - 1, 0)
    return deepest


def json_too_deep(text: str | bytes) -> str | None:
    """Why `text` is refused before it is parsed, or None."""
    if json_depth(text) > MAX_JSON_DEPTH:
        return (f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused: no connector needs that many, "
                "and deeper values would exhaust the server's stack.")
    return None
