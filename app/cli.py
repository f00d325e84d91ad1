"""Command line: `flask --app wsgi init` and `flask --app wsgi secrets rotate`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select

from app.crypto import SecretsUnreadable
from app.db import db
from app.models import Connector


def register(app: Flask) -> None:
    @app.cli.command("init")
    def init() -> None:
        """Create or upgrade the database (the encryption key is created on first start)."""
        upgrade(directory=current_app.extensions["migrate"].directory)
        click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")

    secrets = AppGroup("secrets", help="Manage stored secrets.")
    app.cli.add_command(secrets)

    @secrets.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored secret under the first key of SWITCHBOARD_ENCRYPTION_KEYS."""
        ring = current_app.extensions["switchboard.keyring"]
        rotated = unreadable = 0
        for connector in db.session.scalars(select(Connector).where(Connector.secrets_encrypted.is_not(None))):
            try:
                connector.secrets_encrypted = ring.rotate(connector.secrets_encrypted)
                rotated += 1
            except SecretsUnreadable:
                connector.is_missing_secrets = True
                unreadable += 1
        db.session.commit()
        click.echo(f"Re-encrypted {rotated} connector(s); {unreadable} could not be decrypted and now need secrets.")
