"""Slow services, on purpose: one that drips its answer a byte at a time, one that holds each request
until the test lets it go. Both are bounded: the drip ends after `count` bytes, a held request after 30 s."""

from __future__ import annotations

import threading
import time

from werkzeug.wrappers import Request

from tests.fakes.server import FakeServer

HOLD_LIMIT_SECONDS = 30


class Drip(FakeServer):
    """Answers 200 with a JSON body of `count` bytes, one every `interval` seconds (Content-Length set, as a
    real service would). `finished` is set once the whole body went out."""

    def __init__(self, count: int = 20, interval: float = 0.5, **kw):
        self.count, self.interval = count, interval
        self.sent = 0
        self.finished = threading.Event()
        super().__init__(self._app, **kw)

    def _app(self, environ, start_response):
        Request(environ).get_data()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(self.count))])
        return self._drip()

    def _drip(self):
        body = b'"' + b"x" * (self.count - 2) + b'"'
        for i in range(self.count):
            if i:
                time.sleep(self.interval)
            self.sent += 1
            yield body[i:i + 1]
        self.finished.set()


class Held(FakeServer):
    """Every request waits until `release()` (or 30 s), then gets 200 {"ok": true}. `arrived` counts them."""

    def __init__(self, **kw):
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.arrived = 0
        self.first_arrived = threading.Event()
        super().__init__(self._app, **kw)

    def _app(self, environ, start_response):
        Request(environ).get_data()
        with self._lock:
            self.arrived += 1
        self.first_arrived.set()
        self._release.wait(HOLD_LIMIT_SECONDS)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self.release()
        super().stop()
