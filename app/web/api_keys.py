"""API keys for scripts: an admin creates one with a role, sees it once, and can revoke it."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, render_template, request, session, url_for

from app.models import ROLES
from app.services import accounts
from app.web import htmx
from app.web.auth import admin_required, principal

bp = Blueprint("api_keys", __name__, url_prefix="/settings/api-keys")


def _page(status: int = 200, **context):
    response = make_response(
        render_template("api_keys/index.html", keys=accounts.list_api_keys(), roles=ROLES, **context), status
    )
    response.headers["Cache-Control"] = "no-store"  # the page may hold a new key
    return response


@bp.get("")
@admin_required
def index():
    # Shown once: popped from the session, so a reload shows the list without it.
    new = accounts.open_for_showing(session.pop("new_api_key", None))
    return _page(new=new, base_url=request.host_url.rstrip("/"))


@bp.post("")
@admin_required
def create():
    name, role = request.form.get("name", ""), request.form.get("role", "viewer")
    try:
        new = accounts.create_api_key(name, role, principal().user_id)
    except accounts.AccountError as exc:
        return _page(422, error=str(exc), name=name, role=role)
    # Only a hash is stored; the key itself reaches the next page once (POST-redirect-GET).
    session["new_api_key"] = accounts.seal_for_showing(new)
    return htmx.redirect(url_for("api_keys.index"))


@bp.post("/<key_id>/revoke")
@admin_required
def revoke(key_id: str):
    key = accounts.revoke_api_key(key_id)
    if key is None:
        flash("No such API key.", "warning")
    else:
        flash(f'Revoked API key "{key.name}". Scripts using it are refused from now on.', "success")
    return htmx.redirect(url_for("api_keys.index"))
