"""The ServiceNow API as Kibana's shared service (`lib/servicenow/service.ts`) calls it.

Basic auth or an OAuth JWT-bearer token; the Table API, the Elastic app's Import Set API and its health
check; and Kibana's error texts, which each layer prefixes with its own words
(`[Action][ServiceNow]: Unable to create incident. Error: … Reason: … [status=…] [method=…] [endpoint=…]`).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from app.types.kit import GENERIC_ERROR, Context, OutboundError, Result, http
from app.types.kit.tokens import TokenError, authorization, jwt_bearer_token
from app.types.servicenow.schemas import ServiceNowBaseConfig, ServiceNowSecrets

SERVICENOW = "ServiceNow"
TOKEN_KIND = "jwt"
SYS_DICTIONARY_QUERY = (
    "sysparm_query=name=task^ORname={table}^internal_type=string&active=true&array=false&read_only=false"
    "&sysparm_fields=max_length,element,column_label,mandatory"
)
TABLE_GET = ("table", "get")
HEALTH_GET = ("health", "get")
_NO_DATA = object()
# What a sys_id put into a path may not hold: a character that ends its segment or the path, or an escape an
# instance may read as one; "." and ".." are refused whole (the HTTP client resolves dot segments).
PATH_BREAKERS = re.compile(r"[/\\?#%\x00-\x1f\x7f]")
# An encoded query's separator: a value holding one would add conditions (`^OR…`, `^NQ…`) to the query.
QUERY_SEPARATOR = "^"
# A query value ServiceNow evaluates as server-side script (in its sandbox) instead of comparing it.
SCRIPT_PREFIX = "javascript:"


@dataclass(frozen=True)
class Product:
    """Kibana's snExternalServiceConfig entry for one type."""

    table: str
    import_set_table: str
    app_scope: str
    use_import_api: bool
    comment_field: str = "work_notes"


ITSM = Product("incident", "x_elas2_inc_int_elastic_incident", "x_elas2_inc_int", True)
SIR = Product("sn_si_incident", "x_elas2_sir_int_elastic_si_incident", "x_elas2_sir_int", True)
ITOM = Product("em_event", "x_elas2_inc_int_elastic_incident", "x_elas2_inc_int", False)


class ServiceNowError(Exception):
    """A failed call as Kibana carries it: `message` grows a prefix at each layer, `data` is the error
    response's body (its `error.message`/`detail` become the Reason), `status` what `[status=…]` shows."""

    def __init__(self, message: str, *, http_status: int | None = None, data: Any = _NO_DATA,
                 status: str | int | None = None, retry: bool | str = False, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.data = data
        self.status = status if status is not None else http_status
        self.retry = retry
        self.reason = reason

    def result(self) -> Result:
        return Result.error(GENERIC_ERROR, self.message, retry=self.retry)


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness, which decides whether Kibana reads a reason from an error body."""
    return value is not _NO_DATA and value not in (None, "", 0, False)


def _error_and_reason(err: ServiceNowError) -> tuple[str, str]:
    """Kibana's createErrorMessage: a ServiceNow error body, an OAuth error, or the message alone."""
    if err.reason is not None:
        return err.message, err.reason
    if _truthy(err.data):
        body = err.data.get("error") if isinstance(err.data, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else None
        if message:
            return err.message, f"{message}: {detail}" if detail else str(message)
        return err.message, "unknown: no error in error response"
    try:
        parsed = json.loads(err.message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed["error"], parsed.get("error_description") or ""
    return err.message, ""


def add_message(err: ServiceNowError, text: str, context: tuple[str, str | None] | None = None) -> ServiceNowError:
    """Kibana's addServiceMessageToError: `[Action][ServiceNow]: <text>. Error: … Reason: … [status=…]…`."""
    error_part, reason = _error_and_reason(err)
    parts = [f"{text}.", "Error:", error_part]
    if reason:
        parts += ["Reason:", reason]
    if context:
        endpoint, method = context
        parts.append(f"[status={err.status if err.status is not None else 'none'}]")
        if method:
            parts.append(f"[method={method}]")
        parts.append(f"[endpoint={endpoint}]")
    err.message = f"[Action][{SERVICENOW}]: {' '.join(parts)}"
    err.reason = None
    return err


def path_segment(value: str, what: str = "sys_id") -> str:
    """`value` as one path segment, or a ServiceNowError when it could name another endpoint of the instance."""
    if value in ("", ".", "..") or PATH_BREAKERS.search(value):
        raise ServiceNowError(f'The {what} "{value}" may not contain "/", "\\", "?", "#", "%" or control '
                              'characters, nor be empty, "." or ".."', status="400")
    return quote(value, safe="")


def query_value(value: str, what: str) -> str:
    """`value` for an encoded query, URL-encoded; a ServiceNowError when it would be read as more than a value."""
    if QUERY_SEPARATOR in value:
        raise ServiceNowError(f'The {what} "{value}" may not contain "^": ServiceNow would read what follows '
                              "as more conditions of the query", status="400")
    if value.strip().lower().startswith(SCRIPT_PREFIX):
        raise ServiceNowError(f'The {what} "{value}" may not start with "javascript:": ServiceNow would run it '
                              "as a script to find the value", status="400")
    return quote(value, safe="")


def pushed_date(timestamp: Any) -> str:
    """Kibana's getPushedDate: ServiceNow's `yyyy-MM-dd HH:mm:ss` read as GMT, as an ISO date."""
    when = None
    if isinstance(timestamp, str):
        try:
            when = datetime.strptime(timestamp.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            when = None
    when = when or datetime.now(UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def prepare_incident(use_table_api: bool, incident: dict[str, Any]) -> dict[str, Any]:
    """Kibana's prepareIncident: raw fields for the Table API; `u_` fields over additional fields for the app."""
    rest = {k: v for k, v in incident.items() if k != "additional_fields"}
    if use_table_api:
        return rest
    return {**(incident.get("additional_fields") or {}), **{f"u_{k}": v for k, v in rest.items()}}


class ServiceNowClient:
    """One run's calls to one instance. Every method raises ServiceNowError in Kibana's words."""

    def __init__(self, ctx: Context, product: Product, *, uses_table_api: bool = False):
        self.ctx = ctx
        self.config: ServiceNowBaseConfig = ctx.config
        self.secrets: ServiceNowSecrets = ctx.secrets
        self.product = product
        self.base = self.config.apiUrl.removesuffix("/")
        self.use_table_api = not product.use_import_api or uses_table_api
        self.table_url = f"{self.base}/api/now/v2/table/{product.table}"
        self.import_set_url = f"{self.base}/api/now/import/{product.import_set_table}"
        self.last_status: int | None = None  # of the last answer, for errors read from a 2xx body

    # ---------------------------------------------------------------- the wire

    def _authorization(self) -> str:
        config, secrets = self.config, self.secrets
        if not config.isOAuth:
            pair = f"{secrets.username or ''}:{secrets.password or ''}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        try:
            token = jwt_bearer_token(
                self.ctx.http, self.ctx.tokens, token_url=f"{self.base}/oauth_token.do",
                client_id=config.clientId or "", client_secret=secrets.clientSecret or "",
                private_key_pem=secrets.privateKey or "", private_key_password=secrets.privateKeyPassword or None,
                key_id=config.jwtKeyId or "", user_identifier=config.userIdentifierValue or "", kind=TOKEN_KIND,
            )
        except TokenError as exc:
            raise ServiceNowError(
                f"Unable to retrieve access token for connectorId: {self.ctx.connector_id}",
                status=exc.status_code, retry=exc.retry, reason=exc.reason) from None
        return authorization(token)

    def call(self, method: str, url: str, body: Any = None) -> Any:
        """One request; the answer's body (JSON when it parses, else text) or a ServiceNowError."""
        headers = {"Authorization": self._authorization(), "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        try:
            response = self.ctx.http.request(method.upper(), url, headers=headers, data=data)
        except OutboundError as exc:
            raise ServiceNowError(exc.message, status=exc.code, retry=http.is_retryable(exc)) from None
        parsed = _body(response)
        self.last_status = response.status_code
        if response.ok:
            return parsed
        if self.config.isOAuth and 400 <= response.status_code < 500:
            self.ctx.tokens.drop(TOKEN_KIND)  # as Kibana: any 4xx may mean the token went stale
        retry: bool | str = http.retryable_status(response.status_code)
        if response.status_code == 429:
            retry = http.retry_at(response.headers.get("Retry-After")) or True
        raise ServiceNowError(f"Request failed with status code {response.status_code}",
                              http_status=response.status_code, data=parsed, retry=retry)

    def check_instance(self, data: Any) -> None:
        """A 2xx answer without `result` is not ServiceNow's API (a sleeping dev instance's login page)."""
        if not isinstance(data, dict) or data.get("result") is None:
            host = urlsplit(self.base).hostname or ""
            raise ServiceNowError(f"There is an issue with your Service Now Instance. Please check {host}.")

    def get(self, url: str, context: tuple[str, str | None], doing: str) -> Any:
        try:
            data = self.call("GET", url)
            self.check_instance(data)
        except ServiceNowError as err:
            raise add_message(err, doing, context) from None
        return data["result"]

    # ---------------------------------------------------------------- the Elastic app

    def check_app(self) -> None:
        """The app's health, before every write through it (Kibana's checkIfApplicationIsInstalled)."""
        if self.use_table_api:
            return
        self.get(f"{self.base}/api/{self.product.app_scope}/elastic_api/health", HEALTH_GET,
                 "Unable to get application version")

    def _check_import_set(self, data: dict) -> str:
        rows = data["result"]
        if not isinstance(rows, list) or not rows:
            raise ServiceNowError("Unexpected result", status=self.last_status)
        row = rows[0] if isinstance(rows[0], dict) else {}
        if row.get("status") == "error":
            raise ServiceNowError(str(row.get("error_message")), status=self.last_status)
        return str(row.get("sys_id", ""))

    # ---------------------------------------------------------------- incidents

    def view_url(self, sys_id: str) -> str:
        return f"{self.base}/nav_to.do?uri={self.product.table}.do?sys_id={sys_id}"

    def get_incident(self, incident_id: str) -> dict:
        doing = f"Unable to get incident with id {incident_id}"
        if incident_id.strip() == "":
            raise add_message(ServiceNowError("Incident id is empty."), doing, TABLE_GET)
        try:
            url = f"{self.table_url}/{path_segment(incident_id)}"
        except ServiceNowError as err:
            raise add_message(err, doing, TABLE_GET) from None
        found = self.get(url, TABLE_GET, doing)
        return found if isinstance(found, dict) else {}

    def _write(self, method: str, url: str, incident: dict, extra: dict | None = None) -> dict:
        if self.use_table_api and incident.get("additional_fields") is not None:  # even {}, as in Kibana
            raise ServiceNowError("ServiceNow additional fields are not supported for deprecated connectors.",
                                  status="400")
        self.check_app()
        data = self.call(method, url, {**prepare_incident(self.use_table_api, incident), **(extra or {})})
        self.check_instance(data)
        if self.use_table_api:
            sys_id = data["result"].get("sys_id", "") if isinstance(data["result"], dict) else ""
        else:
            sys_id = self._check_import_set(data)
        return self.get_incident(str(sys_id))

    def _answer(self, record: dict, date_field: str) -> dict:
        sys_id = record.get("sys_id")
        return {"id": sys_id, "title": record.get("number"), "pushedDate": pushed_date(record.get(date_field)),
                "url": self.view_url(sys_id)}

    def create_incident(self, incident: dict) -> dict:
        url = self.table_url if self.use_table_api else self.import_set_url
        try:
            record = self._write("POST", url, incident)
        except ServiceNowError as err:
            raise add_message(err, "Unable to create incident",
                              ("table" if self.use_table_api else "import_set", "post")) from None
        return self._answer(record, "sys_created_on")

    @property
    def update_context(self) -> tuple[str, str]:
        return ("table", "patch") if self.use_table_api else ("import_set", "post")

    def update_incident(self, incident_id: str, incident: dict) -> dict:
        try:
            if self.use_table_api:
                record = self._write("PATCH", f"{self.table_url}/{path_segment(incident_id)}", incident)
            else:  # the app finds the incident by this field; its Import Set API takes POST only
                record = self._write("POST", self.import_set_url, incident, {"elastic_incident_id": incident_id})
        except ServiceNowError as err:
            raise add_message(err, f"Unable to update incident with id {incident_id}", self.update_context) from None
        return self._answer(record, "sys_updated_on")

    def get_incident_by_correlation_id(self, correlation_id: str) -> dict | None:
        doing = f"Unable to get incident by correlation ID {correlation_id}"
        if correlation_id.strip() == "":
            raise add_message(ServiceNowError("Correlation ID is empty."), doing, TABLE_GET)
        try:
            query = "ORDERBYDESCsys_created_on^correlation_id=" + query_value(correlation_id, "correlation ID")
        except ServiceNowError as err:
            raise add_message(err, doing, TABLE_GET) from None
        found = self.get(f"{self.table_url}?sysparm_query={query}", TABLE_GET, doing)
        return found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else None

    def close_incident(self, incident_id: str | None, correlation_id: str | None) -> dict | None:
        """Kibana's closeIncident: None when nothing matches (or a 404), the incident as it is when closed."""
        try:
            if incident_id is None and correlation_id is None:
                raise ServiceNowError("No correlationId or incidentId found.")
            found = None
            if incident_id:
                found = self.get_incident(incident_id)
            elif correlation_id:
                found = self.get_incident_by_correlation_id(correlation_id)
            if not found:
                return None
            if found.get("state") == "7":
                return self._answer(found, "sys_updated_on")
            return self.update_incident(str(found.get("sys_id")), {
                "state": "7", "close_code": "Closed/Resolved by Caller", "close_notes": "Closed by Caller"})
        except ServiceNowError as err:
            if err.http_status == 404:
                return None
            raise add_message(err, "Unable to close incident", self.update_context) from None

    # ---------------------------------------------------------------- lists and events

    def get_fields(self) -> list:
        url = f"{self.base}/api/now/table/sys_dictionary?{SYS_DICTIONARY_QUERY.format(table=self.product.table)}"
        found = self.get(url, TABLE_GET, "Unable to get fields")
        return found if isinstance(found, list) else []

    def get_choices(self, fields: list[str]) -> Any:
        try:
            names = [query_value(f, "field") for f in fields] or ["undefined"]
        except ServiceNowError as err:
            raise add_message(err, "Unable to get choices", TABLE_GET) from None
        elements = "^OR".join(f"element={name}" for name in names)
        query = f"name=task^ORname={self.product.table}^{elements}^language=en"
        url = f"{self.base}/api/now/table/sys_choice?sysparm_query={query}&sysparm_fields=label,value,dependent_value,element"
        return self.get(url, TABLE_GET, "Unable to get choices")

    def add_event(self, event: dict) -> None:
        try:
            self.check_instance(self.call("POST", f"{self.base}/api/global/em/jsonv2", {"records": [event]}))
        except ServiceNowError as err:
            raise add_message(err, "Unable to add event") from None

    def bulk_add_observables(self, observables: list[dict], incident_id: str) -> Any:
        try:
            url = (f"{self.base}/api/{self.product.app_scope}/elastic_api/incident/{path_segment(incident_id)}"
                   "/observables/bulk")
            self.check_app()
            data = self.call("POST", url, observables)
            self.check_instance(data)
        except ServiceNowError as err:
            raise add_message(err, f"Unable to add observables to security incident with id {incident_id}",
                              ("other", "post")) from None
        return data["result"]


def _body(response: http.OutboundResponse) -> Any:
    text = response.text
    if not text.strip():
        return ""
    try:
        return http.strict_json(text)
    except ValueError:  # not JSON, or nested too deeply to walk safely: read as text, as an HTML page is
        return text
