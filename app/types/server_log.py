"""Server log — `.server-log` (connector-types.md §16): writes a message to the application log."""

from __future__ import annotations

import logging
import re
from typing import Literal

from app.types.kit import ConnectorType, Context, EmptySchema, Field, Result, Schema

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

log = logging.getLogger("switchboard.server_log")


class ServerLogParams(Schema):
    message: str = Field(label="Message", widget="textarea", min_length=1)
    level: Literal["trace", "debug", "info", "warn", "error", "fatal"] = Field("info", label="Level")


class ServerLog(ConnectorType):
    id = ".server-log"
    name = "Server log"
    description = "Write a message to Switchboard's own application log."
    params = ServerLogParams
    test_params = {"message": "Test message from Switchboard", "level": "info"}
    supported_feature_ids = ("alerting", "uptime", "siem")
    calls_out = False

    def execute(self, ctx: Context[EmptySchema, EmptySchema, ServerLogParams]) -> Result:
        p = ctx.params
        # Control characters are removed so a message cannot forge extra log lines.
        text = _CONTROL.sub("", p.message)
        try:
            log.log(_LEVELS[p.level], "Server log: %s", text)
        except Exception as exc:  # a broken log handler must not break the run
            return Result.error("error logging message", str(exc))
        return Result.ok()
