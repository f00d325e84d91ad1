"""Services own the rules and the data: the connector store, executions, the event log, accounts,
import/export, preconfigured connectors and access tokens. They run inside a Flask app context."""

from __future__ import annotations

from app import extensions
from app.crypto import Keyring
from app.outbound import OutboundClient
from app.settings import OutboundSettings


def keyring() -> Keyring:
    return extensions.keyring.get()


def outbound() -> OutboundClient:
    return extensions.outbound.get()


def outbound_settings() -> OutboundSettings:
    return outbound().settings
