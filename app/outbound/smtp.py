"""Outbound mail over SMTP, under the policy every HTTP call obeys (DESIGN rule 3).

The host must be in `[outbound] allowed_hosts`; connecting has `connect_timeout`, every later step the
time left of `read_timeout` for the whole exchange; TLS (implicit on `secure`, else STARTTLS when the
server offers it) verifies as `[outbound.tls]` says, with its CA files, overridden by the
`[[outbound.hosts]]` entry for smtp://host:port (its CAs, its verification mode, and `smtp.ignore_tls` /
`smtp.require_tls`). The exchange is recorded into the
run's trace as one entry: the commands' names, the server's reply codes, the TLS in use and the envelope —
never the credentials, which only ever travel inside AUTH.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

from app.outbound import OutboundError, Trace, host_allowed
from app.outbound.policy import AddressDenied, parse_networks, resolve_checked
from app.outbound.tls import TLSContexts
from app.outbound.trace import Exchange
from app.settings import OutboundSettings

# Command names worth showing; anything else sent is an AUTH continuation, i.e. a credential.
_SHOWN_COMMANDS = frozenset({"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT"})
_HIDDEN_COMMAND = "(AUTH response)"


class SmtpError(OutboundError):
    """No mail went out. `reply_code` is the server's, when it refused; `retry` says whether to try again."""

    def __init__(self, code: str, message: str, *, reply_code: int | None = None, retry: bool = False):
        super().__init__(code, message)
        self.reply_code = reply_code
        self.retry = retry


@dataclass
class Sent:
    """What the server accepted: the recipients it took and refused, and its answer to the message."""

    accepted: list[str]
    refused: dict[str, str]
    reply_code: int
    reply: str
    tls: str  # "implicit", "STARTTLS" or "none"


@dataclass
class _Dialogue:
    commands: list[str] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    deadline: float = 0.0
    step_timeout: float = 60.0
    origin: str = ""


class _Recording:
    """Records each command's name and each reply, and keeps every step inside the exchange's deadline."""

    dialogue: _Dialogue

    def putcmd(self, cmd: str, args: str = "") -> None:
        verb = cmd.split(" ", 1)[0].upper()
        self.dialogue.commands.append(verb if verb in _SHOWN_COMMANDS else _HIDDEN_COMMAND)
        left = self.dialogue.deadline - time.monotonic()
        if left <= 0:
            raise SmtpError("read_timeout", f"{self.dialogue.origin} did not finish in time (read timeout)", retry=True)
        if self.sock is not None:
            self.sock.settimeout(min(self.dialogue.step_timeout, left))
        super().putcmd(cmd, args)

    def getreply(self) -> tuple[int, bytes]:
        code, text = super().getreply()
        self.dialogue.replies.append((code, text.decode("utf-8", errors="replace")))
        return code, text


def _checked_socket(host: str, port: int, timeout: float, denied: tuple) -> socket.socket:
    """Resolve once, refuse a denied network ([outbound] denied_networks), connect to the address checked."""
    error: OSError | None = None
    for family, socktype, proto, _, sockaddr in resolve_checked(host, port, denied):
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


class _SMTP(_Recording, smtplib.SMTP):
    denied: tuple = ()

    def _get_socket(self, host, port, timeout):
        return _checked_socket(host, port, timeout, self.denied)


class _SMTPS(_Recording, smtplib.SMTP_SSL):
    denied: tuple = ()

    def _get_socket(self, host, port, timeout):
        return self.context.wrap_socket(_checked_socket(host, port, timeout, self.denied), server_hostname=self._host)


def send_mail(
    settings: OutboundSettings, trace: Trace, host: str, port: int, secure: bool, user: str | None,
    password: str | None, message: EmailMessage, *, sender: str, recipients: list[str], require_tls: bool = False,
    verify_starttls: bool = True, timeout: float | None = None, tls_contexts: TLSContexts | None = None,
) -> Sent:
    """Send `message` to `recipients` (the envelope: bcc is there, not in the headers); raises SmtpError.

    AUTH happens only when `user` is given. `verify_starttls=False` accepts any certificate on STARTTLS
    (Kibana's rule for anonymous, non-secure servers); implicit TLS always verifies per the settings.
    `tls_contexts` is the outbound client's contexts (`ctx.http.tls`), kept between runs; built afresh without it.
    """
    origin = f"{'smtps' if secure else 'smtp'}://{host}:{port}"
    if not host_allowed(host, settings.allowed_hosts):
        raise SmtpError(
            "host_not_allowed", f'target hostname "{host}" is not in the allowed hosts list ([outbound] allowed_hosts)'
        )
    body = message.as_bytes()
    exchange = Exchange(trace.masker, "SMTP", origin, [], len(body))
    trace.exchanges.append(exchange)
    started = time.monotonic()
    dialogue = _Dialogue(deadline=started + (timeout or settings.read_timeout), step_timeout=settings.read_timeout,
                         origin=origin)
    tls = "implicit" if secure else "none"
    contexts = tls_contexts or TLSContexts(settings)
    entry = settings.host_settings("smtp", host, port)
    ignore_tls = entry is not None and entry.smtp.ignore_tls
    required_by_host = entry is not None and entry.smtp.require_tls
    secure_context, note = contexts.smtp_context(host, port)
    exchange.tls = note if secure else ""
    try:
        client = _connect(settings, dialogue, host, port, secure, secure_context)
        try:
            client.ehlo()
            if not secure and client.has_extn("starttls") and not ignore_tls:
                context, exchange.tls = contexts.smtp_context(host, port, verify=verify_starttls)
                client.starttls(context=context)
                client.ehlo()
                tls = "STARTTLS"
            elif not secure and (require_tls or required_by_host):
                why = " ([[outbound.hosts]] smtp.require_tls)" if required_by_host else ""
                raise SmtpError("tls_required", f"{origin} does not offer STARTTLS, and TLS is required{why}")
            if user is not None:
                client.login(user, password or "")
            refused = client.sendmail(sender, recipients, body)
            answer = dialogue.replies[-1]  # the server's word on the message itself
            client.quit()
        finally:
            client.close()
    except SmtpError as exc:
        _record(exchange, dialogue, tls, sender, recipients, started, error=exc)
        raise
    except (smtplib.SMTPException, OSError, AddressDenied) as exc:
        error = _translate(exc, origin)
        _record(exchange, dialogue, tls, sender, recipients, started, error=error)
        raise error from None
    _record(exchange, dialogue, tls, sender, recipients, started, answer=answer)
    refused_text = {address: _reply(c, t) for address, (c, t) in refused.items()}
    accepted = [r for r in recipients if r not in refused]
    return Sent(accepted, refused_text, answer[0], " ".join(answer[1].split()), tls)


def _connect(settings: OutboundSettings, dialogue: _Dialogue, host: str, port: int, secure: bool,
             context: ssl.SSLContext) -> smtplib.SMTP:
    # The machine's own name, as nodemailer greets; smtplib's default asks DNS for it, which may hang.
    local_name = socket.gethostname() or "localhost"
    if secure:
        client: smtplib.SMTP = _SMTPS(local_hostname=local_name, timeout=settings.connect_timeout, context=context)
    else:
        client = _SMTP(local_hostname=local_name, timeout=settings.connect_timeout)
    client.dialogue = dialogue
    client.denied = parse_networks(settings.denied_networks)
    client._host = host  # smtplib sets it only when the constructor connects; STARTTLS checks the name against it
    try:
        client.connect(host, port)
    except BaseException:
        client.close()
        raise
    return client


def _translate(exc: BaseException, origin: str) -> SmtpError:
    """Errors in the words nodemailer uses (Kibana's service message), with a retry where one could help."""
    if isinstance(exc, AddressDenied):
        return SmtpError(exc.error.code, exc.error.message)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpError("auth_failed", f"Invalid login: {_reply(exc.smtp_code, exc.smtp_error)}",
                         reply_code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(f"{a}: {_reply(c, t)}" for a, (c, t) in exc.recipients.items())
        codes = [c for c, _ in exc.recipients.values()]
        return SmtpError("recipients_refused", f"Can't send mail - all recipients were rejected: {replies}",
                         reply_code=codes[0] if codes else None, retry=all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _refusal("sender_refused", f"Mail command failed: {_reply(exc.smtp_code, exc.smtp_error)}",
                        exc.smtp_code)
    if isinstance(exc, smtplib.SMTPDataError):
        return _refusal("message_refused", f"Message failed: {_reply(exc.smtp_code, exc.smtp_error)}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError("not_supported", f"{origin}: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _refusal("smtp_error", _reply(exc.smtp_code, exc.smtp_error), exc.smtp_code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SmtpError("connection_failed", f"{origin} closed the connection: {exc}", retry=True)
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        return SmtpError("tls_error", f"TLS handshake with {origin} failed: {reason}")
    if isinstance(exc, ConnectionRefusedError):
        return SmtpError("connection_refused", f"connection to {origin} was refused", retry=True)
    if isinstance(exc, TimeoutError):
        return SmtpError("read_timeout", f"{origin} did not answer in time (timeout)", retry=True)
    if isinstance(exc, socket.gaierror):
        return SmtpError("connection_failed", f"could not connect to {origin}: {exc.strerror or exc}", retry=True)
    return SmtpError("connection_failed", f"could not connect to {origin}: {exc}", retry=True)


def _refusal(code: str, message: str, reply_code: int) -> SmtpError:
    # 4xx replies are the server's "try again later"; 5xx are final.
    return SmtpError(code, message, reply_code=reply_code, retry=400 <= reply_code < 500)


def _reply(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(text.split())}"


def _record(exchange: Exchange, dialogue: _Dialogue, tls: str, sender: str, recipients: list[str], started: float,
            *, answer: tuple[int, str] | None = None, error: SmtpError | None = None) -> None:
    """The exchange as the test pane shows it: the answer to the message, or the refusal, as its status
    and every reply as its body; a failure that was no refusal has no status, as an HTTP call with no answer."""
    mask = exchange.masker
    exchange.duration_ms = round((time.monotonic() - started) * 1000, 1)
    exchange.request_headers = dialogue.commands
    exchange.response_headers = [
        ("TLS", tls), ("Envelope from", mask(sender)), ("Envelope recipients", mask(", ".join(recipients))),
    ]
    exchange.body_preview = mask("\n".join(f"{code} {text}" for code, text in dialogue.replies))
    exchange.body_bytes = len(exchange.body_preview.encode())
    if error is not None:
        exchange.error = mask(error.message)
        refusal = [r for r in dialogue.replies if r[0] == error.reply_code]
        answer = refusal[-1] if error.reply_code and refusal else None
    if answer is not None:
        exchange.status, exchange.reason = answer[0], mask(" ".join(answer[1].split()))
