"""Services: the store, executions and the event log. They run inside a Flask app context."""

from __future__ import annotations

from flask import current_app

from app.crypto import Keyring
from app.outbound import OutboundClient
from app.settings import OutboundSettings


def keyring() -> Keyring:
    return current_app.extensions["switchboard.keyring"]


def outbound() -> OutboundClient:
    return current_app.extensions["switchboard.outbound"]


def outbound_settings() -> OutboundSettings:
    return outbound().settings
