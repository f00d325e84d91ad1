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
from app.types.kit import Field, Schema, Url
from app.types.kit.http import strict_json

BASIC = "webhook-authentication-basic"
SSL = "webhook-authentication-ssl"
OAUTH2 = "webhook-oauth2-client-credentials"
CRT_KEY = "ssl-crt-key"
PFX = "ssl-pfx"

# Template fields are drawn by this package's own widgets (views.py): each offers its variables to insert.
JSON_TEMPLATE = "case_template"
URL_TEMPLATE = "case_template_url"

_BASIC_SHOWN = {"config.hasAuth": ["true"], "config.authType": ["", BASIC]}
_SSL_SHOWN = {"config.hasAuth": ["true"], "config.authType": [SSL]}
_OAUTH2_SHOWN = {"hasAuth": ["true"], "authType": [OAUTH2]}
Method = Literal["post", "put", "patch"]


class CasesWebhookConfig(Schema):
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
        choice_labels={BASIC: "Basic (user and password)", SSL: "SSL client certificate (not yet available)",
                       OAUTH2: "OAuth2 client credentials (not supported)"},
    )
    certType: Literal["ssl-crt-key", "ssl-pfx"] | None = Field(
        None, label="Certificate type", show_when={"hasAuth": ["true"], "authType": [SSL]},
        choice_labels={CRT_KEY: "CRT and KEY file", PFX: "PFX file"},
    )
    ca: str | None = Field(None, label="CA file", widget="textarea",
                           help="A certificate authority to trust, base64-encoded PEM (Kibana's `ca`).")
    verificationMode: Literal["none", "certificate", "full"] | None = Field(
        None, label="Verification mode", help="How the service's TLS certificate is checked.",
    )
    accessTokenUrl: Url | None = Field(None, label="Access token URL", show_when=_OAUTH2_SHOWN)
    clientId: str | None = Field(None, label="Client ID", show_when=_OAUTH2_SHOWN)
    scope: str | None = Field(None, label="Scope", show_when=_OAUTH2_SHOWN)
    additionalFields: str | None = Field(None, label="Additional fields", widget="textarea", show_when=_OAUTH2_SHOWN)


class CasesWebhookSecrets(Schema):
    user: str | None = Field(None, label="Username", show_when=_BASIC_SHOWN)
    password: str | None = Field(
        None, label="Password", show_when={"config.hasAuth": ["true"]},
        help="Basic authentication's password, or the certificate's passphrase.",
    )
    crt: str | None = Field(None, label="CRT file", widget="textarea", show_when=_SSL_SHOWN,
                            help="Base64-encoded PEM certificate.")
    key: str | None = Field(None, label="KEY file", widget="textarea", show_when=_SSL_SHOWN,
                            help="Base64-encoded PEM private key.")
    pfx: str | None = Field(None, label="PFX file", widget="textarea", show_when=_SSL_SHOWN,
                            help="Base64-encoded PFX bundle.")
    clientSecret: str | None = Field(None, label="Client secret",
                                     show_when={"config.hasAuth": ["true"], "config.authType": [OAUTH2]})
    secretHeaders: dict[str, str] | None = Field(
        None, label="Secret headers", help="Headers whose values are stored encrypted.", widget="kv",
    )


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

SECRETS_COMBINATIONS = ("must specify one of the following schemas: user and password; crt and key (with optional "
                        "password); pfx (with optional password); or clientSecret (for OAuth2)")
NO_SECRETS = "must specify a secrets configuration"
OAUTH2_NOT_SUPPORTED = "OAuth2 authentication is not supported for cases webhook connector"


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
    """Kibana's auth rules: OAuth2 refused, secrets in one of the allowed combinations, some when required."""
    errors: dict[str, str] = {}
    if config.authType == OAUTH2:
        errors["config.authType"] = OAUTH2_NOT_SUPPORTED
    given = {key for key in ("user", "password", "crt", "key", "pfx", "clientSecret") if getattr(secrets, key)}
    if config.hasAuth and not given:
        errors["secrets.password" if config.authType != SSL else "secrets.crt"] = NO_SECRETS
    elif given and given not in (
        {"user", "password"}, {"crt", "key"}, {"crt", "key", "password"}, {"pfx"}, {"pfx", "password"},
        {"clientSecret"},
    ):
        errors[f"secrets.{_blamed(given)}"] = SECRETS_COMBINATIONS
    return errors


def _blamed(given: set[str]) -> str:
    """The field a wrong combination of secrets is shown at: the missing half of a pair, if any."""
    for one, other in (("user", "password"), ("password", "user"), ("crt", "key"), ("key", "crt")):
        if one in given and other not in given and (one != "password" or not given & {"crt", "key", "pfx"}):
            return other
    return "user"


def example_incident() -> dict[str, Any]:
    """What the test pane pushes: a title with quotes, to show it stays valid JSON."""
    return {
        "title": 'Suspicious login on "web-01"', "description": "Five failed logins, then a success.",
        "tags": ["switchboard", "auth"], "severity": "high", "status": "open", "id": "case-1",
    }
