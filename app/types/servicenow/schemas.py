"""The connection settings every ServiceNow type shares: Kibana's config and secrets schemas
(`kbn-connector-schemas/servicenow`) and its validators (`lib/servicenow/validators.ts`)."""

from __future__ import annotations

from app.types.kit import Field, Schema, Url

OAUTH_ONLY = {"isOAuth": ["true"]}
SECRETS_OAUTH_ONLY = {"config.isOAuth": ["true"]}
SECRETS_BASIC_ONLY = {"config.isOAuth": ["false"]}
# Kibana's ensureUriAllowed refusal, wrapped by the ServiceNow config validator.
CONFIG_ERROR_PREFIX = "error configuring connector action"


class ServiceNowBaseConfig(Schema):
    """ITOM's config: Kibana's base schema, without `usesTableApi`."""

    apiUrl: Url = Field(label="ServiceNow instance URL", placeholder="https://dev123.service-now.com",
                        help="The instance's address; every call goes to a path under it.")
    isOAuth: bool = Field(False, label="Use OAuth authentication",
                          help="Sign in with a JWT signed by your private key instead of a user name and password.")
    userIdentifierValue: str | None = Field(
        None, label="User identifier", show_when=OAUTH_ONLY,
        help="The value of the user field the OAuth JWT verifier maps, e.g. the user's email.")
    clientId: str | None = Field(None, label="Client ID", show_when=OAUTH_ONLY)
    jwtKeyId: str | None = Field(None, label="JWT verifier key ID", show_when=OAUTH_ONLY)


class ServiceNowConfig(ServiceNowBaseConfig):
    """ITSM's and SecOps' config."""

    # Kibana's schema defaults to the legacy Table API, while its form creates connectors on the app.
    usesTableApi: bool = Field(
        True, label="Use the Table API (deprecated)", form_default=False,
        help="Leave unticked to go through the Elastic ServiceNow app (Import Set API), which must be installed.")


class ServiceNowSecrets(Schema):
    username: str | None = Field(None, label="Username", show_when=SECRETS_BASIC_ONLY)
    password: str | None = Field(None, label="Password", show_when=SECRETS_BASIC_ONLY)
    clientSecret: str | None = Field(None, label="Client secret", show_when=SECRETS_OAUTH_ONLY)
    privateKey: str | None = Field(None, label="Private key", widget="textarea", show_when=SECRETS_OAUTH_ONLY,
                                   help="The PEM RSA private key whose certificate the JWT verifier map holds.")
    privateKeyPassword: str | None = Field(None, label="Private key password", show_when=SECRETS_OAUTH_ONLY,
                                           help="Only for an encrypted private key.")


def missing(field: str, is_oauth: bool) -> str:
    return f"{field} must be provided when isOAuth = {'true' if is_oauth else 'false'}"


def not_wanted(fields: str, is_oauth: bool) -> str:
    return f"{fields} should not be provided with isOAuth = {'true' if is_oauth else 'false'}"


def check_settings(config: ServiceNowBaseConfig, secrets: ServiceNowSecrets) -> dict[str, str]:
    """Kibana's config, secrets and connector validators, each message at the field it is about."""
    errors: dict[str, str] = {}
    oauth = config.isOAuth
    if oauth:  # validateCommonConfig
        for key in ("userIdentifierValue", "clientId", "jwtKeyId"):
            if getattr(config, key) is None:
                errors[f"config.{key}"] = missing(key, True)
    errors.update(_secrets_errors(secrets, oauth))
    if errors:
        return errors
    if oauth:  # validateCommonConnector
        for key in ("clientSecret", "privateKey"):
            if getattr(secrets, key) is None:
                return {f"secrets.{key}": missing(key, True)}
        if secrets.username or secrets.password:
            key = "username" if secrets.username else "password"
            return {f"secrets.{key}": not_wanted("Username and password", True)}
        return {}
    for key in ("username", "password"):
        if getattr(secrets, key) is None:
            return {f"secrets.{key}": missing(key, False)}
    given = [f"secrets.{k}" for k in ("clientSecret", "privateKey") if getattr(secrets, k)]
    given = [f"config.{k}" for k in ("clientId", "userIdentifierValue", "jwtKeyId") if getattr(config, k)] + given
    if given:
        return {given[0]: not_wanted("clientId, clientSecret, userIdentifierValue, jwtKeyId and privateKey", False)}
    return {}


def _secrets_errors(secrets: ServiceNowSecrets, oauth: bool) -> dict[str, str]:
    """validateCommonSecrets: some credentials, and each pair whole."""
    username, password, client_secret, private_key = (
        secrets.username, secrets.password, secrets.clientSecret, secrets.privateKey)
    if not (username or password or client_secret or private_key):
        key = "secrets.clientSecret" if oauth else "secrets.username"
        return {key: "Either basic auth or OAuth credentials must be specified"}
    if username or password:
        if not (username and password):
            key = "secrets.password" if username else "secrets.username"
            return {key: "username and password must both be specified"}
    elif not (client_secret and private_key):
        key = "secrets.privateKey" if client_secret else "secrets.clientSecret"
        return {key: "clientSecret and privateKey must both be specified"}
    return {}
