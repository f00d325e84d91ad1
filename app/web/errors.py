"""Error pages: a clear message and the right 4xx, as a toast for HTMX requests."""

from __future__ import annotations

from flask import make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.db import StorageUnavailable, db, storage_failure
from app.web import htmx

STORAGE_RETRY_SECONDS = 30


def _answer(status: int, title: str, message: str):
    if request.path.startswith(("/api/", "/s/")):  # API clients get Kibana's JSON error body
        from app.api import error_body

        return error_body(status, message)
    if htmx.is_htmx():
        return htmx.error(status, message)
    return htmx.varies(make_response(render_template("error.html", status=status, title=title, message=message), status))


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return _answer(400, "Form expired", "The form's security token is missing or expired. Reload the page and try again.")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return _answer(413, "Too large", f"The request is larger than the {limit} MB Switchboard accepts.")

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc: StorageUnavailable):
        return _unwritable(exc)

    @app.errorhandler(OperationalError)
    def database_refused(exc: OperationalError):
        db.session.rollback()
        return _unwritable(storage_failure(exc))

    def _unwritable(exc: StorageUnavailable):
        app.logger.error("a request failed because %s: %s %s", exc.reason, request.method, request.path)
        answer = _answer(503, "Storage unavailable", f"Switchboard cannot save right now: {exc.reason}. Nothing was "
                         "changed and no connector was called; an administrator must free space or fix the database.")
        answer.headers["Retry-After"] = str(STORAGE_RETRY_SECONDS)
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return _answer(exc.code or 500, exc.name, exc.description or exc.name)
