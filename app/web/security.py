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

from flask import Flask, Response

from app.json_limits import MAX_JSON_DEPTH, json_depth, json_too_deep  # shared with the outbound layer

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
    present = {name.lower() for name, _ in response.headers}  # one pass, not a scan per header
    for name, value in HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def register(app: Flask) -> None:
    app.after_request(_add_headers)


__all__ = ["MAX_JSON_DEPTH", "json_depth", "json_too_deep", "register"]
