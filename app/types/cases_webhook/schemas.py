"""Webhook - Case Management's settings and params, as Kibana's cases-webhook schema has them, and the
checks its connector form makes (templates that read as JSON, the variables each one needs)."""

from __future__ import annotations

from typing import Any, Literal

from app.types.cases_webhook.mustache import (
    CASE_VARIABLES,
    COMMENT_VARIABLES,
    empty_variables,
    missing_tags,
    render,
)
from app.types.kit import Field, Schema, Url, auth
from app.types.kit.auth import BASIC, OAUTH2, SSL, ClientAuthConfig, ClientAuthSecrets
from app.types.kit.http import strict_json

CONFIG_ERROR = "error configuring cases webhook action"  # Kibana's prefix of this type's config errors

# Template fields are drawn by this package's own widgets (views.py): each offers its variables to insert.
JSON_TEMPLATE = "case_template"
URL_TEMPLATE = "case_template_url"

_BASIC_SHOWN = {"config.hasAuth": ["true"], "config.authType": ["", BASIC]}
# The password is basic authentication's, and the passphrase of a client certificate's key or PFX.
_PASSWORD_SHOWN = {"config.hasAuth": ["true"], "config.authType": ["", BASIC, SSL]}
Method = Literal["post", "put", "patch"]


class _CaseFields(Schema):
    createIncidentMethod: Literal["post", "put"] = Field("post", label="Create case method")
    createIncidentUrl: Url = Field(
        label="Create case URL", widget=URL_TEMPLATE, placeholder="https://tracker.example.com/api/issues",
        help="API URL to create a case in the external system.",
    )
    createIncidentJson: str = Field(
        label="Create case object", widget=JSON_TEMPLATE,
        help="JSON object to create a case. Use the variable selector to add cases data to the payload.",
    )
    createIncidentResponseKey: str = Field(
        label="Create case response external key", placeholder="id",
        help="JSON key in the create external case response that contains the case ID",
    )
    getIncidentMethod: Literal["get", "post"] = Field("get", label="Get case method")
    getIncidentUrl: Url = Field(
        label="Get case URL", widget=URL_TEMPLATE,
        help="API URL to get case details in JSON format from the external system. Use the variable selector to "
             "add the external system ID to the URL.",
    )
    getIncidentJson: str | None = Field(
        None, label="Get case object", widget=JSON_TEMPLATE, show_when={"getIncidentMethod": ["post"]},
        help="JSON object to get a case. Use the variable selector to add cases data to the payload.",
    )
    getIncidentResponseExternalTitleKey: str = Field(
        label="Get case response external title key", placeholder="title",
        help="JSON key in the get external case response that contains the case title",
    )
    viewIncidentUrl: Url = Field(
        label="External case view URL", widget=URL_TEMPLATE,
        help="URL to view a case in the external system. Use the variable selector to add external system ID or "
             "external system title to the URL.",
    )
    updateIncidentMethod: Method = Field("put", label="Update case method")
    updateIncidentUrl: Url = Field(
        label="Update case URL", widget=URL_TEMPLATE, help="API URL to update a case.",
    )
    updateIncidentJson: str = Field(
        label="Update case object", widget=JSON_TEMPLATE,
        help="JSON object to update a case. Use the variable selector to add cases data to the payload.",
    )
    createCommentMethod: Method | None = Field("put", label="Create comment method")
    createCommentUrl: Url | None = Field(
        None, label="Create comment URL", widget=URL_TEMPLATE, help="API URL to add a comment to a case.",
    )
    createCommentJson: str | None = Field(
        None, label="Create comment object", widget=JSON_TEMPLATE,
        help="JSON object to create a comment. Use the variable selector to add cases data to the payload.",
    )
    headers: dict[str, str] | None = Field(None, label="Headers", help="Sent with every request.", widget="kv")
    # Kibana's API default is on; a new form starts off, so a connector without authentication is valid as filled.
    hasAuth: bool = Field(True, label="Require authentication for this webhook", form_default=False)
    authType: Literal["webhook-authentication-basic", "webhook-authentication-ssl",
                      "webhook-oauth2-client-credentials"] | None = Field(
        None, label="Authentication", show_when={"hasAuth": ["true"]},
        choice_labels={BASIC: "Basic (user and password)", SSL: "SSL client certificate",
                       OAUTH2: "OAuth2 client credentials (not supported)"},
        help="Basic sends user and password with each request; a client certificate is presented in the TLS "
             "handshake.",
    )


class CasesWebhookConfig(ClientAuthConfig, _CaseFields):
    """The tracker's fields first, then those of certificate authentication and TLS (Kibana's shared auth
    schema; its OAuth2 fields are accepted as Kibana's schema does, and refused by the checks below)."""


class _BasicSecrets(Schema):
    user: str | None = Field(None, label="Username", show_when=_BASIC_SHOWN)
    password: str | None = Field(
        None, label="Password", show_when=_PASSWORD_SHOWN,
        help="Basic authentication's password, or the certificate's passphrase (its key's or the PFX's, if any).",
    )


class _SecretHeaders(Schema):
    secretHeaders: dict[str, str] | None = Field(
        None, label="Secret headers", help="Headers whose values are stored encrypted.", widget="kv",
    )


class CasesWebhookSecrets(_SecretHeaders, ClientAuthSecrets, _BasicSecrets):
    """User and password, then the certificate files, then the secret headers: the form's order before."""


class Incident(Schema):
    title: str = Field(label="Summary")
    description: str | None = Field(None, label="Description")
    id: str | None = Field(None, label="Case ID")
    severity: str | None = Field(None, label="Severity")
    status: str | None = Field(None, label="Status")
    externalId: str | None = Field(None, label="External ID")
    tags: list[str] | None = Field(None, label="Tags")


class Comment(Schema):
    comment: str = Field(label="Comment")
    commentId: str = Field(label="Comment ID")


class PushParams(Schema):
    incident: Incident = Field(
        label="Incident", help="title (required), description, id, severity, status, tags; externalId updates that case.",
    )
    comments: list[Comment] | None = Field(None, label="Additional comments", help="[{commentId, comment}]")


# ---------------------------------------------------------------- the connector form's checks (Kibana's UI)

SECRETS_COMBINATIONS = auth.SECRETS_COMBINATION_ERROR
NO_SECRETS = "must specify a secrets configuration"
OAUTH2_NOT_SUPPORTED = "OAuth2 authentication is not supported for cases webhook connector"
_SECRET_KEYS = ("user", "password", "crt", "key", "pfx", "clientSecret")


def missing_variables(tags: list[str]) -> str:
    return f"Missing required variable{'s' if len(tags) > 1 else ''}: {', '.join(tags)}"


def _reads_as_json(template: str) -> bool:
    try:
        strict_json(render(template, empty_variables()))
    except ValueError:
        return False
    return True


def template_errors(config: CasesWebhookConfig) -> dict[str, str]:
    """The form's checks of the JSON templates, each at its field. Kibana's form also asks the get and view
    URLs for `{{{external.system.id}}}`; its API does not, and one validation serves both here."""
    errors: dict[str, str] = {}
    for key, needs, message in (
        ("createIncidentJson", CASE_VARIABLES[:2], "Create case object is required and must be valid JSON."),
        ("updateIncidentJson", CASE_VARIABLES[:2], "Update case object is required and must be valid JSON."),
    ):
        template = getattr(config, key)
        if not template.strip() or not _reads_as_json(template):
            errors[f"config.{key}"] = message
        elif tags := missing_tags(template, needs):
            errors[f"config.{key}"] = missing_variables(tags)
    if config.getIncidentMethod == "post" and (
        not (config.getIncidentJson or "").strip() or not _reads_as_json(config.getIncidentJson)
    ):
        errors["config.getIncidentJson"] = "Get case object is required and must be valid JSON."
    comment_json = config.createCommentJson or ""
    if comment_json:
        if not _reads_as_json(comment_json):
            errors["config.createCommentJson"] = "Create comment object must be valid JSON."
        elif tags := missing_tags(comment_json, COMMENT_VARIABLES):
            errors["config.createCommentJson"] = missing_variables(tags)
        if not config.createCommentUrl:
            errors["config.createCommentUrl"] = "Create comment URL is required."
    elif config.createCommentUrl:
        errors["config.createCommentJson"] = "Create comment Json is required."
    return errors


def auth_errors(config: CasesWebhookConfig, secrets: CasesWebhookSecrets) -> dict[str, str]:
    """Kibana's auth rules, in the order Kibana meets them: OAuth2 refused (its config validator throws
    before anything else), secrets in one of the allowed combinations (its secrets schema), some secrets
    when authentication is on (its connector validator); then the kit's certificate and TLS checks (a
    certificate that cannot be loaded is refused at save, where Kibana fails only at the first push)."""
    if config.authType == OAUTH2:
        # Kibana's cases-webhook has no OAuth2 (validators.ts refuses it up to its newest release): its
        # missing-fields messages would only ask for what can never be used.
        return {"config.authType": OAUTH2_NOT_SUPPORTED}
    errors: dict[str, str] = {}
    given = {key for key in _SECRET_KEYS if getattr(secrets, key)}
    if config.hasAuth and not given:
        errors[_first_secret(config)] = NO_SECRETS
    elif combination := auth.secrets_combination_error(secrets):
        errors[f"secrets.{_blamed(given)}"] = combination
    for key, message in auth.check_client_auth(config, secrets, prefix=CONFIG_ERROR).items():
        errors.setdefault(key, message)
    return errors


def _first_secret(config: CasesWebhookConfig) -> str:
    """The field "must specify a secrets configuration" is shown at: the first one the form shows."""
    if auth.auth_type(config) != SSL:
        return "secrets.password"
    return "secrets.pfx" if config.certType == auth.PFX else "secrets.crt"


def _blamed(given: set[str]) -> str:
    """The field a wrong combination of secrets is shown at: the missing half of a pair, if any."""
    for one, other in (("user", "password"), ("password", "user"), ("crt", "key"), ("key", "crt")):
        if one in given and other not in given and (one != "password" or not given & {"crt", "key", "pfx"}):
            return other
    if "pfx" in given and given & {"crt", "key"}:
        return "pfx"  # both certificate forms: the PFX is the one shown apart from the crt and key
    return "user"


def example_incident() -> dict[str, Any]:
    """What the test pane pushes: a title with quotes, to show it stays valid JSON."""
    return {
        "title": 'Suspicious login on "web-01"', "description": "Five failed logins, then a success.",
        "tags": ["switchboard", "auth"], "severity": "high", "status": "open", "id": "case-1",
    }
