"""The migrations build exactly the schema the models declare, and go down again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade

from app.db import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_migrations_downgrade_to_nothing(app):
    with app.app_context():
        downgrade(directory=app.extensions["migrate"].directory, revision="base")
        tables = set(db.inspect(db.engine).get_table_names())
    assert tables <= {"alembic_version"}
