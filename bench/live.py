"""The through-gunicorn half of the bench: the app as `make run` serves it, measured from outside.

Everything here is a real socket on 127.0.0.1: gunicorn with the repository's gunicorn.conf.py (the
same as `make run`), a webhook receiver in its own process (so its work does not share the client's
GIL), and client threads that keep their connections open, as a script calling the API would.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_SECONDS = 60  # gunicorn's start-up, bounded


# ---- the receiver, in its own process ------------------------------------------------------------


def _receiver_main(port_out, slow_seconds: float) -> None:
    """Answer /hook at once and /slow after `slow_seconds`; HTTP/1.1 with keep-alive, as most services."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 64 * 1024  # one write per answer: headers and body apart would meet Nagle and a delayed ACK

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/slow":
                time.sleep(slow_seconds)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever(poll_interval=0.1)


class ReceiverProcess:
    def __init__(self, slow_seconds: float):
        ctx = multiprocessing.get_context("spawn")
        self._queue = ctx.Queue()
        self._proc = ctx.Process(target=_receiver_main, args=(self._queue, slow_seconds), daemon=True)

    def __enter__(self) -> ReceiverProcess:
        self._proc.start()
        self.port = self._queue.get(timeout=START_SECONDS)
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        self._proc.join(10)


# ---- gunicorn ------------------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn wsgi:app` as `make run` starts it (its settings from gunicorn.conf.py)."""

    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self._env, self._log_path = env, log

    def __enter__(self) -> Gunicorn:
        self._log = open(self._log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", "--access-logfile", "-",
             "wsgi:app"],
            cwd=ROOT, env=self._env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self._log_path}")
            try:
                status, _ = request(self.port, "GET", "/healthz")
                if status == 200 and len(self.worker_pids()) >= 1:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {START_SECONDS} s")

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB: PSS splits pages shared with the other workers (preload_app) between them."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) / 1024
    return values.get("Rss", float("nan")), values.get("Pss", float("nan"))


# ---- clients -------------------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            conn: http.client.HTTPConnection | None = None, timeout: float = 60) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


@dataclass
class Call:
    """One kind of request, repeated: GET or POST, path, body, headers, the status that counts as done."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict | None = None
    expect: int = 200

    def on(self, conn: http.client.HTTPConnection) -> int:
        conn.request(self.method, self.path, body=self.body, headers=self.headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status


def latencies(port: int, call: Call, n: int, warmup: int) -> list[float]:
    """n sequential calls on one kept-alive connection; milliseconds each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    try:
        for i in range(warmup + n):
            started = time.perf_counter()
            status = call.on(conn)
            elapsed = (time.perf_counter() - started) * 1000
            if status != call.expect:
                raise RuntimeError(f"{call.method} {call.path} -> {status}")
            if i >= warmup:
                times.append(elapsed)
    finally:
        conn.close()
    return times


def _load_worker(port: int, call: Call, threads: int, seconds: float, out) -> None:
    done, other = [0] * threads, [0] * threads
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop_at:
            try:
                status = call.on(conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                other[i] += 1
                continue
            if status == call.expect:
                done[i] += 1
            else:
                other[i] += 1
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 120)
    out.put((sum(done), sum(other)))


def throughput(port: int, call: Call, clients: int, seconds: float, processes: int = 2) -> tuple[float, int]:
    """Requests answered with `call.expect` per second, from `clients` kept-alive connections spread over
    `processes` client processes (one Python process alone would measure its own GIL); and the count of
    other answers."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [ctx.Process(target=_load_worker, args=(port, call, n, seconds, out)) for n in per if n]
    for p in procs:
        p.start()
    totals = [out.get(timeout=seconds + 180) for _ in procs]
    for p in procs:
        p.join(30)
    return sum(t[0] for t in totals) / seconds, sum(t[1] for t in totals)


class InFlight:
    """`count` requests sent at once on their own connections and left waiting (slow runs)."""

    def __init__(self, port: int, call: Call, count: int):
        self._port, self._call, self._count = port, call, count
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._one, daemon=True) for _ in range(count)]

    def _one(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=120)
        try:
            status = self._call.on(conn)
        except (OSError, http.client.HTTPException):
            status = -1
        finally:
            conn.close()
        with self._lock:
            self.statuses.append(status)

    def __enter__(self) -> InFlight:
        for t in self._threads:
            t.start()
        return self

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def __exit__(self, *exc) -> None:
        self.wait(120)


def api_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {api_key}", "kbn-xsrf": "bench", "Content-Type": "application/json"}


def execute_call(connector_id: str, api_key: str, body: dict) -> Call:
    return Call("POST", f"/api/actions/connector/{connector_id}/_execute",
                json.dumps({"params": body}).encode(), api_headers(api_key))


def server_env(instance: Path, key: str, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "AWS_"))}
    env.update(SWITCHBOARD_INSTANCE_PATH=str(instance), SWITCHBOARD_ENCRYPTION_KEYS=key,
               SWITCHBOARD_SECRET_KEY=secret_key, PYTHONUNBUFFERED="1")
    return env
