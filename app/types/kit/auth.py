"""Client authentication the webhook types share (Kibana's common/auth): a client certificate
(`webhook-authentication-ssl`: crt+key or PFX, with the connector's own CA and verification mode) and
OAuth2 client credentials (`webhook-oauth2-client-credentials`).

A type uses it in four steps (see app/types/webhook.py):

1. its config and secrets models inherit `ClientAuthConfig` / `ClientAuthSecrets` (listed after the
   type's own base so its fields come first in the form): `class Config(ClientAuthConfig, _OwnFields)`;
2. its `check(config, secrets)` adds `check_client_auth(config, secrets, prefix=…)`, and
   `secrets_combination_error(secrets)` for Kibana's one-combination rule;
3. its executor calls `connection(ctx)` for the headers and TLS to send with (raises Failed with Kibana's
   texts when the certificate is unusable or no token can be had);
4. it sends with `send_authorized(ctx, conn, send)`, which on a 401 with a cached OAuth2 token drops
   it, fetches a new one and sends once more.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from app.outbound import CertificateError, ClientCertificate, OutboundResponse, TLSOverride
from app.types.kit.context import Context
from app.types.kit.result import Failed, Result
from app.types.kit.schema import Field, Schema, Url
from app.types.kit.tokens import TokenError, authorization, client_credentials_token

BASIC = "webhook-authentication-basic"
SSL = "webhook-authentication-ssl"
OAUTH2 = "webhook-oauth2-client-credentials"
CRT_KEY = "ssl-crt-key"
PFX = "ssl-pfx"
OAUTH2_TOKEN_KIND = "oauth2"
SECRETS_COMBINATION_ERROR = (
    "must specify one of the following schemas: user and password; crt and key (with optional password); "
    "pfx (with optional password); or clientSecret (for OAuth2)"
)
_SSL_SHOWN = {"hasAuth": ["true"], "authType": [SSL]}
_OAUTH2_SHOWN = {"hasAuth": ["true"], "authType": [OAUTH2]}


class ClientAuthConfig(Schema):
    """The config fields of certificate and OAuth2 authentication (Kibana's names)."""

    certType: Literal["ssl-crt-key", "ssl-pfx"] | None = Field(
        None, label="Certificate format", show_when=_SSL_SHOWN,
        choice_labels={CRT_KEY: "Certificate and key (PEM)", PFX: "PFX / PKCS#12"},
    )
    ca: str | None = Field(None, label="CA certificate", widget="pem", show_when=_SSL_SHOWN,
                           help="PEM; trusted for this connector's calls besides the usual CAs.")
    verificationMode: Literal["full", "certificate", "none"] | None = Field(
        None, label="Verification mode", show_when=_SSL_SHOWN,
        choice_labels={"full": "Full (chain and host name)", "certificate": "Certificate (chain only)",
                       "none": "None (accept any certificate)"},
    )
    accessTokenUrl: Url | None = Field(None, label="Access token endpoint", show_when=_OAUTH2_SHOWN,
                                       placeholder="https://login.example.com/oauth2/token")
    clientId: str | None = Field(None, label="Client ID", show_when=_OAUTH2_SHOWN)
    scope: str | None = Field(None, label="Scope", show_when=_OAUTH2_SHOWN)
    additionalFields: str | None = Field(None, label="Additional fields", widget="jsontext", show_when=_OAUTH2_SHOWN,
                                         help="A JSON object of extra fields for the token request.")


class ClientAuthSecrets(Schema):
    """The secrets of certificate and OAuth2 authentication; certificates are base64, as Kibana stores them.
    A PEM key's or a PFX's password is the type's own `password` secret."""

    crt: str | None = Field(None, label="Certificate file (crt)", widget="file",
                            show_when={"config.hasAuth": ["true"], "config.authType": [SSL], "config.certType": ["", CRT_KEY]})
    key: str | None = Field(None, label="Private key file (key)", widget="file",
                            show_when={"config.hasAuth": ["true"], "config.authType": [SSL], "config.certType": ["", CRT_KEY]})
    pfx: str | None = Field(None, label="PFX file", widget="file",
                            show_when={"config.hasAuth": ["true"], "config.authType": [SSL], "config.certType": [PFX]})
    clientSecret: str | None = Field(None, label="Client secret",
                                     show_when={"config.hasAuth": ["true"], "config.authType": [OAUTH2]})


# ---- [webhook] settings: bound per request by the web app, Kibana's defaults elsewhere ----------------

_pfx_enabled: ContextVar[bool] = ContextVar("webhook_pfx_enabled", default=True)


def bind_pfx_enabled(enabled: bool) -> None:
    """`[webhook] ssl_pfx_enabled` for what runs next in this context (the app binds it per request)."""
    _pfx_enabled.set(enabled)


def pfx_enabled() -> bool:
    return _pfx_enabled.get()


# ---- validation --------------------------------------------------------------------------------------


def auth_type(config: Any) -> str | None:
    if not config.hasAuth:
        return None
    return config.authType or BASIC  # Kibana: hasAuth with no authType is basic


def cert_type(config: Any, secrets: Any) -> str:
    """The certificate form in use: as configured, else PFX when one is given (Kibana's reading)."""
    return config.certType or (PFX if getattr(secrets, "pfx", None) else CRT_KEY)


def check_client_auth(config: Any, secrets: Any, *, prefix: str) -> dict[str, str]:
    """Kibana's config checks for certificate and OAuth2 authentication, and the secrets each needs.

    `prefix` begins each config message ("error validation webhook action config").
    """
    errors: dict[str, str] = {}
    kind = auth_type(config)
    if config.certType == PFX and not pfx_enabled():
        errors["config.certType"] = f'{prefix}: certType "{PFX}" is disabled'
    if config.additionalFields and not _json_object(config.additionalFields):
        errors["config.additionalFields"] = f"{prefix}: additionalFields must be a non-empty JSON object."
    if config.ca and _pem(config.ca) is None:
        errors["config.ca"] = f"{prefix}: ca must be base64-encoded PEM certificates"
    if kind == OAUTH2:
        missing = [label for label, value in (("Access Token URL (accessTokenUrl)", config.accessTokenUrl),
                                              ("Client ID (clientId)", config.clientId)) if not value]
        if missing:
            errors["config.accessTokenUrl" if not config.accessTokenUrl else "config.clientId"] = (
                f"{prefix}: missing {', '.join(missing)} fields")
        if not secrets.clientSecret:
            errors["secrets.clientSecret"] = "required for OAuth2 client credentials"
    if kind == SSL:
        if cert_type(config, secrets) == PFX:
            if not secrets.pfx:
                errors["secrets.pfx"] = "required for PFX client-certificate authentication"
        else:
            for key in ("crt", "key"):
                if not getattr(secrets, key):
                    errors[f"secrets.{key}"] = "required for client-certificate authentication"
        if not errors:
            try:
                client_certificate(config, secrets)
            except CertificateError as exc:
                errors["secrets.pfx" if cert_type(config, secrets) == PFX else "secrets.key"] = str(exc)
    return errors


def secrets_combination_error(secrets: Any) -> str | None:
    """Kibana's rule: none; user and password; crt and key; pfx; or clientSecret — never a mixture."""
    given = {k for k in ("user", "password", "crt", "key", "pfx", "clientSecret") if getattr(secrets, k, None)}
    allowed = (set(), {"user", "password"}, {"crt", "key"}, {"crt", "key", "password"}, {"pfx"},
               {"pfx", "password"}, {"clientSecret"})
    return None if given in allowed else SECRETS_COMBINATION_ERROR


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # deeply nested text is no object worth sending either
        return None
    return value if isinstance(value, dict) and value else None


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("not base64") from None


def _pem(value: str) -> str | None:
    try:
        text = _decoded(value).decode("utf-8")
    except (CertificateError, UnicodeDecodeError):
        return None
    return text if "-----BEGIN CERTIFICATE-----" in text else None


def client_certificate(config: Any, secrets: Any) -> ClientCertificate:
    """The connector's client certificate, loaded; raises CertificateError saying what is wrong."""
    password = getattr(secrets, "password", None)
    if cert_type(config, secrets) == PFX:
        return ClientCertificate.from_pfx(_field_bytes(secrets.pfx, "pfx"), password)
    return ClientCertificate.from_crt_key(_field_bytes(secrets.crt, "crt"), _field_bytes(secrets.key, "key"), password)


def _field_bytes(value: str, name: str) -> bytes:
    try:
        return _decoded(value or "")
    except CertificateError:
        raise CertificateError(f"{name} is not base64 (Kibana stores certificates and keys base64-encoded)") from None


# ---- running -----------------------------------------------------------------------------------------


@dataclass
class Connection:
    """What to send with: headers (Authorization for OAuth2), TLS for the connection, and the OAuth2
    token's origin (a cached token may be refused and renewed once)."""

    headers: dict[str, str] = field(default_factory=dict)
    tls: TLSOverride | None = None
    token_from_cache: bool = False


def connection(ctx: Context, *, doing: str) -> Connection:
    """The connector's authentication for this run; raises Failed (Kibana's `error <doing>, request failed`
    with the reason) when its certificate cannot be used or no access token can be had."""
    config, secrets = ctx.config, ctx.secrets
    kind = auth_type(config)
    if kind == OAUTH2:
        before = len(ctx.http.trace.exchanges)
        token = _token(ctx, doing)
        return Connection({"Authorization": authorization(token)}, token_from_cache=len(ctx.http.trace.exchanges) == before)
    if kind == SSL or config.ca or config.verificationMode:
        try:
            certificate = client_certificate(config, secrets) if kind == SSL else None
        except CertificateError as exc:
            raise Failed(Result.error(f"error {doing}, request failed", f"client certificate: {exc}")) from None
        ca = _pem(config.ca) if config.ca else None
        return Connection(tls=TLSOverride(config.verificationMode, ca, certificate))
    return Connection()


def _token(ctx: Context, doing: str):
    config = ctx.config
    extra = _json_object(config.additionalFields) if config.additionalFields else None
    try:
        return client_credentials_token(
            ctx.http, ctx.tokens, token_url=config.accessTokenUrl, client_id=config.clientId,
            client_secret=ctx.secrets.clientSecret or "", scope=config.scope, extra_fields=extra, kind=OAUTH2_TOKEN_KIND,
        )
    except TokenError as exc:
        raise Failed(Result.error(f"error {doing}, request failed", str(exc), retry=exc.retry)) from None


def send_authorized(ctx: Context, conn: Connection, send: Callable[[Connection], OutboundResponse], *,
                    doing: str) -> OutboundResponse:
    """`send(conn)`, and on a 401 with an OAuth2 token: drop the token (Kibana's interceptor); if it came
    from the cache (the service may have revoked it), fetch a new one and send once more."""
    response = send(conn)
    if response.status_code != 401 or auth_type(ctx.config) != OAUTH2:
        return response
    ctx.tokens.drop(OAUTH2_TOKEN_KIND)
    if not conn.token_from_cache:
        return response
    response = send(connection(ctx, doing=doing))
    if response.status_code == 401:
        ctx.tokens.drop(OAUTH2_TOKEN_KIND)  # the next run starts from a new token, as Kibana's does
    return response
