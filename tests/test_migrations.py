"""The migrations build exactly the schema the models declare, and go down again."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade
from sqlalchemy import text

from app.db import db

# SQLAlchemy cannot reflect expression indexes, so autogenerate cannot compare them; checked by name below.
EXPRESSION_INDEXES = {"ix_connectors_lower_name", "ix_connectors_type_lower_name"}


def _comparable(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        diff = compare_metadata(MigrationContext.configure(connection, opts={"include_object": _comparable}), db.metadata)
        indexes = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert diff == []
    assert indexes >= EXPRESSION_INDEXES


def test_migrations_downgrade_to_nothing(app):
    with app.app_context():
        downgrade(directory=app.extensions["migrate"].directory, revision="base")
        tables = set(db.inspect(db.engine).get_table_names())
    assert tables <= {"alembic_version"}
