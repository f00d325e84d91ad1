"""HTMX in one place (DESIGN rule 7): the full page or a named block, redirects, toasts, refreshes.

Every response whose body or status depends on `HX-Request` says so with `Vary: HX-Request`.
"""

from __future__ import annotations

import json

from flask import Response, make_response, render_template, request
from flask import redirect as _redirect
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def varies(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response


def page_or_block(template: str, block: str, status: int = 200, **context) -> Response:
    """Render the whole page, or only `block` of it for HTMX."""
    body = render_block(template, block, **context) if is_htmx() else render_template(template, **context)
    return varies(make_response(body, status))


def fragment(template: str, status: int = 200, **context) -> Response:
    """A template that is only ever a fragment (answers HTMX requests alone)."""
    return varies(make_response(render_template(template, **context), status))


def redirect(url: str, status: int = 303, *, htmx_status: int = 204) -> Response:
    """Go to `url`: an HX-Redirect answer for HTMX, a plain redirect with `status` otherwise."""
    if is_htmx():
        response = make_response("", htmx_status)
        response.headers["HX-Redirect"] = url
    else:
        response = _redirect(url, status)
    return varies(response)


def toast(response: Response, text: str, level: str = "success") -> Response:
    """Show a message on the page (static/app.js listens for `showMessage`)."""
    return trigger(response, {"showMessage": {"level": level, "text": text}})


def trigger(response: Response, events: str | dict) -> Response:
    """Fire client-side events after the swap, merged with any already set."""
    current = response.headers.get("HX-Trigger")
    merged: dict = json.loads(current) if current and current.startswith("{") else ({current: None} if current else {})
    merged.update({events: None} if isinstance(events, str) else events)
    response.headers["HX-Trigger"] = next(iter(merged)) if list(merged.values()) == [None] else json.dumps(merged)
    return varies(response)


def error(status: int, text: str) -> Response:
    """An HTMX request that failed: swap nothing, say why in a toast."""
    response = make_response("", status)
    response.headers["HX-Reswap"] = "none"
    return toast(response, text, "error")
