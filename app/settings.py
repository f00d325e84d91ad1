"""Settings: simple values from the environment, structured ones from a TOML file.

Environment:
  SWITCHBOARD_INSTANCE_PATH    folder for runtime data (default ./instance)
  SWITCHBOARD_DATABASE_URL     SQLAlchemy URL (default sqlite:///<instance>/switchboard.db)
  SWITCHBOARD_ENCRYPTION_KEYS  comma-separated Fernet keys; the first encrypts, all decrypt
  SWITCHBOARD_SECRET_KEY       session/CSRF signing key (default: generated into the instance folder)
  SWITCHBOARD_CONFIG           TOML file (default <instance>/switchboard.toml)
  SWITCHBOARD_TRUST_PROXY      "1" behind a reverse proxy: client address and https from X-Forwarded-*
  SWITCHBOARD_ADMIN_USER, SWITCHBOARD_ADMIN_PASSWORD   the bootstrap admin `flask init` ensures

This is the only module that reads the environment; the rest of the app reads `app.config`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_TIMEOUT_SECONDS = 60.0
# Connector ids chosen by people (API, config file): safe in URLs and file names.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _existing_files(files: tuple[str, ...]) -> tuple[str, ...]:
    for f in files:
        if not Path(f).is_file():
            raise ValueError(f"CA file not found: {f}")
    return files


class TLSSettings(_Strict):
    verification_mode: Literal["full", "certificate", "none"] = "full"
    ca_files: tuple[str, ...] = ()

    @field_validator("ca_files")
    @classmethod
    def _files_exist(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        return _existing_files(files)


VerificationMode = Literal["full", "certificate", "none"]
# Kibana's customHostSettings ports when the URL names none.
HOST_DEFAULT_PORTS = {"https": 443, "smtp": 25}


class ProxySettings(_Strict):
    url: str = ""
    bypass_hosts: tuple[str, ...] = ()
    only_hosts: tuple[str, ...] = ()
    # Sent to the proxy itself (Kibana's proxyHeaders), e.g. a Proxy-Authorization it asks for.
    headers: dict[str, str] = {}
    # How the proxy's own certificate is checked when `url` is https (Kibana's ssl.proxyVerificationMode).
    verification_mode: VerificationMode = "full"


class HostTLSSettings(_Strict):
    """One host's TLS (Kibana's customHostSettings[].ssl); what is unset falls back to [outbound.tls]."""

    verification_mode: VerificationMode | None = None
    ca_files: tuple[str, ...] = ()
    ca_data: str | None = None  # inline PEM

    _files_exist = field_validator("ca_files")(_existing_files)

    @field_validator("ca_data")
    @classmethod
    def _pem(cls, data: str | None) -> str | None:
        if data is not None:
            try:
                ssl.create_default_context(cadata=data)
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError(f"not PEM certificates: {exc}") from None
        return data


class HostSMTPSettings(_Strict):
    ignore_tls: bool = False  # never STARTTLS, even when the server offers it
    require_tls: bool = False  # refuse a server that does not offer STARTTLS

    @model_validator(mode="after")
    def _not_both(self) -> HostSMTPSettings:
        if self.ignore_tls and self.require_tls:
            raise ValueError("ignore_tls and require_tls cannot both be true")
        return self


class HostSettings(_Strict):
    """Settings for every connection to one host and port (Kibana's xpack.actions.customHostSettings)."""

    url: str
    ssl: HostTLSSettings = HostTLSSettings()
    smtp: HostSMTPSettings = HostSMTPSettings()

    @field_validator("url")
    @classmethod
    def _endpoint_url(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"not a URL: {url!r} ({exc})") from None
        if parts.scheme not in HOST_DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f'must be "https://host[:port]" or "smtp://host[:port]", not {url!r}')
        return url

    @property
    def endpoint(self) -> tuple[str, str, int]:
        """(scheme, host, port): only these count, as in Kibana."""
        parts = urlsplit(self.url)
        return parts.scheme, (parts.hostname or "").lower().rstrip("."), parts.port or HOST_DEFAULT_PORTS[parts.scheme]


class OutboundSettings(_Strict):
    """What every outbound HTTP call obeys (DESIGN rule 3)."""

    allowed_hosts: tuple[str, ...] = ("*",)
    connect_timeout: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0)
    read_timeout: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0)
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    # A run's overall deadline, however its calls go (Kibana's xpack.actions.responseTimeout): a service
    # that drips its answer a byte at a time is cut here, where read_timeout (per read) never fires.
    # Types with their own (Amazon Bedrock: 120 s, or its `timeout` param) use theirs.
    run_timeout: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0)
    # Runs one gunicorn worker executes at once; a run beyond them waits up to a second for a place
    # (at most max_waiting_runs do), else is answered 503 with Retry-After. Together they must stay
    # below the worker's threads (gunicorn.conf.py) so pages, the API and /healthz keep answering.
    max_concurrent_runs: int = Field(12, ge=1)
    max_waiting_runs: int = Field(4, ge=0)
    # No connection or redirect may reach these, whatever allowed_hosts says; checked on the resolved
    # address. The default is link-local (169.254.169.254 and every cloud's metadata service) and AWS's
    # IPv6 metadata address.
    denied_networks: tuple[str, ...] = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
    tls: TLSSettings = TLSSettings()
    proxy: ProxySettings = ProxySettings()
    hosts: tuple[HostSettings, ...] = ()  # [[outbound.hosts]]

    @field_validator("hosts")
    @classmethod
    def _one_entry_per_host(cls, hosts: tuple[HostSettings, ...]) -> tuple[HostSettings, ...]:
        seen: set[tuple[str, str, int]] = set()
        for entry in hosts:
            if entry.endpoint in seen:
                scheme, host, port = entry.endpoint
                raise ValueError(f"{scheme}://{host}:{port} is listed twice")
            seen.add(entry.endpoint)
        return hosts

    def host_settings(self, scheme: str, host: str, port: int) -> HostSettings | None:
        """The [[outbound.hosts]] entry for a connection to scheme://host:port, if there is one."""
        key = (scheme, (host or "").lower().rstrip(".").strip("[]"), port)
        return next((h for h in self.hosts if h.endpoint == key), None)

    @field_validator("denied_networks")
    @classmethod
    def _networks(cls, networks: tuple[str, ...]) -> tuple[str, ...]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or CIDR network: {network!r}") from exc
        return networks


# Kibana's xpack.actions.email.services.enabled names; "*" enables all.
EMAIL_SERVICE_NAMES = ("google-mail", "microsoft-exchange", "microsoft-outlook", "amazon-ses", "elastic-cloud", "other")
MAX_EMAIL_BODY_LENGTH = 25_000_000  # Kibana's ceiling for email.maximum_body_length


class EmailSettings(_Strict):
    """The email connector's rules (Kibana's xpack.actions.email.* and its Microsoft Graph settings)."""

    # Recipients and senders must be in these domains; None allows any.
    domain_allowlist: tuple[str, ...] | None = None
    services_enabled: tuple[Literal["*", *EMAIL_SERVICE_NAMES], ...] = ("*",)
    # Longer message / messageHTML bodies are trimmed, with a warning paragraph before them.
    maximum_body_length: int = MAX_EMAIL_BODY_LENGTH
    # Where `ses` connectors send instead of nodemailer's us-east-1 endpoint; both or neither.
    ses_host: str | None = None
    ses_port: int | None = Field(None, ge=1, le=65535)
    graph_api_url: str = "https://graph.microsoft.com/v1.0"
    graph_api_scope: str = "https://graph.microsoft.com/.default"
    exchange_url: str = "https://login.microsoftonline.com"

    @field_validator("maximum_body_length")
    @classmethod
    def _clamped(cls, value: int) -> int:
        return min(max(value, 0), MAX_EMAIL_BODY_LENGTH)  # Kibana clamps rather than refusing

    @model_validator(mode="after")
    def _ses_pair(self) -> EmailSettings:
        if (self.ses_host is None) != (self.ses_port is None):
            raise ValueError("ses_host and ses_port are set together")
        return self


class WebhookSettings(_Strict):
    """Kibana's xpack.actions.webhook.*: which client-certificate forms webhook connectors may use."""

    ssl_pfx_enabled: bool = True  # Kibana's webhook.ssl.pfx.enabled


# A secret in the config file: a literal, or {env = "NAME"} read from the environment when it is used.
SecretValue = str | dict[Literal["env"], str]


class ElasticsearchSettings(_Strict):
    """The cluster `.index` writes to (in Kibana, Kibana's own cluster; here, one named in the file).

    Calls go through the outbound policy (denied networks, timeouts, response cap), may reach only these
    hosts, and use this section's TLS settings.
    """

    hosts: tuple[str, ...] = Field(min_length=1)
    api_key: SecretValue | None = None  # the encoded form Elasticsearch returns (base64 of "id:key")
    username: str | None = None
    password: SecretValue | None = None
    ca_files: tuple[str, ...] = ()
    verification_mode: Literal["full", "certificate", "none"] = "full"

    @field_validator("hosts")
    @classmethod
    def _urls(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            parts = urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
                raise ValueError(f"not an http(s) URL without credentials: {host!r}")
        return tuple(h.rstrip("/") for h in hosts)

    @field_validator("ca_files")
    @classmethod
    def _files_exist(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        return TLSSettings._files_exist(files)

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> ElasticsearchSettings:
        if self.api_key is not None and (self.username is not None or self.password is not None):
            raise ValueError("give either api_key or username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password are set together")
        return self


class PreconfiguredConnector(_Strict):
    """A connector declared in the config file (Kibana's xpack.actions.preconfigured)."""

    name: str = Field(min_length=1, max_length=255)
    connector_type_id: str
    config: dict[str, Any] = {}
    # A secret is a literal value, or {env = "NAME"} to read it from the environment at run time.
    secrets: dict[str, Any] = {}


class FileConfig(_Strict):
    outbound: OutboundSettings = OutboundSettings()
    # Which connector types may be created and run (Kibana's enabledActionTypes); "*" is all.
    enabled_types: tuple[str, ...] = ("*",)
    preconfigured: dict[str, PreconfiguredConnector] = {}
    email: EmailSettings = EmailSettings()
    webhook: WebhookSettings = WebhookSettings()
    elasticsearch: ElasticsearchSettings | None = None

    @field_validator("preconfigured")
    @classmethod
    def _valid_ids(cls, value: dict[str, PreconfiguredConnector]) -> dict[str, PreconfiguredConnector]:
        for connector_id in value:
            if connector_id in ("", "__proto__", "constructor") or not ID_PATTERN.fullmatch(connector_id):
                raise ValueError(f'invalid preconfigured connector id "{connector_id}" (letters, digits, ".", "_", "-")')
        return value

    def type_enabled(self, type_id: str) -> bool:
        return "*" in self.enabled_types or type_id in self.enabled_types


class ConfigError(RuntimeError):
    """The config file cannot be used; the message says where and why."""


def instance_path() -> Path:
    return Path(os.environ.get("SWITCHBOARD_INSTANCE_PATH", "instance")).resolve()


def load_file_config(path: Path) -> FileConfig:
    if not path.exists():
        return FileConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return FileConfig.model_validate(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def flask_config(instance: Path) -> dict:
    """The Flask config mapping built from the environment and the TOML file."""
    config_path = Path(os.environ.get("SWITCHBOARD_CONFIG", instance / "switchboard.toml"))
    db_url = os.environ.get("SWITCHBOARD_DATABASE_URL") or f"sqlite:///{instance / 'switchboard.db'}"
    keys = [k.strip() for k in os.environ.get("SWITCHBOARD_ENCRYPTION_KEYS", "").split(",") if k.strip()]
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SWITCHBOARD_ENCRYPTION_KEYS": keys,
        "SWITCHBOARD_SECRET_KEY": os.environ.get("SWITCHBOARD_SECRET_KEY", ""),
        "SWITCHBOARD_CONFIG_PATH": str(config_path),
        "SWITCHBOARD": load_file_config(config_path),
        "SWITCHBOARD_TRUST_PROXY": os.environ.get("SWITCHBOARD_TRUST_PROXY", "") not in ("", "0", "false"),
    }


def bootstrap_admin() -> tuple[str, str] | None:
    """The admin `flask init` ensures, when both variables are set (read when the command runs)."""
    user, password = os.environ.get("SWITCHBOARD_ADMIN_USER"), os.environ.get("SWITCHBOARD_ADMIN_PASSWORD")
    return (user, password) if user and password else None


def environment_secret(name: str) -> str | None:
    """A preconfigured connector's `{ env = "NAME" }` secret, read when the connector runs."""
    return os.environ.get(name)
