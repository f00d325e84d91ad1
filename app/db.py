"""The SQLAlchemy handle. SQLite gets WAL and a busy timeout; nothing else here is SQLite-only."""

from __future__ import annotations

import os
import stat

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


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
