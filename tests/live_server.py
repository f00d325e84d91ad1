"""The real app under gunicorn on 127.0.0.1, for the browser tests.

    with LiveServer(tmp_dir) as server:
        page.goto(server.url + "/connectors")

`flask --app wsgi init` creates the database first, with the same environment the server gets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(instance: Path) -> dict[str, str]:
    # Nothing from the caller's environment that could change what the app does.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "AWS_"))}
    env.update(
        SWITCHBOARD_INSTANCE_PATH=str(instance),
        SWITCHBOARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PYTHONUNBUFFERED="1",
    )
    return env


class LiveServer:
    """gunicorn (gthread, 1 worker, 4 threads) serving wsgi:app from a fresh instance folder."""

    def __init__(self, instance: Path, *, threads: int = 4):
        self.instance = Path(instance)
        self.instance.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.log_path = self.instance / "gunicorn.log"
        self._env = _env(self.instance)
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> LiveServer:
        init = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "init"],
            cwd=ROOT, env=self._env, capture_output=True, text=True, timeout=60,
        )
        if init.returncode != 0:
            raise RuntimeError(f"flask init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"), "--worker-class", "gthread", "--workers", "1",
                "--threads", str(self.threads), "--bind", f"127.0.0.1:{self.port}",
                "--no-control-socket", "wsgi:app",
            ],
            cwd=ROOT, env=self._env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_up(self, tries: int = 100, pause: float = 0.1) -> None:
        for _ in range(tries):
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self._proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(pause)
        raise RuntimeError(f"gunicorn did not answer /healthz within {tries * pause:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
