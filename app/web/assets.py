"""Assets a browser asks for at fixed paths: /favicon.ico (the SVG favicon; browsers take SVG there too).

Pages link static/favicon.svg (public, like every static file), so no page load asks for /favicon.ico; this
answers the clients that ask anyway. Like every page outside `static`, it needs a signed-in session.
"""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("assets", __name__)


@bp.get("/favicon.ico")
def favicon():
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
