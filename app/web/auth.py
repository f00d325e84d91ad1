"""Sign-in, sign-out, and the guard that makes every page require an account.

Pages use the session cookie (Flask-Login); the REST API also takes `Authorization: ApiKey …` or
Basic (see app/api/auth.py). Roles are checked with `admin_required`.
"""

from __future__ import annotations

import io
import re
import secrets
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.db import db
from app.extensions import login_manager
from app.models import User
from app.services import accounts
from app.web import htmx

bp = Blueprint("auth", __name__)
SESSION_ID = "sid"  # the server-side session's id, in the signed session cookie
PUBLIC_ENDPOINTS = {"health.healthz", "auth.sign_in", "static", "assets.favicon"}


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over https (directly or via a trusted proxy)."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    user_id, _, version = token.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or str(user.session_version) != version:
        return None
    if not accounts.session_is_live(user.id, session.get(SESSION_ID)):
        return None  # signed out (or the password changed) on the server: the cookie alone is not enough
    return user


def principal() -> accounts.Principal | None:
    return g.get("principal")


def _principal_of(user: User) -> accounts.Principal:
    return accounts.Principal(user.username, user.role, "user", user.id)


@bp.before_app_request
def require_sign_in():
    if request.blueprint == "api" or request.endpoint in PUBLIC_ENDPOINTS or request.path.startswith(("/api/", "/s/")):
        return None  # the API authenticates each request itself (and answers unknown paths in JSON)
    if current_user.is_authenticated:
        g.principal = _principal_of(current_user)
        return None
    target = url_for("auth.sign_in", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    return htmx.redirect(target, 302, htmx_status=401)


def admin_required(view):
    """Changes are for admins (Kibana's `all`); viewers (`read`) may look and test."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        who = principal()
        if who is None or not who.is_admin:
            abort(403, description="Only admins can do that; your account can view and test connectors.")
        return view(*args, **kwargs)

    return wrapper


def _is_local_path(target: str) -> bool:
    """A path on this site, in every form it may be read: as given and percent-decoded (up to three times).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so `/%09/x`, `/\\x` and
    `/%2F/x` may all end up as `//x` (another site); any of those, a scheme, or a character that is not
    printable, refuses the whole target. The query is left encoded (it may hold an encoded slash).
    """
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    if any(c.isspace() or not c.isprintable() for c in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    form = parts.path  # the query may hold anything encoded; only the path decides where the browser goes
    for _ in range(4):
        if not form.startswith("/") or form.startswith("//") or "\\" in form:
            return False
        if any(c.isspace() or not c.isprintable() for c in form):
            return False
        decoded = unquote(form)
        if decoded == form:
            return True
        if re.search(r"%2f|%5c", form, re.IGNORECASE):
            return False  # an encoded slash or backslash has no business in a page to return to
        form = decoded
    return False


def _safe_next(target: str | None) -> str:
    if target and len(target) <= 2048 and _is_local_path(target):
        return target
    return url_for("connectors.index")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error, status, username = None, 200, ""
    if request.method == "POST":
        username = request.form.get("username", "")[: accounts.USERNAME_MAX + 1]
        device = _device_for(username)
        try:
            user = accounts.authenticate(username, request.form.get("password", ""), request.remote_addr or "",
                                         device=device)
        except accounts.SignInBlocked as exc:
            error, status = str(exc), 429
        except accounts.AccountError as exc:
            error, status = str(exc), 401
        else:
            session.clear()  # a fresh session on sign-in (no fixation)
            session[SESSION_ID] = accounts.start_session(user, current_app.permanent_session_lifetime)
            login_user(user)
            response = redirect(_safe_next(request.args.get("next")), 303)
            _give_device_cookie(response, user.username)
            return response
    no_users = not accounts.any_user()
    return make_response(render_template("auth/sign_in.html", error=error, username=username, no_users=no_users), status)


# ---- device cookies: a browser the user signed in from before keeps its own sign-in throttle --------
# OWASP's "device cookies": without them, a guesser sharing the admin's address (behind one proxy, one
# NAT) would lock the admin out. The cookie names the user and a random nonce, signed with the app's key.

DEVICE_COOKIE = "sb_device"
DEVICE_COOKIE_DAYS = 180


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="switchboard.device-cookie")


def _device_for(username: str) -> str | None:
    """This browser's device nonce if its cookie is genuine, recent, and for this user name."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        named, nonce = _device_signer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    return nonce if isinstance(nonce, str) and isinstance(named, str) and named == username else None


def _give_device_cookie(response, username: str) -> None:
    value = _device_signer().dumps([username, secrets.token_urlsafe(16)])  # a new nonce at every sign-in
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_COOKIE_DAYS * 86400, path=url_for("auth.sign_in"),
                        secure=bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure),
                        httponly=True, samesite="Strict")


@bp.post("/sign-out")
def sign_out():
    accounts.end_session(session.get(SESSION_ID))
    logout_user()
    session.clear()
    flash("Signed out.", "success")
    return redirect(url_for("auth.sign_in"), 303)


# ---- request bodies: sized before Flask reads them, and form text that is UTF-8 ----------------------

BAD_FORM_TEXT = "switchboard.form_not_utf8"
_CHUNK = 64 * 1024


def _read_at_most(stream, limit: int) -> bytes:
    """Up to `limit` bytes of `stream`, in a bounded number of reads."""
    parts, size = [], 0
    for _ in range(limit // _CHUNK + 2):
        if size >= limit:
            break
        chunk = stream.read(min(_CHUNK, limit - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _form_is_utf8(data: bytes, content_type: str) -> bool:
    """Whether every name and (non-file) value of a form body is UTF-8, as the app decodes it.

    Werkzeug replaces bytes that are not UTF-8 with U+FFFD, so a Latin-1 form would be stored changed.
    """
    from urllib.parse import unquote_to_bytes

    from werkzeug.http import parse_options_header

    mimetype, options = parse_options_header(content_type)
    try:
        if mimetype == "application/x-www-form-urlencoded":
            for pair in data.split(b"&"):
                unquote_to_bytes(pair.replace(b"+", b" ")).decode("utf-8")
        elif mimetype == "multipart/form-data" and options.get("boundary"):
            for part in data.split(b"--" + options["boundary"].encode("latin-1")):
                head, found, body = part.partition(b"\r\n\r\n")
                if found and b"filename=" not in head.lower():  # files are bytes; their own readers check them
                    head.decode("utf-8")
                    body.removesuffix(b"\r\n").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class BodyGuard:
    """WSGI middleware: give a chunked body a length, so the size limit sees it; flag form text that is not UTF-8.

    A chunked request has no Content-Length, and Werkzeug then cuts its body at MAX_CONTENT_LENGTH without a
    word (a 10 MB JSON body became a truncated, "invalid" one: a 400). Buffering it, up to the largest limit
    any route allows, and naming its length lets each route's limit answer 413 as for any other large body.
    """

    def __init__(self, wsgi_app, app):
        self.wsgi_app, self.app = wsgi_app, app

    def _largest_limit(self) -> int:
        from app.services.transfer import MAX_BYTES  # the import routes take a larger body than the rest

        return max(self.app.config.get("MAX_CONTENT_LENGTH") or 0, MAX_BYTES)

    def __call__(self, environ, start_response):
        limit = self._largest_limit()
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and environ.get("wsgi.input_terminated"):
            data = _read_at_most(environ["wsgi.input"], limit + 1)  # one byte more than allowed says "too large"
            environ.pop("HTTP_TRANSFER_ENCODING")
            environ["wsgi.input_terminated"] = False
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.lower().startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            length = environ.get("CONTENT_LENGTH", "")
            if length.isdigit() and 0 < int(length) <= min(limit, self.app.config.get("MAX_CONTENT_LENGTH") or limit):
                data = _read_at_most(environ["wsgi.input"], int(length))
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))
                if not _form_is_utf8(data, content_type):
                    environ[BAD_FORM_TEXT] = True
        return self.wsgi_app(environ, start_response)


@bp.before_app_request
def refuse_form_text_that_is_not_utf8():
    if request.environ.get(BAD_FORM_TEXT):
        abort(400, description="The form is not valid UTF-8 text; send it as UTF-8 (as browsers do).")


def register(app) -> None:
    app.wsgi_app = BodyGuard(app.wsgi_app, app)
    app.session_interface = SessionInterface()
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.add_template_global(principal, "principal")
