"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts.

Plain, STARTTLS or implicit TLS with a certificate from a `trustme` CA (its PEM in `ca_file`, for
`[outbound.tls] ca_files`), and AUTH against one user when `user` is given — refused over plain text, as
aiosmtpd does unless told otherwise. It can refuse recipients, answer the next message with a chosen
reply, and echo the password in its refusal (a careless server, for the secrets tests).
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

QUEUED = "250 2.0.0 Ok: queued as 4Bqk2M1y"
BAD_LOGIN = "535 5.7.8 Authentication credentials invalid"
UNKNOWN_USER = "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"


@dataclass
class Received:
    """One accepted message: its envelope, its bytes, and how it came (TLS, login)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)

    def part(self, content_type: str) -> str:
        found = next(p for p in self.message.walk() if p.get_content_type() == content_type)
        return found.get_content().replace("\r\n", "\n")  # as written, not as the wire carries it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSMTP:
    """Use as a context manager; `port`, `ca_file` and `received` are what a test needs."""

    def __init__(
        self, folder: Path | None = None, *, tls: Literal["none", "starttls", "implicit"] = "none",
        user: str | None = None, password: str | None = None, echo_password: bool = False,
        cert_names: tuple[str, ...] = ("127.0.0.1", "localhost"),
    ):
        self.tls, self.user, self.password, self.echo_password = tls, user, password, echo_password
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.logins: list[tuple[str, str]] = []  # every AUTH attempt, as (user, password)
        self._next_reply: str | None = None
        self._lock = threading.Lock()
        self.port = free_port()
        self.ca_file: Path | None = None
        context = None
        if tls != "none":
            ca = trustme.CA()
            if folder is not None:
                self.ca_file = folder / f"smtp-ca-{self.port}.pem"
                ca.cert_pem.write_to_path(str(self.ca_file))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(*cert_names).configure_cert(context)
        kwargs: dict = {"hostname": "127.0.0.1", "port": self.port, "server_hostname": "mail.test.example",
                        "ready_timeout": 5.0}
        if tls == "implicit":
            kwargs["ssl_context"] = context
        elif tls == "starttls":
            kwargs["tls_context"] = context
        if user is not None:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd only counts STARTTLS as TLS; a connection that began with TLS is one too.
            kwargs["auth_require_tls"] = tls != "implicit"
        self._controller = Controller(self, **kwargs)

    def reply_next(self, reply: str) -> None:
        """Answer the next message's DATA with this instead of queueing it."""
        self._next_reply = reply

    # --- aiosmtpd's hooks -------------------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self._lock:
            self.logins.append((login, password))
        if (login, password) == (self.user, self.password):
            return AuthResult(success=True, auth_data=auth_data)
        message = f"{BAD_LOGIN} (got password {password})" if self.echo_password else BAD_LOGIN
        return AuthResult(success=False, handled=False, message=message)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return UNKNOWN_USER.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self._lock:
            scripted, self._next_reply = self._next_reply, None
            if scripted:
                return scripted
            auth = session.auth_data
            login = auth.login.decode() if isinstance(auth, LoginPassword) else None
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                          or envelope.content, session.ssl is not None or self.tls == "implicit", login))
        return QUEUED

    # --- lifetime -----------------------------------------------------------------------------------------

    def __enter__(self) -> FakeSMTP:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
