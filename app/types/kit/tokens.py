"""OAuth2 access tokens for connector types, fetched from a token endpoint and cached per connector.

Kibana's get_oauth_client_credentials_access_token / get_oauth_jwt_access_token with the
connector_token saved object behind them: a type asks for a token, gets the cached one while it is
valid, else a new one from the service, which is cached for every worker. The cache is a TokenStore;
the database one lives in app.services.tokens, since this module knows nothing of Flask or SQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.outbound import BoundHttp, OutboundError, OutboundResponse
from app.outbound.trace import Masker

log = logging.getLogger(__name__)

# A token this close to its end could expire on the way to the service, so it is renewed first.
EXPIRY_MARGIN = timedelta(seconds=60)
DEFAULT_EXPIRES_IN = 3600  # Kibana's lifetime when the service names none
ASSERTION_LIFETIME = 3600  # Kibana's createJWTAssertion: exp = iat + 3600
CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"
SERVICE_TEXT_LIMIT = 300
# Values in a token endpoint's answer that are credentials themselves; the trace never shows them.
ISSUED_SECRETS = ("access_token", "refresh_token", "id_token")


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    token_type: str
    expires_at: datetime  # aware, UTC

    def expired(self, margin: timedelta = EXPIRY_MARGIN) -> bool:
        return datetime.now(UTC) >= self.expires_at - margin


@dataclass(frozen=True)
class CachedToken:
    token: Token
    fingerprint: str  # of the credentials the token was fetched with


class TokenStore(Protocol):
    """The tokens of one connector, by kind ("oauth2", "jwt", …)."""

    def load(self, kind: str) -> CachedToken | None: ...

    def save(self, kind: str, token: Token, fingerprint: str) -> None: ...

    def drop(self, kind: str) -> None: ...


class MemoryTokenStore:
    """A TokenStore for runs with no saved connector, such as testing unsaved form values."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def load(self, kind: str) -> CachedToken | None:
        with self._lock:
            return self._tokens.get(kind)

    def save(self, kind: str, token: Token, fingerprint: str) -> None:
        with self._lock:
            self._tokens[kind] = CachedToken(token, fingerprint)

    def drop(self, kind: str) -> None:
        with self._lock:
            self._tokens.pop(kind, None)


class TokenError(Exception):
    """No token could be had. `service_message` is the service's own text, when it sent one."""

    PREFIX = "Unable to retrieve/refresh the access token"

    def __init__(self, reason: str, *, service_message: str | None = None, status_code: int | None = None,
                 retry: bool = False):
        super().__init__(f"{self.PREFIX}: {reason}")
        self.reason = reason
        self.service_message = service_message
        self.status_code = status_code
        self.retry = retry


def authorization(token: Token) -> str:
    """The Authorization header value, built as Kibana does: the service's token_type, a space, the token."""
    return f"{token.token_type} {token.access_token}"


def fingerprint(*parts: Any) -> str:
    """A digest of the credentials a token was fetched with, so edited credentials never reuse it."""
    canonical = json.dumps(["switchboard-token-v1", *parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def client_credentials_token(
    http: BoundHttp, store: TokenStore, *, token_url: str, client_id: str, client_secret: str,
    scope: str | None = None, extra_fields: Mapping[str, Any] | None = None, kind: str = "oauth2",
) -> Token:
    """The OAuth2 client-credentials grant (RFC 6749 §4.4), the secret sent in the form as Kibana does."""
    fp = fingerprint(CLIENT_CREDENTIALS, token_url, client_id, client_secret, scope, dict(extra_fields or {}))
    cached = _valid_cached(store, kind, fp)
    if cached is not None:
        return cached
    # Kibana's order of precedence: extra fields may replace the scope, never the client's own fields.
    form: dict[str, Any] = {**({"scope": scope} if scope else {}), **(extra_fields or {}), "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    return _fetch(http, store, kind, fp, token_url, CLIENT_CREDENTIALS, form, [client_secret])


def jwt_bearer_token(
    http: BoundHttp, store: TokenStore, *, token_url: str, client_id: str, client_secret: str,
    private_key_pem: str, private_key_password: str | None, key_id: str, user_identifier: str, kind: str = "jwt",
) -> Token:
    """The JWT bearer grant (RFC 7523) as Kibana's ServiceNow OAuth uses it."""
    fp = fingerprint(
        JWT_BEARER, token_url, client_id, client_secret, private_key_pem, private_key_password, key_id, user_identifier
    )
    cached = _valid_cached(store, kind, fp)
    if cached is not None:
        return cached
    assertion = jwt_assertion(
        private_key_pem, private_key_password, key_id=key_id, issuer=client_id, audience=client_id,
        subject=user_identifier,
    )
    form = {"assertion": assertion, "client_id": client_id, "client_secret": client_secret}
    return _fetch(http, store, kind, fp, token_url, JWT_BEARER, form, [client_secret, assertion, private_key_password])


def jwt_assertion(
    private_key_pem: str, private_key_password: str | None, *, key_id: str | None, issuer: str, audience: str,
    subject: str,
) -> str:
    """Kibana's createJWTAssertion: RS256, `kid` in the header, sub/aud/iss/iat and exp an hour on."""
    import jwt  # on first use: only JWT-authenticated ServiceNow connectors sign assertions

    key = _private_key(private_key_pem, private_key_password)
    issued_at = int(datetime.now(UTC).timestamp())
    claims = {"sub": subject, "aud": audience, "iss": issuer, "iat": issued_at, "exp": issued_at + ASSERTION_LIFETIME}
    try:
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id} if key_id else None)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise TokenError(f"Unable to generate JWT token. Error: {type(exc).__name__}") from None


def _private_key(pem: str, password: str | None) -> rsa.RSAPrivateKey:
    data = (pem or "").strip().encode()
    try:
        try:
            key = serialization.load_pem_private_key(data, password=password.encode() if password else None)
        except TypeError:
            # Node (and so Kibana) ignores a password given for a key that has none; so do we.
            if not password:
                raise
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TokenError("Unable to generate JWT token. Error: the private key is encrypted; "
                         "enter its password") from None
    except ValueError:
        encrypted = password and b"ENCRYPTED" in data
        why = "wrong password for the private key" if encrypted else "the private key is not a PEM private key"
        raise TokenError(f"Unable to generate JWT token. Error: {why}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenError("Unable to generate JWT token. Error: RS256 needs an RSA private key")
    return key


def _valid_cached(store: TokenStore, kind: str, fp: str) -> Token | None:
    try:
        cached = store.load(kind)
    except Exception as exc:  # the cache only saves a round trip; a broken one must not stop the run
        log.warning("could not read the cached %s token: %s", kind, type(exc).__name__)
        return None
    if cached is None or cached.fingerprint != fp or cached.token.expired():
        return None
    return cached.token


def _fetch(
    http: BoundHttp, store: TokenStore, kind: str, fp: str, token_url: str, grant_type: str,
    form: Mapping[str, Any], secrets: Iterable[str | None],
) -> Token:
    sent_secrets = [s for s in secrets if s]
    masker = Masker(sent_secrets)
    # Kibana's clock starts before the request, so a slow answer cannot stretch the token's life.
    started = datetime.now(UTC)
    first_exchange = len(http.trace.exchanges)
    body = _form_body({**form, "grant_type": grant_type})
    try:
        response = http.request("POST", token_url, headers={"Content-Type": FORM_CONTENT_TYPE}, data=body)
    except OutboundError as exc:
        retry = exc.code in ("connection_refused", "connection_failed", "connect_timeout", "read_timeout")
        raise TokenError(masker(http.trace.masker(exc.message)), retry=retry) from None
    payload = _json_or_none(response)
    issued = [payload[k] for k in ISSUED_SECRETS if isinstance(payload.get(k), str)] if isinstance(payload, dict) else []
    _scrub_trace(http, first_exchange, Masker([*sent_secrets, *issued]))
    access_token = payload.get("access_token") if isinstance(payload, dict) else None
    if not response.ok or not isinstance(access_token, str) or not access_token:
        raise _refusal(response, payload, lambda text: masker(http.trace.masker(text)))
    token_type = payload.get("token_type")
    token = Token(
        access_token=access_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_at=started + timedelta(seconds=_expires_in(payload.get("expires_in"))),
    )
    try:
        store.save(kind, token, fp)
    except Exception as exc:  # as Kibana: a token that cannot be cached is still used for this run
        log.warning("could not cache the %s token: %s", kind, type(exc).__name__)
    return token


def _form_body(form: Mapping[str, Any]) -> str:
    """query-string's stringify, as Kibana sends it: keys sorted, None left out, lists repeated."""
    pairs: list[tuple[str, str]] = []
    for name in sorted(form):
        value = form[name]
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, dict):
                item = json.dumps(item, separators=(",", ":"))
            pairs.append((name, str(item)))
    return urlencode(pairs)


def _json_or_none(response: OutboundResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _expires_in(value: Any) -> float:
    # Azure AD v1 sends expires_in as a string of digits.
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if seconds == seconds and abs(seconds) < 10**9 else DEFAULT_EXPIRES_IN


def _scrub_trace(http: BoundHttp, first_exchange: int, masker: Masker) -> None:
    """The trace masks the connector's secrets; the assertion and the issued tokens are known only here."""
    for exchange in http.trace.exchanges[first_exchange:]:
        exchange.body_preview = masker(exchange.body_preview)


def _refusal(response: OutboundResponse, payload: Any, mask) -> TokenError:
    service = _oauth_error(payload)
    if service is None and isinstance(payload, (dict, list)):
        # Kibana's stableStringify of the body, for an error in no shape OAuth defines.
        service = None if response.ok else json.dumps(payload, sort_keys=True, separators=(",", ":"))
    elif service is None:
        service = response.text.strip() or None
    # Masked before it is cut short: a cut secret would no longer match its mask.
    service = _clip(mask(service)) if service else None
    if not response.ok:
        reason = f"the token endpoint answered HTTP {response.status_code} {response.reason}".rstrip()
    elif payload is None:
        reason = "the token endpoint's answer is not JSON"
    else:
        reason = "the token endpoint's answer has no access_token"
    status = response.status_code
    return TokenError(
        f"{reason}: {service}" if service else reason,
        service_message=service,
        status_code=status,
        retry=status == 429 or status >= 500,
    )


def _clip(text: str) -> str:
    return text[:SERVICE_TEXT_LIMIT] + ("…" if len(text) > SERVICE_TEXT_LIMIT else "")


def _oauth_error(payload: Any) -> str | None:
    """RFC 6749 §5.2's `error` and `error_description`, or the `{"error": {"message"}}` some services send."""
    if not isinstance(payload, dict):
        return None
    error, description = payload.get("error"), payload.get("error_description")
    if isinstance(error, dict):
        error = error.get("message") if isinstance(error.get("message"), str) else None
    parts = [p for p in (error, description) if isinstance(p, str) and p]
    if not parts and isinstance(payload.get("message"), str) and payload["message"]:
        parts = [payload["message"]]
    return ": ".join(parts) or None
