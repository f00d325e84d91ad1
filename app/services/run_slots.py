"""How many runs one worker process executes at once (issue #7 item 5).

Runs wait on outside services on the request threads. Bounding them per worker, below its thread count,
keeps threads free for pages, the API's other calls and /healthz however slow the services are. A run
beyond the bound waits a moment for a place (a burst of fast runs passes); when the few waiting places
are taken too, or none frees up, it is refused with RunsBusy, which the web and API layers answer 503
with Retry-After. A refused run never started, so it leaves no event row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

WAIT_SECONDS = 1.0  # long enough for a burst of fast runs to get through, short enough to answer a client soon
RETRY_AFTER_SECONDS = 2


class RunsBusy(Exception):
    def __init__(self, running: int):
        super().__init__(f"Too many runs in progress ({running} at once on this worker); try again in a few seconds.")
        self.retry_after = RETRY_AFTER_SECONDS


class RunSlots:
    """Thread-safe; one per app in each worker process."""

    def __init__(self, running: int, waiting: int, wait_seconds: float = WAIT_SECONDS):
        self.running, self.waiting, self.wait_seconds = running, waiting, wait_seconds
        self._free = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._waiters = 0

    def acquire(self) -> Callable[[], None]:
        """Take one place for a run; raises RunsBusy when none comes free in time. Returns the call that
        gives the place back: once, however many times it is called (the run's end, and its finalizer)."""
        if not self._free.acquire(blocking=False) and not self._wait():
            raise RunsBusy(self.running)
        released = threading.Event()
        lock = threading.Lock()

        def release() -> None:
            with lock:
                if released.is_set():
                    return
                released.set()
            self._free.release()

        return release

    def _wait(self) -> bool:
        with self._lock:
            if self._waiters >= self.waiting:
                return False
            self._waiters += 1
        try:
            return self._free.acquire(timeout=self.wait_seconds)
        finally:
            with self._lock:
                self._waiters -= 1
