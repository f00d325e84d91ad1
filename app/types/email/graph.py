"""Exchange mail: Microsoft Graph's `POST /users/{from}/sendMail` with an app token (OAuth2 client
credentials), as Kibana's sendEmailWithExchange. The token is cached for every worker; a 401 drops it,
and the mail is tried once more with a fresh one."""

from __future__ import annotations

import json
from urllib.parse import quote

from app.settings import EmailSettings
from app.types.kit import Context, OutboundError, OutboundResponse, Result, http
from app.types.kit.tokens import TokenError, authorization, client_credentials_token

SENDING = "error sending email"
TOKEN_KIND = "oauth2"


def token_url(config, settings: EmailSettings) -> str:
    return config.oauthTokenUrl or f"{settings.exchange_url.rstrip('/')}/{config.tenantId}/oauth2/v2.0/token"


def graph_message(subject: str, html: str, to: list[str], cc: list[str], bcc: list[str]) -> dict:
    def recipients(addresses: list[str]) -> list[dict]:
        return [{"emailAddress": {"address": address}} for address in addresses]

    return {
        "message": {
            "subject": subject,
            "body": {"contentType": "HTML", "content": html},
            "toRecipients": recipients(to),
            "ccRecipients": recipients(cc),
            "bccRecipients": recipients(bcc),
        }
    }


def send_with_graph(ctx: Context, settings: EmailSettings, body: dict) -> Result:
    config = ctx.config
    sender = getattr(config, "from")
    url = f"{settings.graph_api_url.rstrip('/')}/users/{quote(sender, safe='@')}/sendMail"
    payload = json.dumps(body)
    response = None
    for attempt in range(2):  # a token the service no longer takes is fetched again once
        try:
            token = client_credentials_token(
                ctx.http, ctx.tokens, token_url=token_url(config, settings), client_id=config.clientId or "",
                client_secret=ctx.secrets.clientSecret or "", scope=settings.graph_api_scope, kind=TOKEN_KIND,
            )
        except TokenError as exc:
            return Result.error(
                SENDING, f"Unable to retrieve access token for connectorId: {ctx.connector_id}: {exc}", retry=exc.retry
            )
        try:
            response = ctx.http.request(
                "POST", url, data=payload,
                headers={"Content-Type": "application/json", "Authorization": authorization(token)},
            )
        except OutboundError as exc:
            return Result.error(SENDING, exc.message, retry=http.is_retryable(exc))
        if response.status_code != 401 or attempt:
            break
        ctx.tokens.drop(TOKEN_KIND)  # Kibana's interceptor: a refused token is forgotten by every worker
    return _answer(response)


def _answer(response: OutboundResponse) -> Result:
    # Kibana's success is exactly 202 Accepted; anything else fails with the body as its service message.
    if response.status_code == 202:
        return Result.ok(None)
    body = http.json_or_none(response)
    text = json.dumps(body, separators=(",", ":")) if body is not None else response.text.strip()
    if response.status_code == 429:
        retry: bool | str = http.retry_at(response.headers.get("Retry-After")) or True
    else:
        retry = response.status_code >= 500
    return Result.error(SENDING, text, retry=retry)
