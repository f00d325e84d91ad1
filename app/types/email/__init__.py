"""Email — `.email` (connector-types.md §7): mail over SMTP, or through Microsoft Graph for Exchange.

`other` sends to the connector's own host and port; `gmail`, `outlook365` and `ses` to their well-known
endpoints (`ses` to `[email]`'s when set); `exchange_server` through Graph with an app token. The
message is Markdown: its HTML part is rendered from it, its text part is the Markdown itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints, create_model, field_validator, model_validator

from app.outbound import host_allowed
from app.outbound.smtp import SmtpError, send_mail
from app.types.email import graph, rules
from app.types.email.message import NO_MESSAGE, html_from_markdown, mailbox, mime_message, trimmed
from app.types.email.rules import EXCHANGE, OTHER, SERVICES, SES
from app.types.kit import ConnectorType, Context, Field, InvalidSettings, Result, Schema, Url

SENDING = graph.SENDING
NO_RECIPIENTS = "At least one entry in [to], [cc], or [bcc] is required"
HTML_NOT_ALLOWED = "HTML email can only be sent when the connector is configured to allow HTML"
CONFIG_ERROR = "error validating action type config"
MAX_RECIPIENTS, MAX_REPLY_TO, MAX_ADDRESS = 100, 10, 512

_OWN_HOST = {"service": ["", OTHER]}  # "" is the select's default, which is `other`
_SMTP_SERVICES = ["", *(name for name in SERVICES if name != EXCHANGE)]
_EXCHANGE_ONLY = {"service": [EXCHANGE]}
_LOGIN = {"config.service": _SMTP_SERVICES, "config.hasAuth": ["true"]}
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS)]

# `from` is a Python keyword: the field is declared by name, so forms, storage and the API all say `from`.
_Sender = create_model(
    "_Sender", __base__=Schema,
    **{"from": (str, Field(label="Sender", help="The address mail is sent from.", placeholder="alerts@example.com"))},
)


class EmailConfig(_Sender):
    service: Literal["gmail", "outlook365", "ses", "exchange_server", "other"] = Field(
        OTHER, label="Service", help="A well-known service fixes the host and port; other needs them.",
    )
    host: str | None = Field(None, label="Host", show_when=_OWN_HOST, placeholder="smtp.example.com")
    port: int | None = Field(None, label="Port", ge=1, le=65535, show_when=_OWN_HOST)
    secure: bool | None = Field(
        None, label="Secure", show_when=_OWN_HOST,
        help="TLS from the start (usually port 465); otherwise STARTTLS when the server offers it.",
    )
    hasAuth: bool = Field(True, label="Requires authentication", show_when={"service": _SMTP_SERVICES})
    tenantId: str | None = Field(None, label="Tenant ID", show_when=_EXCHANGE_ONLY)
    clientId: str | None = Field(None, label="Client ID", show_when=_EXCHANGE_ONLY)
    oauthTokenUrl: Url | None = Field(
        None, label="OAuth token URL", show_when=_EXCHANGE_ONLY,
        help="Leave blank for Microsoft's: the login URL, the tenant, /oauth2/v2.0/token.",
    )
    allowHtml: bool = Field(False, label="Allow HTML messages", help="Needed to send messageHTML.")


class EmailSecrets(Schema):
    user: str | None = Field(None, label="Username", show_when=_LOGIN)
    password: str | None = Field(None, label="Password", show_when=_LOGIN)
    clientSecret: str | None = Field(None, label="Client secret", show_when={"config.service": [EXCHANGE]})


def _addresses(label: str) -> Any:
    return Field(default_factory=list, label=label, widget="addresses", help="Addresses separated by commas.")


class EmailParams(Schema):
    to: list[Address] = _addresses("To")
    cc: list[Address] = _addresses("Cc")
    bcc: list[Address] = _addresses("Bcc")
    replyTo: list[Address] | None = Field(None, label="Reply to", widget="addresses")
    subject: str = Field(label="Subject")
    message: str = Field(label="Message", widget="textarea", help="Markdown; sent as text and rendered as HTML.")
    messageHTML: str | None = Field(None, label="HTML message", widget="textarea",
                                    help="Sent instead of the rendered Markdown; the connector must allow HTML.")

    # Counted here, not with max_length, which the form would draw as the text input's own limit.
    @field_validator("to", "cc", "bcc", "replyTo")
    @classmethod
    def _few_enough(cls, addresses: list[str] | None, info) -> list[str] | None:
        limit = MAX_REPLY_TO if info.field_name == "replyTo" else MAX_RECIPIENTS
        if addresses is not None and len(addresses) > limit:
            raise ValueError(f"List should have at most {limit} items after validation, not {len(addresses)}")
        return addresses

    @model_validator(mode="after")
    def _deliverable(self) -> EmailParams:
        """Kibana's validateParams: someone to send to, and every address in `[email]`'s allowed domains."""
        to, cc, bcc = recipients(self)
        if not (to or cc or bcc):
            raise ValueError(NO_RECIPIENTS)
        addresses = [a for a in to + cc + bcc if "{{" not in a] + list(self.replyTo or [])
        invalid = rules.invalid_addresses(addresses, rules.email_settings(), templates_valid=True)
        if invalid:
            raise ValueError(f"[{'to/cc/bcc/replyTo' if self.replyTo else 'to/cc/bcc'}]: {invalid}")
        return self


def recipients(params: EmailParams) -> tuple[list[str], list[str], list[str]]:
    """to, cc and bcc without blank entries, as Kibana's executor filters them."""
    def given(addresses: list[str]) -> list[str]:
        return [a for a in addresses if a.strip()]

    return given(params.to), given(params.cc), given(params.bcc)


class Email(ConnectorType):
    id = ".email"
    name = "Email"
    description = "Send email from your server."
    config = EmailConfig
    secrets = EmailSecrets
    params = EmailParams
    example = {
        "config": {
            "service": EXCHANGE, "from": "alerts@example.com", "tenantId": "0d1ab0c4-7d5e-4a3e-9d0e-5b8f0c1e2a3b",
            "clientId": "5a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "oauthTokenUrl": "https://login.microsoftonline.com/0d1ab0c4-7d5e-4a3e-9d0e-5b8f0c1e2a3b/oauth2/v2.0/token",
        },
        "secrets": {"clientSecret": "example-client-secret"},
    }
    test_params = {
        "to": ["test@example.com"],
        "subject": "Test message from Switchboard",
        "message": "This is a test message from **Switchboard**.",
    }
    config_error_prefix = CONFIG_ERROR
    minimum_license_required = "gold"
    supported_feature_ids = ("alerting", "uptime", "siem", "workflows")

    # ------------------------------------------------------------- validation

    def validate_connector(
        self, config: dict[str, Any], secrets: dict[str, Any] | None, *, allowed_hosts: tuple[str, ...] | None = None
    ) -> tuple[Any, Any]:
        """The kit's validation, in Kibana's words for an unknown service, plus the SMTP host's allowed-hosts
        check, which is no URL the kit could check."""
        service = config.get("service") if isinstance(config, dict) else None
        try:
            config_model, secrets_model = super().validate_connector(config, secrets, allowed_hosts=allowed_hosts)
        except InvalidSettings as exc:
            if isinstance(service, str) and service not in SERVICES and "config.service" in exc.errors:
                exc.errors["config.service"] = f"{CONFIG_ERROR}: [service] value '{service}' is not valid"
                raise InvalidSettings(exc.errors) from None
            raise
        problem = self._host_refusal(config_model, allowed_hosts) if allowed_hosts is not None else None
        if problem:
            raise InvalidSettings({problem[0]: f"{CONFIG_ERROR}: {problem[1]}"})
        return config_model, secrets_model

    def _host_refusal(self, config: EmailConfig, allowed_hosts: tuple[str, ...]) -> tuple[str, str] | None:
        if config.service == OTHER and config.host and not host_allowed(config.host, allowed_hosts):
            return "config.host", f"[host] value '{config.host}' is not in the allowedHosts configuration"
        known_host = smtp_endpoint(config, rules.email_settings())[0] if config.service not in (OTHER, EXCHANGE) else None
        if known_host and not host_allowed(known_host, allowed_hosts):
            return ("config.service", f"[service] value '{config.service}' resolves to host '{known_host}' "
                    "which is not in the allowedHosts configuration")
        return None

    def check(self, config: EmailConfig, secrets: EmailSecrets) -> dict[str, str]:
        """Kibana's validateConfig and validateConnector, one message per field."""
        settings = rules.email_settings()
        errors: dict[str, str] = {}
        refusal = rules.service_refusal(config.service, settings)
        if refusal:
            errors["config.service"] = f"{CONFIG_ERROR}: {refusal}"
        sender = rules.invalid_addresses([getattr(config, "from")], settings)
        if sender:
            errors["config.from"] = f"{CONFIG_ERROR}: [from]: {sender}"
        if config.service == EXCHANGE:
            if config.clientId is None and config.tenantId is None:
                errors["config.clientId"] = f"{CONFIG_ERROR}: [clientId]/[tenantId] is required"
            elif config.clientId is None:
                errors["config.clientId"] = f"{CONFIG_ERROR}: [clientId] is required"
            elif config.tenantId is None:
                errors["config.tenantId"] = f"{CONFIG_ERROR}: [tenantId] is required"
            if secrets.clientSecret is None:
                errors["secrets.clientSecret"] = "[clientSecret] is required"
            return errors
        if config.service == SES and rules.ses_endpoint(settings):
            errors.update(_ses_mismatch(config, settings))
        elif config.service == OTHER:
            if config.host is None and config.port is None:
                errors["config.host"] = f"{CONFIG_ERROR}: [host]/[port] is required"
            elif config.host is None:
                errors["config.host"] = f"{CONFIG_ERROR}: [host] is required"
            elif config.port is None:
                errors["config.port"] = f"{CONFIG_ERROR}: [port] is required"
        if config.hasAuth and secrets.user is None:
            errors["secrets.user"] = "[user] is required"
        elif config.hasAuth and secrets.password is None:
            errors["secrets.password"] = "[password] is required"
        return errors

    # ------------------------------------------------------------- running

    def execute(self, ctx: Context[EmailConfig, EmailSecrets, EmailParams]) -> Result:
        config, params, settings = ctx.config, ctx.params, rules.email_settings()
        to, cc, bcc = recipients(params)
        if not (to or cc or bcc):
            return Result.error(NO_RECIPIENTS)
        invalid = rules.invalid_addresses(to + cc + bcc, settings)
        if invalid:
            return Result.error(f"[to/cc/bcc]: {invalid}")
        sender = getattr(config, "from")
        invalid = rules.invalid_addresses([sender], settings)
        if invalid:
            return Result.error(f"[from]: {invalid}")
        if params.messageHTML is not None and not config.allowHtml:
            return Result.error(HTML_NOT_ALLOWED)
        limit = settings.maximum_body_length
        text = trimmed(ctx.connector_id, "message", params.message, limit) or NO_MESSAGE
        html = trimmed(ctx.connector_id, "messageHTML", params.messageHTML, limit)
        html = html if html is not None else html_from_markdown(text)
        if config.service == EXCHANGE:
            return graph.send_with_graph(ctx, settings, graph.graph_message(params.subject, html, to, cc, bcc))
        message = mime_message(sender=sender, to=to, cc=cc, reply_to=params.replyTo, subject=params.subject,
                               text=text, html=html)
        return self._send_smtp(ctx, message, sender, to + cc + bcc)

    def _send_smtp(self, ctx: Context, message, sender: str, envelope: list[str]) -> Result:
        config, secrets = ctx.config, ctx.secrets
        host, port, secure = smtp_endpoint(config, rules.email_settings())
        with_login = config.hasAuth and secrets.user is not None and secrets.password is not None
        try:
            sent = send_mail(
                ctx.http.settings, ctx.http.trace, host, port, secure,
                secrets.user if with_login else None, secrets.password if with_login else None, message,
                sender=mailbox(sender), recipients=[mailbox(a) for a in envelope],
                # Kibana's rule: its own servers with neither TLS nor a login rarely have a certificate worth checking.
                verify_starttls=(config.service != OTHER or secure or secrets.user is not None
                                 or secrets.password is not None),
                tls_contexts=ctx.http.tls,
            )
        except SmtpError as exc:
            return Result.error(SENDING, exc.message, retry=exc.retry)
        return Result.ok({
            "accepted": sent.accepted,
            "rejected": sorted(sent.refused),
            "envelope": {"from": mailbox(sender), "to": [mailbox(a) for a in envelope]},
            "messageId": message["Message-ID"],
            "response": f"{sent.reply_code} {sent.reply}",
        })


def smtp_endpoint(config: EmailConfig, settings) -> tuple[str, int, bool]:
    """Where an SMTP service sends: `other`'s own host, `[email]`'s SES endpoint, or the well-known one."""
    if config.service == OTHER:
        # Kibana: an unset `secure` means TLS from the start exactly on port 465.
        secure = config.secure if config.secure is not None else config.port == 465
        return config.host or "", config.port or 0, secure
    if config.service == SES and rules.ses_endpoint(settings):
        host, port = rules.ses_endpoint(settings)
        return host, port, True
    known = SERVICES[config.service]
    return known.host or "", known.port or 0, known.secure


def _ses_mismatch(config: EmailConfig, settings) -> dict[str, str]:
    """Kibana's checks against `[email]`'s SES endpoint; an SES connector saved from the form, which hides
    host and port, leaves them unset and so takes the configured endpoint."""
    host, port = rules.ses_endpoint(settings)
    if config.host is None and config.port is None:
        return {}
    if config.host != host and config.port != port:
        message = "[ses.host]/[ses.port] does not match with the configured AWS SES host/port combination"
        return {"config.host": f"{CONFIG_ERROR}: {message}"}
    if config.host != host:
        return {"config.host": f"{CONFIG_ERROR}: [ses.host] does not match with the configured AWS SES host"}
    if config.port != port:
        return {"config.port": f"{CONFIG_ERROR}: [ses.port] does not match with the configured AWS SES port"}
    if config.secure is not True:
        return {"config.secure": f"{CONFIG_ERROR}: [ses.secure] must be true for AWS SES"}
    return {}
