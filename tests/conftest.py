"""Fixtures in flaskr's shape: an app on a fresh instance folder, a client that speaks CSRF like a browser."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet
from flask_migrate import upgrade

from app import create_app
from app.settings import FileConfig, OutboundSettings

CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def make_app(tmp_path, outbound: OutboundSettings | None = None, **overrides):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'switchboard.db'}",
            "SWITCHBOARD_ENCRYPTION_KEYS": overrides.pop("keys", None) or [Fernet.generate_key().decode()],
            "SWITCHBOARD": FileConfig(outbound=outbound or OutboundSettings()),
            **overrides,
        }
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        from app.db import db

        db.engine.dispose()


class Browserish:
    """A test client that carries the page's CSRF token the way the app's pages do (hx-headers)."""

    def __init__(self, client):
        self.client = client
        self._token = None

    def token(self) -> str:
        if self._token is None:
            page = self.client.get("/connectors").get_data(as_text=True)
            self._token = CSRF_RE.search(page).group(1)
        return self._token

    def get(self, url, htmx=False, **kw):
        headers = kw.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(url, headers=headers, **kw)

    def post(self, url, data=None, htmx=False, **kw):
        headers = {"X-CSRFToken": self.token(), **kw.pop("headers", {})}
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data, headers=headers, **kw)

    def delete(self, url, htmx=True, **kw):
        headers = {"X-CSRFToken": self.token(), **({"HX-Request": "true"} if htmx else {})}
        return self.client.delete(url, headers=headers, **kw)


@pytest.fixture
def web(app):
    return Browserish(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
