"""Command line: `flask --app wsgi init`, and the `connectors`, `users` and `secrets` groups."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import inspect, select

from app import settings
from app.crypto import SecretsUnreadable
from app.db import db
from app.models import ROLES, Connector
from app.services import accounts, keyring, preconfigured, transfer
from app.services import connectors as store


def not_initialised() -> str | None:
    """Why this instance has no usable database yet, or None. Checked without creating anything."""
    url = db.engine.url
    missing_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
        and not Path(url.database).exists()
    if missing_file or not inspect(db.engine).has_table("alembic_version"):
        return (
            f"No Switchboard database at {url.render_as_string(hide_password=True)} "
            f"(instance folder {current_app.instance_path}). Run `flask --app wsgi init` there first, "
            "or set SWITCHBOARD_INSTANCE_PATH (and SWITCHBOARD_DATABASE_URL) as the server has them."
        )
    return None


@with_appcontext
def _require_initialised() -> None:
    reason = not_initialised()
    if reason:
        raise click.ClickException(reason)


def _group(name: str, help: str) -> AppGroup:
    """A command group that refuses to run against an instance `flask init` has not set up."""
    return AppGroup(name, help=help, callback=_require_initialised)


def check_stored_secrets() -> tuple[int, list[Connector], int]:
    """Decrypt every connector's stored secrets with the configured keys, so a changed key shows at once.

    What cannot be decrypted is flagged `is_missing_secrets` (the list's Fix badge, `?missing=1`);
    what can be read again (the old key is back) loses a flag only a failed decryption could have set.
    Returns (readable, the unreadable connectors, recovered).
    """
    readable, unreadable, recovered = 0, [], 0
    stored = select(Connector).where(Connector.secrets_encrypted.is_not(None), Connector.is_preconfigured.is_(False))
    for connector in db.session.scalars(stored.order_by(Connector.name, Connector.id)):
        try:
            store.stored_secrets(connector)
        except SecretsUnreadable:
            connector.is_missing_secrets = True
            unreadable.append(connector)
            continue
        readable += 1
        if connector.is_missing_secrets:
            connector.is_missing_secrets = False
            recovered += 1
    db.session.commit()
    return readable, unreadable, recovered


def _secrets_report(readable: int, unreadable: list[Connector], recovered: int) -> str:
    lines = [f"Stored secrets: {readable} connector(s) readable"
             + (f" ({recovered} readable again, no longer flagged)" if recovered else "")
             + (f"; {len(unreadable)} cannot be decrypted with SWITCHBOARD_ENCRYPTION_KEYS"
                " and are flagged as missing secrets:" if unreadable else ".")]
    lines += [f"  {c.id}\t{c.name}" for c in unreadable]
    if unreadable:
        lines.append("Add the old key to SWITCHBOARD_ENCRYPTION_KEYS (then `flask secrets rotate`), "
                     "or enter their secrets again (/connectors?missing=1).")
    return "\n".join(lines)


def register(app: Flask) -> None:
    @app.cli.command("init")
    def init() -> None:
        """Create or upgrade the database, mirror preconfigured connectors, ensure the bootstrap admin."""
        from flask_migrate import upgrade  # alembic, for the command line only (see app/db.py)

        upgrade(directory=current_app.extensions["migrate"].directory)
        click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")
        keyring()  # the encryption key exists from now on (generated, with a warning to back it up, if new)
        preconfigured.sync()
        readable, unreadable, recovered = check_stored_secrets()  # a changed key shows in the list at once
        if readable or unreadable:
            click.echo(_secrets_report(readable, unreadable, recovered))
        admin = settings.bootstrap_admin()
        if admin:
            click.echo(accounts.ensure_admin(*admin))
        elif not accounts.any_user():
            click.echo(
                "\nNo accounts yet. Create the first admin with\n"
                "  .venv/bin/flask --app wsgi users create admin --role admin\n"
                "or set SWITCHBOARD_ADMIN_USER and SWITCHBOARD_ADMIN_PASSWORD and start again.\n"
            )

    transfer_group = _group("connectors", help="Export and import connectors (NDJSON, without secrets).")
    app.cli.add_command(transfer_group)

    @transfer_group.command("export")
    @click.option("--id", "ids", multiple=True, help="Export only these connectors (repeatable); default all.")
    @click.option("-o", "--output", type=click.File("w"), default="-", help="File to write; default standard output.")
    def connectors_export(ids: tuple[str, ...], output) -> None:
        """Export connectors in Kibana's saved-object NDJSON format."""
        rows, missing = transfer.connectors_to_export(list(ids))
        if missing:
            raise click.ClickException(f"no such connector(s): {', '.join(sorted(missing))}")
        output.write(transfer.export_ndjson(rows) + "\n")
        skipped = len(transfer.unexportable(rows))
        click.echo(f"Exported {len(rows) - skipped} connector(s); secrets are never exported"
                   + (f"; {skipped} preconfigured skipped." if skipped else "."), err=True)

    @transfer_group.command("import")
    @click.argument("file", type=click.File("rb"))
    @click.option("--overwrite", is_flag=True, help="Replace connectors with the same id.")
    @click.option("--create-new-copies", is_flag=True, help="Give every imported connector a new id.")
    def connectors_import(file, overwrite: bool, create_new_copies: bool) -> None:
        """Import an NDJSON export (from Switchboard or Kibana); nothing is imported if the file is bad."""
        try:
            result = transfer.import_ndjson(file.read(), overwrite=overwrite, create_new_copies=create_new_copies)
        except (transfer.ImportFileError, ValueError) as exc:
            raise click.ClickException(f"nothing imported: {exc}") from None
        click.echo(f"Imported {result.successCount} connector(s).")
        for error in result.errors:
            click.echo(f"  not imported: {error['id']}: {error['error'].get('message') or error['error']['type']}", err=True)
        for warning in result.warnings:
            click.echo(f"  {warning['message']}", err=True)
        if result.errors:
            raise SystemExit(1)

    users = _group("users", help="Manage user accounts.")
    app.cli.add_command(users)

    def _user_or_fail(name: str):
        user = accounts.get_user(name)
        if user is None:
            raise click.ClickException(f'no user "{name}"')
        return user

    @users.command("create")
    @click.argument("username")
    @click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
    @click.password_option(help="Prompted for when not given.")
    def users_create(username: str, role: str, password: str) -> None:
        """Create a user."""
        try:
            accounts.create_user(username, password, role)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f'Created {role} "{username}".')

    @users.command("set-password")
    @click.argument("username")
    @click.password_option(help="Prompted for when not given.")
    def users_set_password(username: str, password: str) -> None:
        """Set a user's password (their open sessions end)."""
        try:
            accounts.set_password(_user_or_fail(username), password)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f'Password of "{username}" changed.')

    @users.command("delete")
    @click.argument("username")
    def users_delete(username: str) -> None:
        """Delete a user."""
        accounts.delete_user(_user_or_fail(username))
        click.echo(f'Deleted "{username}".')

    @users.command("list")
    def users_list() -> None:
        """List users and their roles."""
        for user in accounts.list_users():
            click.echo(f"{user.username}\t{user.role}")

    keys = _group("keys", help="API keys for scripts (shown once when created; only a hash is kept).")
    app.cli.add_command(keys)

    @keys.command("create")
    @click.argument("name")
    @click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
    def keys_create(name: str, role: str) -> None:
        """Create a key and print its Authorization header value (once)."""
        try:
            new = accounts.create_api_key(name, role, None)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"ApiKey {new.encoded}")
        click.echo(f'Created {role} key "{new.key.name}" (id {new.key.id}); it is not shown again.', err=True)

    @keys.command("list")
    def keys_list() -> None:
        """List keys: id, name, role, created, last used, revoked."""
        for key in accounts.list_api_keys():
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.id}\t{key.name}\t{key.role}\t{key.created_at:%Y-%m-%d}\t{used}\t{state}")

    @keys.command("revoke")
    @click.argument("key_id")
    def keys_revoke(key_id: str) -> None:
        """Revoke a key by its id; scripts using it are refused from then on."""
        key = accounts.revoke_api_key(key_id)
        if key is None:
            raise click.ClickException(f'no API key "{key_id}"')
        click.echo(f'Revoked "{key.name}".')

    secrets = _group("secrets", help="Manage stored secrets.")
    app.cli.add_command(secrets)

    @secrets.command("check")
    def check() -> None:
        """Try to decrypt every stored secret; flag what cannot be read as missing secrets (exit 1 if any)."""
        readable, unreadable, recovered = check_stored_secrets()
        click.echo(_secrets_report(readable, unreadable, recovered))
        if unreadable:
            raise SystemExit(1)

    @secrets.command("rotate")
    def rotate() -> None:
        """Re-encrypt every stored secret under the first key of SWITCHBOARD_ENCRYPTION_KEYS."""
        rotated, unreadable = store.rotate_secrets()
        click.echo(f"Re-encrypted {rotated} connector(s); {unreadable} could not be decrypted and now need secrets.")
