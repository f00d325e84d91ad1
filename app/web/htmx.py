"""HTMX in one place: full page for a normal request, the named block for an HTMX one (DESIGN rule 7)."""

from __future__ import annotations

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")


def page_or_block(template: str, block: str, status: int = 200, **context):
    """Render the whole page, or only `block` of it for HTMX; either way `Vary: HX-Request`."""
    body = render_block(template, block, **context) if is_htmx() else render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def fragment(template: str, status: int = 200, **context):
    """A template that is only ever a fragment (answers HTMX requests alone)."""
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response
