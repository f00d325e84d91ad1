"""Fixtures in flaskr's shape: an app on a fresh instance folder, a client that speaks CSRF like a browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from app import create_app
from app.db import db
from app.models import User
from app.services import accounts, preconfigured
from app.settings import FileConfig, OutboundSettings
from tests.browser import (  # noqa: F401 - the browser fixtures, for any test module
    admin_state,
    anon_page,
    browser_type_launch_args,
    context,
    js_errors,
    live,
    page,
    viewer_page,
    viewer_state,
)

CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
FORM_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORDS = {"admin": "admin-password-1", "viewer": "viewer-password-1"}
ROLES = {"admin": "admin", "viewer": "viewer"}
# Hashed once per run: scrypt is slow on purpose, and every test app gets the same two accounts.
_HASHES = {name: generate_password_hash(password) for name, password in PASSWORDS.items()}


DATABASE = "switchboard.db"
# Test modules whose `app` must be migrated from nothing: they check what the migrations build.
MIGRATED_FROM_NOTHING = {"test_migrations.py"}
# The session's migrated database, set by `template_database`. Kept on the `os` module's environment
# so that `tests.conftest` imported by a test module (a second copy of this file) sees it too.
TEMPLATE_ENV = "SWITCHBOARD_TEST_TEMPLATE_DB"


def _template() -> Path | None:
    value = os.environ.get(TEMPLATE_ENV)
    return Path(value) if value else None


def make_app(tmp_path, outbound: OutboundSettings | None = None, file_config: FileConfig | None = None, **overrides):
    """An app on `tmp_path`, set up as `flask init` does, with an "admin" and a "viewer" account."""
    return _new_app(tmp_path, outbound, file_config, overrides, template=_template())


def _new_app(tmp_path, outbound, file_config, overrides, *, template: Path | None):
    """make_app's work; a new default database starts as a copy of `template` (at head, with both accounts)."""
    default_url = f"sqlite:///{tmp_path / DATABASE}"
    copied = (template is not None and overrides.get("SQLALCHEMY_DATABASE_URI", default_url) == default_url
              and not any(tmp_path.glob(DATABASE + "*")))
    if copied:
        tmp_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, tmp_path / DATABASE)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": default_url,
            "SWITCHBOARD_ENCRYPTION_KEYS": overrides.pop("keys", None) or [Fernet.generate_key().decode()],
            "SWITCHBOARD": file_config or FileConfig(outbound=outbound or OutboundSettings()),
            **overrides,
        }
    )
    with app.app_context():
        if not copied:  # the template was checked to be at head when it was made
            upgrade(directory=app.extensions["migrate"].directory)
        preconfigured.sync()
        for name, role in ROLES.items():
            if accounts.get_user(name) is None:
                db.session.add(User(username=name, password_hash=_HASHES[name], role=role))
        db.session.commit()
    return app


@pytest.fixture(scope="session", autouse=True)
def template_database(tmp_path_factory):
    """Migrate once per session: make_app copies this database instead of migrating each test's own."""
    folder = tmp_path_factory.mktemp("template")
    app = _new_app(folder, None, None, {}, template=None)
    with app.app_context():
        migrate = app.extensions["migrate"]
        heads = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory)).get_heads()
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
        db.engine.dispose()  # the last connection closes: SQLite checkpoints the WAL and removes -wal and -shm
    assert set(current) == set(heads), f"template database at {current}, migrations' head is {heads}"
    leftovers = sorted(p.name for p in folder.glob(DATABASE + "-*"))
    assert not leftovers, f"template database not cleanly closed: {leftovers}"
    os.environ[TEMPLATE_ENV] = str(folder / DATABASE)
    yield folder / DATABASE
    os.environ.pop(TEMPLATE_ENV, None)


@pytest.fixture
def app(request, tmp_path):
    template = None if request.path.name in MIGRATED_FROM_NOTHING else _template()
    app = _new_app(tmp_path, None, None, {}, template=template)
    yield app
    with app.app_context():
        from app.db import db

        db.engine.dispose()


def sign_in(client, username: str, password: str | None = None):
    """Sign in through the sign-in form, as a person does."""
    html = client.get("/sign-in").get_data(as_text=True)
    token = FORM_CSRF_RE.search(html).group(1)
    return client.post("/sign-in", data={"csrf_token": token, "username": username,
                                         "password": password or PASSWORDS[username]})


class Browserish:
    """A signed-in test client that carries the page's CSRF token the way the app's pages do (hx-headers)."""

    def __init__(self, client, username: str = "admin"):
        self.client = client
        self._token = None
        response = sign_in(client, username)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]

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
def viewer(app):
    return Browserish(app.test_client(), "viewer")


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
