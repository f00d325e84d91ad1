"""Liveness and database readiness, without touching outside services or needing sign-in."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        database = f"unreachable: {type(exc).__name__}"
    ok = database == "ok"
    return jsonify(status="ok" if ok else "degraded", database=database), 200
