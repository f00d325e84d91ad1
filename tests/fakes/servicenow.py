"""A fake ServiceNow instance: the Table API, the Elastic apps' Import Set tables, health checks and
observables, `sys_choice` and `sys_dictionary`, ITOM's event endpoint, and `oauth_token.do`.

Every call needs basic auth with the instance's user, or a bearer token that `oauth_token.do` issued for a
JWT-bearer grant: the assertion's RS256 signature is verified with the public key of the JWT verifier map
(`kid`), and its claims as ServiceNow checks them (iss = aud = the OAuth client, sub = the user, exp in the
future). Tokens expire. Errors carry ServiceNow's `{"error": {"message", "detail"}, "status": "failure"}`.
Faults can be scripted: throttling (429 with Retry-After), an outage (500), or any next answer.

Lists are filtered by their `sysparm_query` read as ServiceNow reads an encoded query: conditions joined by
`^` (AND), `^OR` (OR with the condition before) and `^NQ` (a new query ORed with the others), ORDERBY terms
aside; so a value that smuggles a `^` in changes which records match, as it would on a real instance.
Hostile modes for the security tests: `echo_credentials` quotes the Authorization header in every API
error, `echo_grant` quotes the token request's assertion and client secret in the token endpoint's error,
and `answer_raw` scripts any JSON text as the next answer.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

from tests.fakes import service

USERNAME = "elastic-integration"
PASSWORD = "sn-password-Qw7Zr2Lp"
CLIENT_ID = "3f1b6c0e9a8d4f2bb6e5c7a9d0e1f234"
CLIENT_SECRET = "sn-client-secret-Hk4Vt9Xe"
JWT_KEY_ID = "elastic-jwt-key"
USER_IDENTIFIER = "integration@example.com"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

TABLES = {"incident": "INC", "sn_si_incident": "SIR", "em_event": "EVT"}
# The Elastic apps: import set table -> (target table, app scope).
IMPORT_SETS = {
    "x_elas2_inc_int_elastic_incident": ("incident", "x_elas2_inc_int"),
    "x_elas2_sir_int_elastic_si_incident": ("sn_si_incident", "x_elas2_sir_int"),
}
CHOICES = [
    # (table, element, value, label, dependent_value)
    ("task", "urgency", "1", "1 - High", ""),
    ("task", "urgency", "2", "2 - Medium", ""),
    ("task", "urgency", "3", "3 - Low", ""),
    ("task", "impact", "1", "1 - High", ""),
    ("task", "impact", "2", "2 - Medium", ""),
    ("task", "impact", "3", "3 - Low", ""),
    ("task", "priority", "1", "1 - Critical", ""),
    ("task", "priority", "3", "3 - Moderate", ""),
    ("incident", "severity", "1", "1 - High", ""),
    ("incident", "severity", "2", "2 - Medium", ""),
    ("incident", "severity", "3", "3 - Low", ""),
    ("incident", "category", "software", "Software", ""),
    ("incident", "category", "network", "Network", ""),
    ("incident", "subcategory", "email", "Email", "software"),
    ("incident", "subcategory", "os", "Operating System", "software"),
    ("incident", "subcategory", "vpn", "VPN", "network"),
    ("incident", "subcategory", "dns", "DNS", "network"),
    ("sn_si_incident", "category", "malware", "Malicious code activity", ""),
    ("sn_si_incident", "category", "phishing", "Phishing", ""),
    ("sn_si_incident", "subcategory", "ransomware", "Ransomware", "malware"),
    ("sn_si_incident", "subcategory", "spear", "Spear phishing", "phishing"),
    ("em_event", "severity", "1", "Critical", ""),
    ("em_event", "severity", "3", "Minor", ""),
    ("em_event", "severity", "5", "OK", ""),
]
DICTIONARY = [
    {"max_length": "160", "element": "short_description", "column_label": "Short description", "mandatory": "false"},
    {"max_length": "4000", "element": "description", "column_label": "Description", "mandatory": "false"},
    {"max_length": "100", "element": "correlation_id", "column_label": "Correlation ID", "mandatory": "false"},
]


def error_body(message: str, detail: str | None) -> dict:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


NOT_AUTHENTICATED = error_body("User Not Authenticated", "Required to provide Auth information")
NO_RECORD = error_body("No Record found", "Record doesn't exist or ACL restricts the record retrieval")
NO_RESOURCE = error_body("Requested URI does not represent any resource", None)


def key_pair(password: str | None = None) -> tuple[str, rsa.RSAPublicKey]:
    """A new RSA key pair: the private key as PEM text (encrypted when `password`), and the public key
    a JWT verifier map would hold."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem.decode(), key.public_key()


def sn_time(moment: datetime | None = None) -> str:
    """ServiceNow's `yyyy-MM-dd HH:mm:ss`, in GMT as the REST API answers it."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Received(service.Received):
    query: str = ""  # the raw query string: ServiceNow's lists are asked for in it

    @property
    def args(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))


@dataclass
class Grant:
    """What a JWT-bearer grant carried, for tests to look at."""

    form: dict[str, str]
    header: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)


class FakeServiceNow(service.FakeService):
    received_class = Received

    def __init__(self, *, public_key: rsa.RSAPublicKey | None = None, app_installed: bool = True,
                 token_lifetime: int = 1799, **kw):
        self.public_key = public_key
        self.app_installed = app_installed
        self.token_lifetime = token_lifetime
        self.records: dict[str, dict[str, dict]] = {table: {} for table in TABLES}
        self.events: list[dict] = []
        self.observables: dict[str, list[dict]] = {}
        self.grants: list[Grant] = []
        self.observables_fault: tuple[int, dict] | None = None  # how the observables endpoint fails, if it does
        self.tokens: dict[str, float] = {}  # access token -> when it expires (epoch seconds)
        self._numbers = itertools.count(10001)
        self.echo_credentials = False  # hostile: API errors quote the Authorization header received
        self.echo_grant = False  # hostile: the token endpoint's error quotes the assertion and client secret
        self._data_lock = threading.Lock()
        super().__init__(**kw)

    # ---- faults for the next requests, answered in order before the normal rules

    def throttle(self, retry_after: str | None = "30") -> None:
        """A rate limit rule's violation: 429, the rule's headers, Retry-After in seconds."""
        headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Reset": str(int(time.time()) + 3600),
                   "X-RateLimit-Rule": "5bbba4b1dbc0b010be9ff6b91d961941"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        self.answer_next(429, error_body("Rate limit exceeded", "Too many requests; try again later."), headers)

    def outage(self) -> None:
        self.answer_next(500, error_body("Internal server error", "The instance is unavailable."))

    def answer_raw(self, status: int, text: str) -> None:
        """Answer the next request with this text as it is, as JSON (hostile bodies)."""
        self._next.append(Response(text, service.status_line(status), content_type=self.json_type))

    def expire_tokens(self) -> None:
        with self._data_lock:
            self.tokens = {token: 0.0 for token in self.tokens}

    # ---- what the tests look at

    def seed(self, table: str, **fields) -> dict:
        """A record already in the instance."""
        with self._data_lock:
            return self._insert(table, fields)

    def received_at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def _app(self, environ, start_response):
        # The base records no query string; requests here come one at a time, so the last is this one.
        answer = super()._app(environ, start_response)
        self.received[-1].query = environ.get("QUERY_STRING", "")
        return answer

    # ---- the service

    def answer(self, request: Request) -> Response:
        path = request.path
        if path == "/oauth_token.do" and request.method == "POST":
            return self._token(request)
        if self.echo_credentials:
            return _json(401, error_body("User Not Authenticated",
                                         f"Refused Authorization: {request.headers.get('Authorization', '')}"))
        if not self._authenticated(request):
            return _json(401, NOT_AUTHENTICATED)
        parts = path.strip("/").split("/")
        with self._data_lock:
            if parts[:3] == ["api", "now", "table"] and len(parts) == 4 and request.method == "GET":
                return self._list(parts[3], request)
            if parts[:4] == ["api", "now", "v2", "table"] and len(parts) in (5, 6) and parts[4] in TABLES:
                return self._table(request, parts[4], parts[5] if len(parts) == 6 else None)
            if parts[:3] == ["api", "now", "import"] and len(parts) == 4 and request.method == "POST":
                return self._import(parts[3], request)
            if parts[2:] == ["elastic_api", "health"] and request.method == "GET":
                return self._health(parts[1])
            if parts[:2] == ["api", "x_elas2_sir_int"] and parts[-2:] == ["observables", "bulk"]:
                return self._observables(parts[4], request)
            if path == "/api/global/em/jsonv2" and request.method == "POST":
                return self._event(request)
        return _json(400, NO_RESOURCE)

    def _authenticated(self, request: Request) -> bool:
        kind, _, credential = request.headers.get("Authorization", "").partition(" ")
        if kind == "Basic":
            try:
                user, _, password = base64.b64decode(credential).decode().partition(":")
            except ValueError:
                return False
            return (user, password) == (USERNAME, PASSWORD)
        if kind == "Bearer":
            with self._data_lock:
                return self.tokens.get(credential, 0.0) > time.time()
        return False

    def _token(self, request: Request) -> Response:
        form = {k: v for k, v in request.form.items()}
        grant = Grant(form)
        self.grants.append(grant)
        if self.echo_grant:
            return _json(400, {"error": "invalid_grant", "error_description":
                               f"assertion {form.get('assertion')} with secret {form.get('client_secret')} refused"})
        denied = _json(401, {"error_description": "access_denied", "error": "server_error"})
        if (form.get("grant_type") != JWT_BEARER or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET or self.public_key is None):
            return denied
        try:
            grant.header = jwt.get_unverified_header(form.get("assertion", ""))
            grant.claims = jwt.decode(form["assertion"], self.public_key, algorithms=["RS256"], audience=CLIENT_ID,
                                      issuer=CLIENT_ID, options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except (jwt.PyJWTError, KeyError):
            return denied
        if grant.header.get("kid") != JWT_KEY_ID or grant.claims.get("sub") != USER_IDENTIFIER:
            return denied
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self._data_lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return _json(200, {"access_token": token, "refresh_token": uuid.uuid4().hex, "scope": "useraccount",
                           "token_type": "Bearer", "expires_in": self.token_lifetime})

    def _insert(self, table: str, fields: dict) -> dict:
        now = sn_time()
        sys_id = uuid.uuid4().hex
        record = {"state": "1", **{k: "" if v is None else v for k, v in fields.items()}, "sys_id": sys_id,
                  "number": f"{TABLES[table]}{next(self._numbers):07d}", "sys_created_on": now, "sys_updated_on": now}
        self.records[table][sys_id] = record
        return record

    def _update(self, record: dict, fields: dict) -> dict:
        record.update({k: "" if v is None else v for k, v in fields.items() if k not in ("sys_id", "number")})
        record["sys_updated_on"] = sn_time()
        return record

    def _list(self, table: str, request: Request) -> Response:
        if table == "sys_dictionary":
            return _json(200, {"result": DICTIONARY})
        if table != "sys_choice":
            return _json(400, NO_RESOURCE)
        query = request.args.get("sysparm_query", "")
        rows = [{"name": name, "label": label, "value": value, "dependent_value": dependent, "element": element,
                 "language": "en"} for name, element, value, label, dependent in CHOICES]
        fields = ("label", "value", "dependent_value", "element")
        return _json(200, {"result": [{k: r[k] for k in fields} for r in rows if matches(r, query)]})

    def _table(self, request: Request, table: str, sys_id: str | None) -> Response:
        records = self.records[table]
        if sys_id is None and request.method == "POST":
            return _json(201, {"result": self._insert(table, request.get_json(silent=True) or {})})
        if sys_id is None and request.method == "GET":
            query = request.args.get("sysparm_query", "")
            found = sorted((r for r in records.values() if matches(r, query)),
                           key=lambda r: r["sys_created_on"], reverse=True)
            return _json(200, {"result": found})
        record = records.get(sys_id or "")
        if record is None:
            return _json(404, NO_RECORD)
        if request.method == "GET":
            return _json(200, {"result": record})
        if request.method in ("PATCH", "PUT"):
            return _json(200, {"result": self._update(record, request.get_json(silent=True) or {})})
        return _json(405, error_body("Method not Supported", "Method not supported for API"))

    def _import(self, staging: str, request: Request) -> Response:
        if staging not in IMPORT_SETS or not self.app_installed:
            return _json(400, NO_RESOURCE)
        table = IMPORT_SETS[staging][0]
        body = request.get_json(silent=True) or {}
        # The app's transform map: u_ fields onto the incident's own, other fields as they are.
        fields = {(k[2:] if k.startswith("u_") else k): v for k, v in body.items() if k != "elastic_incident_id"}
        target = body.get("elastic_incident_id")
        if target is not None:
            record = self.records[table].get(target)
            if record is None:
                row = {"status": "error", "error_message": f"Incident with sys_id {target} not found", "sys_id": ""}
                return _json(201, {"import_set": "ISET0010001", "staging_table": staging, "result": [row]})
            self._update(record, fields)
            status = "updated"
        else:
            record = self._insert(table, fields)
            status = "inserted"
        row = {"transform_map": "Elastic Incident", "table": table, "display_name": "number",
               "display_value": record["number"], "record_link": f"{self.url}/api/now/table/{table}/{record['sys_id']}",
               "status": status, "sys_id": record["sys_id"]}
        return _json(201, {"import_set": "ISET0010001", "staging_table": staging, "result": [row]})

    def _health(self, scope: str) -> Response:
        if not self.app_installed or scope not in {s for _, s in IMPORT_SETS.values()}:
            return _json(400, NO_RESOURCE)
        return _json(200, {"result": {"name": "Elastic", "scope": scope, "version": "1.1.0"}})

    def _observables(self, sys_id: str, request: Request) -> Response:
        if not self.app_installed:
            return _json(400, NO_RESOURCE)
        if self.observables_fault is not None:
            return _json(*self.observables_fault)
        if sys_id not in self.records["sn_si_incident"]:
            return _json(404, NO_RECORD)
        given = request.get_json(silent=True) or []
        self.observables.setdefault(sys_id, []).extend(given)
        return _json(200, {"result": [{"value": o.get("value"), "observable_sys_id": uuid.uuid4().hex}
                                      for o in given]})

    def _event(self, request: Request) -> Response:
        records = (request.get_json(silent=True) or {}).get("records") or []
        self.events.extend(records)
        return _json(200, {"result": {"Default Bulk Endpoint": f"{len(records)} events were inserted"}})


_CONDITION = re.compile(r"^(?P<field>[A-Za-z_][\w.]*?)(?P<op>ISNOTEMPTY|ISEMPTY|!=|=|LIKE|STARTSWITH)(?P<value>.*)$", re.S)


def _holds(record: dict, condition: str) -> bool:
    match = _CONDITION.match(condition)
    if match is None:
        return False  # ServiceNow ignores a term it cannot read; here it matches nothing
    value, wanted, op = str(record.get(match["field"], "")), match["value"], match["op"]
    return {"ISNOTEMPTY": value != "", "ISEMPTY": value == "", "=": value == wanted, "!=": value != wanted,
            "LIKE": wanted.lower() in value.lower(), "STARTSWITH": value.startswith(wanted)}[op]


def matches(record: dict, query: str) -> bool:
    """Whether `record` is in the answer to the encoded query `query` (an empty query matches all)."""
    for group in query.split("^NQ"):
        conditions: list[list[str]] = []  # ANDed; each a list of ORed conditions
        for term in group.split("^"):
            if not term or term.startswith(("ORDERBY", "ORDERBYDESC")):
                continue
            if term.startswith("OR") and conditions:
                conditions[-1].append(term[2:])
            else:
                conditions.append([term])
        if all(any(_holds(record, c) for c in ored) for ored in conditions):
            return True
    return False


def _json(status: int, body: dict) -> Response:
    return service.json_response(status, body)
