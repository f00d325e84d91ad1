"""Webhook - Case Management — `.cases-webhook` (connector-types.md §23): push cases to any REST tracker.

A push with no external id renders the create template and sends it, reads the new case's id from the
answer, fetches the case for its title and builds the URL a person opens; with an external id it sends
the update template instead, then fetches the case the same way. Comments follow, one request each, when
the connector has a comment URL and template. Every templated URL is checked again once rendered.

Authentication is basic (an Authorization header) or a client certificate (crt+key or PFX) presented in
the TLS handshake; the connector's own `ca` and `verificationMode` apply to every call whatever the
authentication, as Kibana's sslOverrides do (app/types/kit/auth.py, shared with `.webhook`).

Errors read as Kibana's (`[Action][Webhook - Case Management]: Unable to create case. Error: …`) under
the framework's generic message; the retry flag says whether trying again can help (429 at its
Retry-After, 5xx, no answer), where Kibana retries every failure.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from app.outbound import check_url  # the check every Url field gets on save; here for rendered URLs
from app.types.cases_webhook.mustache import (
    case_variables,
    is_empty,
    js_json,
    object_value_as_string,
    render,
    url_component,
)
from app.types.cases_webhook.schemas import (
    CasesWebhookConfig,
    CasesWebhookSecrets,
    PushParams,
    auth_errors,
    example_incident,
    template_errors,
)
from app.types.kit import (
    GENERIC_ERROR,
    CaseView,
    ConnectorType,
    Context,
    EmptySchema,
    Failed,
    OutboundError,
    OutboundResponse,
    Result,
    auth,
    sub_action,
)
from app.types.kit.auth import BASIC, SSL
from app.types.kit.http import is_retryable, retry_at, strict_json

__all__ = ["CONNECTOR_NAME", "CasesWebhook", "CasesWebhookConfig", "CasesWebhookSecrets", "PushParams"]

CONNECTOR_NAME = "Webhook - Case Management"
JSON_TYPE = "application/json"
DOING = "pushing to Webhook - Case Management"
WRONG_CONFIGURATION = f"[Action]{CONNECTOR_NAME}: Wrong configuration."

Ctx = Context[CasesWebhookConfig, CasesWebhookSecrets, PushParams]


class PushError(Exception):
    """A step of a push that failed; `text` grows Kibana's prefixes as it goes up the steps."""

    def __init__(self, text: str, response: OutboundResponse | None = None, retry: bool | str = False):
        super().__init__(text)
        self.text, self.response, self.retry = text, response, retry

    def wrap(self, doing: str) -> PushError:
        """Kibana's addServiceMessageToError: what was being done, the error, the service's body and reason."""
        body = _answer_as_json(self.response) if self.response is not None else None
        reason = f"Reason: {self.response.reason}" if self.response is not None else ""
        self.text = f"[Action][{CONNECTOR_NAME}]: {doing}. Error: {self.text}. {body or ''} {reason}".rstrip()
        return self


def _data(response: OutboundResponse) -> Any:
    """The answer as axios hands it over: parsed when it is JSON, else its text."""
    text = response.text
    if not text.strip():
        return ""
    try:
        return strict_json(text)
    except ValueError:
        return text


def _answer_as_json(response: OutboundResponse) -> str | None:
    data = _data(response)
    return js_json(data) if data != "" else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CasesWebhook(ConnectorType):
    id = ".cases-webhook"
    name = CONNECTOR_NAME
    description = "Send a request to a Case Management web service."
    config = CasesWebhookConfig
    secrets = CasesWebhookSecrets
    example = {
        "config": {
            "createIncidentUrl": "https://tracker.example.com/api/issues",
            "createIncidentMethod": "post",
            "createIncidentJson": '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}, '
                                  '"labels": {{{case.tags}}}}}',
            "createIncidentResponseKey": "key",
            "getIncidentUrl": "https://tracker.example.com/api/issues/{{{external.system.id}}}",
            "getIncidentResponseExternalTitleKey": "fields.summary",
            "viewIncidentUrl": "https://tracker.example.com/browse/{{{external.system.id}}}",
            "updateIncidentUrl": "https://tracker.example.com/api/issues/{{{external.system.id}}}",
            "updateIncidentMethod": "put",
            "updateIncidentJson": '{"fields": {"summary": {{{case.title}}}, "description": {{{case.description}}}, '
                                  '"labels": {{{case.tags}}}}}',
            "createCommentUrl": "https://tracker.example.com/api/issues/{{{external.system.id}}}/comments",
            "createCommentMethod": "post",
            "createCommentJson": '{"body": {{{case.comment}}}}',
            "hasAuth": True,
            "authType": BASIC,
        },
        "secrets": {"user": "switchboard", "password": "example-password"},
    }
    test_params = {
        "subAction": "pushToService",
        "subActionParams": {"incident": example_incident(),
                            "comments": [{"commentId": "1", "comment": "Pushed from Switchboard's test pane."}]},
    }
    config_error_prefix = "error configuring cases webhook action"
    minimum_license_required = "gold"
    supported_feature_ids = ("cases",)
    case_fields = EmptySchema

    def check(self, config: CasesWebhookConfig, secrets: CasesWebhookSecrets) -> dict[str, str]:
        return {**template_errors(config), **auth_errors(config, secrets)}

    def case_incident(self, case: CaseView, fields: Any) -> dict[str, Any]:
        return {"title": case.title, "description": case.description, "tags": list(case.tags),
                "severity": case.severity, "status": case.status, "id": case.id}

    @sub_action("pushToService", PushParams, "Create or update the case in the external system, then add comments.",
                example=test_params["subActionParams"])
    def push_to_service(self, ctx: Ctx) -> Result:
        refused = self._refused(ctx.config, ctx.secrets)
        if refused:
            return refused
        push = _Push(ctx)
        incident = ctx.params.incident.model_dump(exclude={"externalId"})
        external_id = ctx.params.incident.externalId
        try:
            if external_id is not None:
                data = push.update(external_id, incident)
            else:
                data = push.create(incident)
            data["comments"] = []
            for comment in ctx.params.comments or []:
                if comment.comment:
                    push.comment(data["id"], comment.comment)
                    data["comments"].append({"commentId": comment.commentId, "pushedDate": data["pushedDate"]})
        except PushError as failed:
            return Result.error(GENERIC_ERROR, failed.text, retry=failed.retry)
        return Result.ok(data)

    def _refused(self, config: CasesWebhookConfig, secrets: CasesWebhookSecrets) -> Result | None:
        """Kibana's run-time refusal of incomplete credentials (validateConnectorAuthConfiguration): basic
        without both user and password; SSL with nothing to put in the TLS overrides."""
        if config.hasAuth and config.authType in (None, BASIC) and not (secrets.user and secrets.password):
            return Result.error(GENERIC_ERROR, WRONG_CONFIGURATION, retry=False)
        certificate = config.hasAuth and (secrets.pfx or (secrets.crt and secrets.key))
        if config.authType == SSL and not (certificate or config.ca or config.verificationMode):
            return Result.error(GENERIC_ERROR, WRONG_CONFIGURATION, retry=False)
        return None


class _Push:
    """One push's requests, with the connector's headers and the run's outbound client."""

    def __init__(self, ctx: Ctx):
        self.ctx, self.config = ctx, ctx.config
        self.conn: auth.Connection | None = None  # the certificate and TLS, loaded at the first request
        headers = {**(self.config.headers or {}), **(ctx.secrets.secretHeaders or {})}
        if not any(name.lower() == "content-type" for name in headers):
            headers = {"Content-Type": JSON_TYPE, **headers}
        secrets = ctx.secrets
        if self.config.hasAuth and self.config.authType in (None, BASIC):
            pair = f"{secrets.user}:{secrets.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.headers = headers

    # ---- Kibana's four steps

    def create(self, incident: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        try:
            url = self.checked_url(config.createIncidentUrl.removesuffix("/"), "Create case URL")
            body = self.json_body(config.createIncidentJson, case_variables(incident), "Create case JSON body")
            data = self.send(config.createIncidentMethod, url, body, required=(config.createIncidentResponseKey,))
            external_id = object_value_as_string(data, config.createIncidentResponseKey)
            return self.answer(external_id, self.title(external_id))
        except PushError as failed:
            raise failed.wrap("Unable to create case") from None

    def update(self, external_id: str, incident: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        try:
            url = self.checked_url(self.url_for(config.updateIncidentUrl, external_id), "Update case URL")
            variables = {**case_variables(incident), "external": {"system": {"id": js_json(external_id)}}}
            body = self.json_body(config.updateIncidentJson, variables, "Update case JSON body")
            self.send(config.updateIncidentMethod, url, body)
            return self.answer(external_id, self.title(external_id))
        except PushError as failed:
            raise failed.wrap(f"Unable to update case with id {external_id}") from None

    def title(self, external_id: str) -> str:
        """The case's title in the external system (Kibana's getIncident)."""
        config = self.config
        try:
            url = self.checked_url(self.url_for(config.getIncidentUrl, external_id), "Get case URL")
            body = None
            if config.getIncidentMethod == "post" and config.getIncidentJson:
                variables = {"external": {"system": {"id": js_json(external_id)}}}
                body = self.json_body(config.getIncidentJson, variables, "Get case JSON body")
            key = config.getIncidentResponseExternalTitleKey
            data = self.send(config.getIncidentMethod, url, body, required=(key,))
            return object_value_as_string(data, key)
        except PushError as failed:
            raise failed.wrap(f"Unable to get case with id {external_id}") from None

    def comment(self, external_id: str, text: str) -> None:
        config = self.config
        if not (config.createCommentUrl and config.createCommentJson and config.createCommentMethod):
            return
        try:
            url = self.checked_url(self.url_for(config.createCommentUrl, external_id), "Create comment URL")
            variables = {"case": {"comment": js_json(text)}, "external": {"system": {"id": js_json(external_id)}}}
            body = self.json_body(config.createCommentJson, variables, "Create comment JSON body")
            self.send(config.createCommentMethod, url, body)
        except PushError as failed:
            raise failed.wrap(f"Unable to create comment at case with id {external_id}") from None

    def answer(self, external_id: str, title: str) -> dict[str, Any]:
        ids = {"id": url_component(external_id), "title": url_component(title)}
        view = self.checked_url(render(self.config.viewIncidentUrl, {"external": {"system": ids}}), "View case URL")
        return {"id": external_id, "title": title, "url": view, "pushedDate": _now()}

    # ---- the pieces

    @staticmethod
    def url_for(template: str, external_id: str) -> str:
        return render(template, {"external": {"system": {"id": url_component(external_id)}}})

    def checked_url(self, url: str, label: str) -> str:
        """Kibana's validateAndNormalizeUrl: an allowed http(s) URL, trailing and doubled slashes removed."""
        try:
            check_url(url, self.ctx.http.settings.allowed_hosts)
        except OutboundError as exc:
            raise PushError(f"Invalid {label}: Error: {exc.message}") from None
        scheme, sep, rest = url.partition("://")
        while "//" in rest:
            rest = rest.replace("//", "/")
        return scheme + sep + rest.removesuffix("/")

    @staticmethod
    def json_body(template: str, variables: dict[str, Any], label: str) -> str:
        body = render(template, variables)
        try:
            strict_json(body)
        except ValueError:
            raise PushError(f"JSON Error: {label} must be valid JSON") from None
        return body

    def connection(self) -> auth.Connection:
        """The connector's client certificate and TLS. Loaded at the first request, so that a certificate
        that cannot be used fails that step in Kibana's words ("Unable to create case. Error: …"), as
        Node's TLS refusing it would in Kibana."""
        if self.conn is None:
            try:
                self.conn = auth.connection(self.ctx, doing=DOING)
            except Failed as failed:
                raise PushError(failed.result.service_message or failed.result.message or "") from None
        return self.conn

    def send(self, method: str, url: str, body: str | None, required: tuple[str, ...] = ()) -> Any:
        """One request; the answer's data once it passes Kibana's checks (throwDescriptiveErrorIfResponseIsNotValid)."""
        conn = self.connection()
        try:
            response = self.ctx.http.request(method, url, headers={**self.headers, **conn.headers}, data=body,
                                             tls=conn.tls)
        except OutboundError as exc:
            raise PushError(f"[{exc.code}] {exc.message}", retry=is_retryable(exc)) from None
        if not response.ok:
            raise PushError(f"Request failed with status code {response.status_code}", response, _retry(response))
        data = _data(response)
        if response.status_code == 204 and is_empty(data) and not required:
            return data
        content_type = response.headers.get("Content-Type")
        if content_type is None:
            raise PushError(f"Missing content type header in {method} {url}. Supported content types: {JSON_TYPE}")
        if JSON_TYPE not in content_type:
            raise PushError(f"Unsupported content type: {content_type} in {method} {url}. "
                            f"Supported content types: {JSON_TYPE}")
        if not is_empty(data) and not isinstance(data, dict | list):
            raise PushError("Response is not a valid JSON")
        missing = [key for key in required if object_value_as_string(data, key) is None]
        if missing:
            raise PushError(f"Response is missing the expected field{'s' if len(missing) > 1 else ''}: "
                            f"{', '.join(missing)}")
        return data


def _retry(response: OutboundResponse) -> bool | str:
    if response.status_code == 429:
        return retry_at(response.headers.get("Retry-After")) or True
    return response.status_code >= 500
