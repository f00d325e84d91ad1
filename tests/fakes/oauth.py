"""A fake OAuth2 token endpoint: the client-credentials and JWT-bearer grants, as Azure AD and ServiceNow answer.

It checks the grant, the client's id and secret (401 `invalid_client` otherwise), and for the JWT
grant the assertion's RS256 signature against the public key, its `kid` and its claims. It counts
token requests, issues opaque tokens with a chosen `expires_in`, and misbehaves when told to.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field

import jwt
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer

TOKEN_PATH = "/oauth2/token"
RESOURCE_PATH = "/api/resource"
CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class TokenRequest:
    content_type: str
    form: dict[str, str]
    assertion_header: dict | None = None
    assertion_claims: dict | None = None


@dataclass
class Misbehaviour:
    status: int
    body: str
    content_type: str = "application/json"


@dataclass(eq=False)
class OAuthServer(FakeServer):
    """Use as a context manager; `token_url` is the endpoint's address."""

    client_id: str = "switchboard-client"
    client_secret: str = "client-secret-value-0123456789"
    public_key: object | None = None  # for the JWT grant
    key_id: str | None = None
    user_identifier: str | None = None
    expires_in: int | str | None = 3600  # None leaves it out of the answer
    token_type: str = "Bearer"
    # A careless service that repeats the posted form in its error text.
    echo_form_in_errors: bool = False
    requests: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    misbehaviour: Misbehaviour | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        super().__init__(self._app)

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def resource_url(self) -> str:
        return self.url + RESOURCE_PATH

    @property
    def token_requests(self) -> int:
        return len(self.requests)

    def answer(self, status: int, body: str, content_type: str = "application/json") -> None:
        """Answer every token request with this instead of a token."""
        self.misbehaviour = Misbehaviour(status, body, content_type)

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.path == RESOURCE_PATH:
            response = self._resource(request)
        elif request.path == TOKEN_PATH and request.method == "POST":
            response = self._token(request)
        else:
            response = _json({"error": "not_found"}, 404)
        return response(environ, start_response)

    def _resource(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != self.token_type or token not in self.issued:
            return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return _json({"ok": True}, 200)

    def _token(self, request: Request) -> Response:
        entry = TokenRequest(request.headers.get("Content-Type", ""), request.form.to_dict())
        with self._lock:
            self.requests.append(entry)
        if self.misbehaviour is not None:
            m = self.misbehaviour
            return Response(m.body, m.status, content_type=m.content_type)
        if request.mimetype != "application/x-www-form-urlencoded":
            return self._refuse(entry, 400, "invalid_request", "the body must be form-encoded")
        form = entry.form
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._refuse(entry, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            problem = self._check_assertion(entry)
            if problem:
                return self._refuse(entry, 400, "invalid_grant", problem)
        elif grant != CLIENT_CREDENTIALS:
            return self._refuse(entry, 400, "unsupported_grant_type", f"grant type {grant!r} is not supported")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.issued.append(token)
        body = {"access_token": token, "token_type": self.token_type}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return _json(body, 200, {"Cache-Control": "no-store"})

    def _check_assertion(self, entry: TokenRequest) -> str | None:
        assertion = entry.form.get("assertion", "")
        try:
            entry.assertion_header = jwt.get_unverified_header(assertion)
            entry.assertion_claims = jwt.decode(
                assertion, self.public_key, algorithms=["RS256"], audience=self.client_id, issuer=self.client_id,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return f"the JWT assertion is not valid: {exc}"
        if entry.assertion_header.get("kid") != self.key_id:
            return "the JWT assertion names an unknown key id"
        if entry.assertion_claims["sub"] != self.user_identifier:
            return "the JWT assertion's subject is not a known user"
        return None

    def _refuse(self, entry: TokenRequest, status: int, error: str, description: str) -> Response:
        if self.echo_form_in_errors:
            description += f" (received {json.dumps(entry.form)})"
        return _json({"error": error, "error_description": description}, status)


def _json(body: dict, status: int, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, content_type="application/json")
