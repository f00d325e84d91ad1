"""A real HTTP server on 127.0.0.1 for a WSGI app: the base of every fake service."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request lines from fakes in test output


class FakeServer:
    """Serve `app` on a free port in a background thread; use as a context manager."""

    def __init__(self, app, *, ssl_context=None):
        self._server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
        self._server.daemon_threads = True
        scheme = "https" if ssl_context else "http"
        self.port = self._server.server_port
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
