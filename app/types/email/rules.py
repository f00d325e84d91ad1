"""The rules `[email]` sets for email connectors, and the services a connector may name.

The kit gives a type no way to read its own settings section, so the app's `[email]` settings reach
this module through a context variable that `views.py` sets for every request of the app.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import getaddresses

from app.settings import EmailSettings


@dataclass(frozen=True)
class Service:
    kibana_name: str  # its name in `[email] services_enabled` (Kibana's xpack.actions.email.services.enabled)
    host: str | None = None  # None: the connector's own host, port and secure
    port: int | None = None
    secure: bool = False


# Kibana's UI choices with nodemailer's well-known endpoints for them.
SERVICES: dict[str, Service] = {
    "gmail": Service("google-mail", "smtp.gmail.com", 465, True),
    "outlook365": Service("microsoft-outlook", "smtp.office365.com", 587, False),
    "ses": Service("amazon-ses", "email-smtp.us-east-1.amazonaws.com", 465, True),
    "exchange_server": Service("microsoft-exchange"),
    "other": Service("other"),
}
EXCHANGE = "exchange_server"
OTHER = "other"
SES = "ses"

_current: ContextVar[EmailSettings | None] = ContextVar("email_settings", default=None)


def email_settings() -> EmailSettings:
    """The running app's `[email]` settings; the defaults outside a request (Kibana's defaults)."""
    return _current.get() or EmailSettings()


def bind(settings: EmailSettings | None) -> None:
    """The settings for what runs next in this context (a request of the app); None for the defaults."""
    _current.set(settings)


def ses_endpoint(settings: EmailSettings) -> tuple[str, int] | None:
    if settings.ses_host is None or settings.ses_port is None:
        return None
    return settings.ses_host, settings.ses_port


def service_refusal(service: str, settings: EmailSettings) -> str | None:
    enabled = settings.services_enabled
    known = SERVICES.get(service)
    if known is None or "*" in enabled or known.kibana_name in enabled:
        return None
    return f'[service]: "{known.kibana_name}" is not in the list of enabled email services: {",".join(enabled)}'


def invalid_addresses(addresses: list[str], settings: EmailSettings, *, templates_valid: bool = False) -> str | None:
    """Kibana's validateEmailAddresses: nothing to say without a domain allowlist, else which addresses
    are not addresses and which are in no allowed domain."""
    allowed = settings.domain_allowlist
    if allowed is None:
        return None
    invalid, not_allowed = [], []
    for address in addresses:
        if templates_valid and "{{" in address:
            continue  # a rule's mustache template: checked once rendered
        parsed = [mailbox for _, mailbox in getaddresses([address]) if mailbox]
        if not parsed or any("@" not in m for m in parsed):
            invalid.append(address)
        elif any(m.rpartition("@")[2] not in allowed for m in parsed):
            not_allowed.append(address)
    messages = []
    if invalid:
        messages.append(f"not valid emails: {', '.join(invalid)}")
    if not_allowed:
        messages.append(f"not allowed emails: {', '.join(not_allowed)}")
    return "; ".join(messages) or None
