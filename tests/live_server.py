"""The real app under gunicorn on 127.0.0.1, for the browser tests.

    with LiveServer(tmp_dir) as server:
        admin = server.accounts["admin"]      # sign in at server.url + "/sign-in" with admin.username/password
        page.goto(server.url + "/connectors")

Set up as an operator does, through the app's command line: `flask init` with SWITCHBOARD_ADMIN_USER and
SWITCHBOARD_ADMIN_PASSWORD creates the database and the bootstrap admin, then `flask users create viewer
--role viewer --password …` adds a viewer. Both commands run in one interpreter (importing the app costs
~2 s per process) while gunicorn starts; the instance's key files are created atomically, so the two
processes can start together, and the server is only used once both are done.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `flask --app wsgi init`, then `flask --app wsgi users create NAME --role ROLE --password PW` (argv 1-3).
_SETUP = """
import sys
import click
from flask.cli import cli
name, role, password = sys.argv[1:4]
for command in (["init"], ["users", "create", name, "--role", role, "--password", password]):
    try:
        cli.main(["--app", "wsgi", *command], prog_name="flask", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(f"flask {command[0]} failed")
"""


def _env(instance: Path) -> dict[str, str]:
    # Nothing from the caller's environment that could change what the app does.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "AWS_"))}
    env.update(
        SWITCHBOARD_INSTANCE_PATH=str(instance),
        SWITCHBOARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    role: str


class LiveServer:
    """gunicorn (gthread, 1 worker, 4 threads) serving wsgi:app from a fresh instance folder.

    `accounts` holds an "admin" and a "viewer" account, each with a fresh random password.
    """

    def __init__(self, instance: Path, *, threads: int = 4):
        self.instance = Path(instance)
        self.instance.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.log_path = self.instance / "gunicorn.log"
        self._env = _env(self.instance)
        self.accounts = {
            role: Account(role, f"{role}-{secrets.token_urlsafe(12)}", role) for role in ("admin", "viewer")
        }
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> LiveServer:
        admin, viewer = self.accounts["admin"], self.accounts["viewer"]
        setup = subprocess.Popen(
            [str(BIN / "python"), "-c", _SETUP, viewer.username, viewer.role, viewer.password],
            cwd=ROOT, env={**self._env, "SWITCHBOARD_ADMIN_USER": admin.username,
                           "SWITCHBOARD_ADMIN_PASSWORD": admin.password},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
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
                out, _ = setup.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                raise RuntimeError("flask init / users create took over 60 s") from None
            if setup.returncode != 0:
                raise RuntimeError(f"flask init / users create failed ({setup.returncode}):\n{out}")
            self._wait_until_up()
        except BaseException:
            if setup.returncode is None:  # not reaped yet: still running, or never waited for
                setup.kill()
                setup.communicate(timeout=5)
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
