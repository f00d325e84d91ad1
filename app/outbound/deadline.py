"""A run's overall deadline ([outbound] run_timeout), which every outbound call of the run obeys.

`read_timeout` bounds each read; a service sending one byte a second never trips it. The deadline caps
the connect and read timeouts of each call to the time left, and a body is read as it arrives and
checked against the deadline between pieces, so a slow drip ends at the deadline too.
"""

from __future__ import annotations

import time

from app.outbound.policy import OutboundError


class RunDeadline:
    def __init__(self, seconds: float, setting: str = "[outbound] run_timeout"):
        self.seconds = seconds
        self.setting = setting
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def error(self) -> OutboundError:
        return OutboundError("run_timeout", f"the run did not finish within {self.seconds:g} s ({self.setting})")

    def check(self) -> None:
        if self.passed():
            raise self.error()

    def cap(self, timeout: tuple[float, float]) -> tuple[float, float]:
        """(connect, read) timeouts no longer than the time left; raises when none is left."""
        self.check()
        left = self.remaining()
        return min(timeout[0], left), min(timeout[1], left)
