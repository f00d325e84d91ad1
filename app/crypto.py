"""Secrets at rest: MultiFernet keys (the first encrypts, all decrypt).

Each ciphertext carries the id of the connector it belongs to, checked on decryption, so a
ciphertext copied onto another row is refused (the idea of Kibana's AAD on encrypted saved objects).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"


class SecretsUnreadable(Exception):
    """Stored secrets cannot be decrypted with any configured key (or belong to another row)."""


class Keyring:
    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one encryption key is needed")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise ValueError(
                "an encryption key is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc

    def encrypt(self, owner_id: str, secrets: dict) -> str:
        plain = json.dumps({"owner": owner_id, "secrets": secrets}, separators=(",", ":"))
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, owner_id: str, token: str, ttl: int | None = None) -> dict:
        try:
            envelope = json.loads(self._fernet.decrypt(token.encode(), ttl=ttl))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable("no configured key can decrypt these secrets") from exc
        if envelope.get("owner") != owner_id:
            raise SecretsUnreadable("these secrets belong to another connector")
        return envelope["secrets"]

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnreadable("no configured key can decrypt these secrets") from exc


def _read_or_create(path: Path, make_value) -> tuple[str, bool]:
    """Read a key file, or create it atomically (safe when several workers start at once)."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(make_value() + "\n")
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink()
    return path.read_text().strip(), created


def load_or_create_keys(configured: list[str], instance: Path) -> list[str]:
    """Keys from the environment, else the instance key file, created on first run."""
    if configured:
        return configured
    path = instance / KEY_FILE_NAME
    text, created = _read_or_create(path, lambda: Fernet.generate_key().decode())
    if created:
        log.warning(
            "Generated a new encryption key at %s. Back it up: without it the stored secrets "
            "cannot be decrypted. Set SWITCHBOARD_ENCRYPTION_KEYS to manage keys yourself.",
            path,
        )
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_or_create_secret_key(configured: str, instance: Path) -> str:
    if configured:
        return configured
    return _read_or_create(instance / "secret.key", lambda: os.urandom(32).hex())[0]
