"""What a run returns: Kibana's ActionTypeExecutorResult, plus token usage for LLM types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Kibana's text when an executor fails in a way the type has no better words for.
GENERIC_ERROR = "an error occurred while running the action"


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class Result:
    """`status` is the run's outcome, "ok" or "error"; `retry` is a bool, or an ISO date to retry at."""

    status: Literal["ok", "error"]
    message: str | None = None
    service_message: str | None = None
    data: Any = None
    retry: bool | str | None = None
    usage: TokenUsage | None = None
    sub_action: str | None = None

    @classmethod
    def ok(cls, data: Any = None, *, usage: TokenUsage | None = None) -> Result:
        return cls(status="ok", data=data, usage=usage)

    @classmethod
    def error(
        cls, message: str, service_message: str | None = None, *, retry: bool | str | None = False
    ) -> Result:
        return cls(status="error", message=message, service_message=service_message, retry=retry)

    @property
    def is_ok(self) -> bool:
        return self.status == "ok"


class Failed(Exception):
    """Raise from deep inside a handler to end the run with `result`; the framework returns it."""

    def __init__(self, result: Result):
        super().__init__(result.message)
        self.result = result
