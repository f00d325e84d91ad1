"""The SQLAlchemy handle. SQLite gets WAL and a busy timeout; nothing else here is SQLite-only."""

from __future__ import annotations

import os
import stat

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


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
