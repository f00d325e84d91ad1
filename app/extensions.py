"""Every extension, created here at module level and bound in `create_app` with `init_app`."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from app.crypto import Keyring, load_or_create_keys
from app.db import db, migrate
from app.outbound import OutboundClient
from app.services.run_slots import RunSlots

__all__ = ["csrf", "db", "keyring", "login_manager", "migrate", "outbound", "run_slots"]


class _KeyringExtension:
    """The keyring that encrypts stored secrets: keys from the settings, else the instance key file.

    The key file is made on first use, not at start-up, so a command refused for want of a database
    (run against the wrong folder) leaves no stray key behind.
    """

    def init_app(self, app: Flask) -> None:
        app.extensions["switchboard.keyring"] = None
        app.extensions["switchboard.keyring.lock"] = threading.Lock()

    @staticmethod
    def get() -> Keyring:
        ring = current_app.extensions["switchboard.keyring"]
        if ring is None:
            with current_app.extensions["switchboard.keyring.lock"]:
                ring = current_app.extensions["switchboard.keyring"]
                if ring is None:
                    keys = load_or_create_keys(
                        current_app.config["SWITCHBOARD_ENCRYPTION_KEYS"], Path(current_app.instance_path)
                    )
                    ring = current_app.extensions["switchboard.keyring"] = Keyring(keys)
        return ring


class _OutboundExtension:
    """The one outbound HTTP client (DESIGN rule 3), built from `[outbound]`; thread-safe, one per app."""

    def init_app(self, app: Flask) -> None:
        app.extensions["switchboard.outbound"] = OutboundClient(app.config["SWITCHBOARD"].outbound)

    @staticmethod
    def get() -> OutboundClient:
        return current_app.extensions["switchboard.outbound"]


class _RunSlotsExtension:
    """The bound on runs this worker executes at once, from `[outbound] max_concurrent_runs`."""

    def init_app(self, app: Flask) -> None:
        settings = app.config["SWITCHBOARD"].outbound
        app.extensions["switchboard.run_slots"] = RunSlots(settings.max_concurrent_runs, settings.max_waiting_runs)

    @staticmethod
    def get() -> RunSlots:
        return current_app.extensions["switchboard.run_slots"]


csrf = CSRFProtect()
login_manager = LoginManager()
keyring = _KeyringExtension()
outbound = _OutboundExtension()
run_slots = _RunSlotsExtension()
