"""Liveness and database readiness, without touching outside services or needing sign-in."""

from __future__ import annotations

import os

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import db, last_write_failure

bp = Blueprint("health", __name__)
# Below this, SQLite may fail to grow its write-ahead log mid-transaction: report it before it does.
MIN_FREE_BYTES = 1024 * 1024


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        database = f"unreachable: {type(exc).__name__}"
    writable = _writable() if database == "ok" else "unknown"
    ok = database == "ok" and writable == "ok"
    return jsonify(status="ok" if ok else "degraded", database=database, writable=writable), 200


def _writable() -> str:
    """Whether writes work, without writing: a probe write on every poll would cost every poll a commit.

    A write this worker saw fail (and no commit since) says so; so does a SQLite file on a full or
    read-only disk. Other databases are asked whether the session is read-only.
    """
    failure = last_write_failure()
    if failure:
        return f"no: {failure}"
    engine = db.engine
    if engine.dialect.name != "sqlite":
        read_only = db.session.execute(text("SHOW transaction_read_only")).scalar()
        return "no: the database is read-only" if read_only == "on" else "ok"
    path = engine.url.database
    if not path or path == ":memory:":
        return "ok"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
        return "no: the database is read-only"
    stats = os.statvfs(folder)
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        return "no: storage is full"
    return "ok"
