"""Switchboard: create_app builds the Flask app from settings (flaskr's factory shape)."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app import settings
from app.crypto import load_or_create_secret_key
from app.db import engine_options, init_core
from app.extensions import csrf, db, keyring, migrate, outbound, run_slots

ROOT = Path(__file__).resolve().parent.parent

# Big enough for a 1 MB field to reach validation (and get a message at the field); larger is a 413.
MAX_FORM_BYTES = 2 * 1024 * 1024
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def create_app(test_config: dict | None = None) -> Flask:
    instance = Path((test_config or {}).get("INSTANCE_PATH") or settings.instance_path())
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys and the database live here: owner-only
    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings.flask_config(instance))
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if test_config:
        app.config.update(test_config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    app.secret_key = load_or_create_secret_key(app.config["SWITCHBOARD_SECRET_KEY"], instance)

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # botocore logs canonical requests (signed headers) at DEBUG; never let that reach a log file.
    logging.getLogger("botocore").setLevel(logging.WARNING)

    db.init_app(app)
    init_core(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    keyring.init_app(app)
    outbound.init_app(app)
    run_slots.init_app(app)

    from app import api
    from app.web import (
        api_docs,
        api_keys,
        assets,
        auth,
        cases,
        connectors,
        errors,
        events,
        health,
        security,
        template_helpers,
        transfer,
        type_views,
    )

    auth.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(connectors.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(api_keys.bp)
    app.register_blueprint(transfer.bp)
    app.register_blueprint(api_docs.bp)
    type_views.register(app)
    api.register(app)
    errors.register(app)
    template_helpers.register(app)
    security.register(app)
    if app.config["SWITCHBOARD_TRUST_PROXY"]:
        # Behind a reverse proxy: take the client address and https from X-Forwarded-*.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    else:
        _warn_of_an_untrusted_proxy(app)

    from app import cli

    cli.register(app)
    return app


def _warn_of_an_untrusted_proxy(app: Flask) -> None:
    """Say once per worker when requests come through a proxy that Switchboard was not told to trust:
    every client then has the proxy's address (one sign-in throttle for all, the proxy's address in logs)."""
    warned: list[bool] = []

    @app.before_request
    def _forwarded_but_not_trusted():
        if not warned and "X-Forwarded-For" in request.headers:
            warned.append(True)
            app.logger.warning(
                "requests carry X-Forwarded-For but SWITCHBOARD_TRUST_PROXY is not set: every client shares the "
                "proxy's address %s for the sign-in throttle; set SWITCHBOARD_TRUST_PROXY=1 behind a reverse proxy",
                request.remote_addr)
