"""The REST API, wire-compatible with Kibana's Connectors API, at /api and /s/<space>/api.

Every request authenticates itself: `Authorization: ApiKey <base64 id:key>` or Basic, or the page
session cookie. Header-authenticated changes need `kbn-xsrf` (as Kibana); cookie-authenticated ones
need the CSRF token in `X-CSRFToken` instead, since a browser sends cookies on its own.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Flask, g, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from app.extensions import csrf
from app.services import accounts
from app.web.security import json_too_deep

bp = Blueprint("api", __name__)
SPACE = "default"  # Switchboard has one space; /s/default/... is accepted for Kibana clients
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiError(Exception):
    """An error answered as Kibana's Boom body {statusCode, error, message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error_body(status: int, message: str):
    from http import HTTPStatus

    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    response = jsonify(statusCode=status, error=phrase, message=message)
    response.status_code = status
    return response


def _from_header(header: str) -> accounts.Principal:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "apikey":
        key = accounts.verify_api_key(value.strip())
        if key is None:
            raise ApiError(401, "Unable to authenticate: the API key is unknown, malformed or revoked.")
        return accounts.Principal(key.name, key.role, "api_key")
    if scheme == "basic":
        try:
            username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Unable to authenticate: malformed Basic credentials.") from None
        try:
            user = accounts.authenticate(username, password, request.remote_addr or "")
        except accounts.SignInBlocked as exc:
            raise ApiError(429, str(exc)) from None
        except accounts.AccountError:
            raise ApiError(401, "Unable to authenticate: wrong user name or password.") from None
        return accounts.Principal(user.username, user.role, "user", user.id)
    raise ApiError(401, 'Unsupported authorization scheme; use "ApiKey" or "Basic".')


def route(rule: str, **options):
    """Register a view at /api<rule> and at /s/<space_id>/api<rule>, as Kibana serves both."""

    def decorator(view):
        bp.add_url_rule(f"/api{rule}", view_func=view, **options)
        bp.add_url_rule(f"/s/<space_id>/api{rule}", view_func=view, **options)
        return view

    return decorator


@bp.url_value_preprocessor
def _pop_space(endpoint, values):
    if values is not None:
        space = values.pop("space_id", SPACE)
        if space != SPACE:
            raise ApiError(404, f"Space [{space}] not found; Switchboard has only the default space.")


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization")
    if header:
        g.principal = _from_header(header)
        if request.method not in SAFE_METHODS and not (
            request.headers.get("kbn-xsrf") is not None or request.headers.get("kbn-version") is not None
        ):
            raise ApiError(400, "Request must contain a kbn-xsrf header.")
        return
    if current_user.is_authenticated:
        g.principal = accounts.Principal(current_user.username, current_user.role, "user", current_user.id)
        if request.method not in SAFE_METHODS:
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except ValidationError as exc:  # validate_csrf raises this, not CSRFError
                raise ApiError(400, f"Cookie-authenticated requests need the page's CSRF token in X-CSRFToken: {exc}") from None
        return
    raise ApiError(401, "Authentication required: send Authorization: ApiKey <base64 id:key>, or Basic credentials.")


@bp.before_request
def refuse_deep_json():
    """Refuse a JSON body nested too deeply before anything parses it (after authentication: a stranger
    still gets 401). Every API body (create, update, _execute, _export) comes through here."""
    if request.method in SAFE_METHODS or not request.is_json:
        return
    too_deep = json_too_deep(request.get_data(cache=True))
    if too_deep:
        raise ApiError(400, f"[request body]: {too_deep}")


def require_admin(what: str) -> None:
    """Kibana's 403 text: `Unauthorized to <operation> ...`."""
    if not g.principal.is_admin:
        raise ApiError(403, f"Unauthorized to {what}")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_body(exc.status, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error_body(exc.code or 500, exc.description or exc.name)


def register(app: Flask) -> None:
    from app.api import (  # noqa: F401 - routes register on bp
        connectors,
        openapi,
        saved_objects,
    )

    csrf.exempt(bp)  # checked in authenticate(), per authentication scheme
    app.register_blueprint(bp)
