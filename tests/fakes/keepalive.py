"""A webhook receiver that keeps connections open between requests (HTTP/1.1 keep-alive, as most services
do; werkzeug's dev server closes each one), noting the client port each request came from, so a test can
tell a pooled connection from a new one. `/big` answers `big_bytes` bytes; every other path a small JSON."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class KeepAliveReceiver:
    def __init__(self, big_bytes: int = 5000):
        self.client_ports: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                receiver.client_ports.append(self.client_address[1])
                body = b"x" * big_bytes if self.path == "/big" else b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> KeepAliveReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
