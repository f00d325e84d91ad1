"""The SQLAlchemy handle. SQLite gets WAL and a busy timeout; nothing else here is SQLite-only."""

from __future__ import annotations

import os
import stat

import click
from flask import g
from flask.cli import with_appcontext
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    pass


class Migrations:
    """Flask-Migrate, bound when first used: importing it loads alembic, ~11 MB in every gunicorn worker,
    which only `flask db …`, `flask init` and the tests need. `app.extensions["migrate"]` and the `db`
    command group stand in for Flask-Migrate's own until then."""

    def init_app(self, app, db, directory: str) -> None:
        app.extensions["migrate"] = _Deferred(app, db, directory)
        app.cli.add_command(_migration_commands)


class _Deferred:
    def __init__(self, app, db, directory: str):
        self._binding = (app, db, directory)

    def __getattr__(self, name: str):
        from flask_migrate import Migrate

        app, db, directory = self._binding
        Migrate(app, db, directory=directory)  # puts its own config in app.extensions["migrate"]
        return getattr(app.extensions["migrate"], name)


class _LazyGroup(click.Group):
    """Flask-Migrate's commands, imported when the group is used."""

    @staticmethod
    def _group() -> click.Group:
        from flask_migrate.cli import db as commands

        return commands

    def list_commands(self, ctx):
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._group().get_command(ctx, name)


@click.group("db", cls=_LazyGroup)
@click.option("-d", "--directory", default=None, help='Migration script directory (default is "migrations")')
@click.option("-x", "--x-arg", multiple=True, help="Additional arguments consumed by custom env.py scripts")
@with_appcontext
def _migration_commands(directory, x_arg):
    """Perform database migrations (Flask-Migrate)."""
    g.directory, g.x_arg = directory, x_arg  # as Flask-Migrate's own group does: its commands read them


db = SQLAlchemy(model_class=Base)
migrate = Migrations()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    _make_private(cursor)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _make_private(cursor) -> None:
    """The database holds password and API-key hashes and event messages: owner-only (0600).

    SQLite creates the -wal and -shm files with the database file's mode, so setting it here, on the
    first connection, before WAL is switched on, covers them too; any left from an older run are fixed as well.
    """
    for _seq, name, path in cursor.execute("PRAGMA database_list").fetchall():
        if name != "main" or not path:  # an in-memory database has no file
            continue
        for file in (path, path + "-wal", path + "-shm"):
            try:
                if stat.S_IMODE(os.stat(file).st_mode) & 0o077:
                    os.chmod(file, 0o600)
            except FileNotFoundError:
                continue


# ---- storage that cannot be written -----------------------------------------------------------

class StorageUnavailable(Exception):
    """The database refused a write (disk full, read-only, locked too long): answered with 503."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# The last write failure this worker saw, so /healthz reports it; a later commit that succeeds clears it.
_last_write_failure: dict[str, object] = {}


def storage_failure(exc: Exception) -> StorageUnavailable:
    """Name a database write failure for people (never quoting the statement or its values) and remember it."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "full" in text or "no space" in text or "could not extend" in text:
        reason = "storage is full"
    elif "readonly" in text or "read-only" in text or "read only" in text:
        reason = "the database is read-only"
    elif "locked" in text or "busy" in text:
        reason = "the database is busy"
    else:
        reason = "the database cannot be written"
    _last_write_failure["reason"] = reason
    return StorageUnavailable(reason)


def last_write_failure() -> str | None:
    return _last_write_failure.get("reason")  # type: ignore[return-value]


def write_succeeded() -> None:
    _last_write_failure.pop("reason", None)


# A commit after a flush wrote something: storage works again. (A commit after reads proves nothing.)
@event.listens_for(Session, "after_flush")
def _wrote(session, _context) -> None:
    session.info["wrote"] = True


@event.listens_for(Session, "after_commit")
def _committed(session) -> None:
    if session.info.pop("wrote", False):
        write_succeeded()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session) -> None:
    session.info.pop("wrote", None)


# ---- Core statements on the hot path ------------------------------------------------------------
# An API call that runs a connector makes four statements: read the API key, read the connector, write
# the run's event row ("running") and complete it. Through the ORM session each costs a unit of work,
# identity-map bookkeeping and session events: together more than the service call itself. These helpers
# run prepared Core statements on one engine connection per app context instead, in autocommit: each of
# those statements stands alone, and a write's lock on SQLite lasts only as long as its statement, never
# across Python code (a transaction held open while its thread waited for the GIL made the worker's other
# threads, and the other worker, sleep in SQLite's busy handler). It goes back to the pool when the
# context ends; in autocommit it holds no transaction meanwhile, however long a run waits on a service.
#
# When the session is already in a transaction in this context (a page that has read or changed things
# through the ORM), its connection is used and committed with it, as before: what the session holds is
# committed together, and SQLite never has two writers in one thread waiting on each other.

_CORE = "_switchboard_core_connection"


def core_connection():
    """The connection for a hot path's Core statements; see above."""
    if _session_busy():
        return db.session.connection()
    conn = g.get(_CORE)
    if conn is None:
        conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        setattr(g, _CORE, conn)
    return conn


def _session_busy() -> bool:
    return db.session.registry.has() and db.session().in_transaction()


def core_commit(conn) -> None:
    """Make what `conn` (from core_connection) wrote durable: the session's connection commits with the
    session; the autocommit connection already has."""
    if g.get(_CORE) is not conn:
        db.session.commit()


def core_rollback(conn) -> None:
    """After a failed statement: the session rolls back; an autocommit statement left nothing to undo."""
    if g.get(_CORE) is not conn:
        db.session.rollback()


def _release(_exc: BaseException | None = None) -> None:
    conn = g.pop(_CORE, None)
    if conn is not None:
        conn.close()


def init_core(app) -> None:
    app.teardown_appcontext(_release)


def engine_options(url: str) -> dict:
    """Pool sizes for a worker of 20 threads (gunicorn.conf.py): each may hold the session's connection
    and a hot path's at once. With fewer, connections past the pool's size are closed on their return
    and opened again (with the pragmas above) under load. SQLite in memory has its own one-connection pool."""
    if url.startswith("sqlite") and (url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url):
        return {}
    return {"pool_size": 20, "max_overflow": 20, "pool_use_lifo": True}
