"""The `[elasticsearch]` cluster for the runs of types that write to it (`.index`)."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from flask import current_app

from app.outbound import BoundHttp, OutboundClient, Trace
from app.services import outbound_settings
from app.services.preconfigured import MissingEnvironment, resolve_secret
from app.settings import ElasticsearchSettings, TLSSettings
from app.types.kit import Elasticsearch

_CLIENT = "switchboard.elasticsearch"


def settings() -> ElasticsearchSettings | None:
    return current_app.config["SWITCHBOARD"].elasticsearch


def _client(es: ElasticsearchSettings) -> OutboundClient:
    """One client per app: the outbound policy with this section's TLS, and its hosts as the only allowed ones."""
    client = current_app.extensions.get(_CLIENT)
    if client is None:
        hosts = tuple(sorted({urlsplit(h).hostname or "" for h in es.hosts}))
        policy = outbound_settings().model_copy(update={
            "allowed_hosts": hosts,
            "tls": TLSSettings(verification_mode=es.verification_mode, ca_files=es.ca_files),
            "max_redirects": 0,  # a cluster that redirects is not one to send documents on to
        })
        client = current_app.extensions.setdefault(_CLIENT, OutboundClient(policy))
    return client


def access(trace: Trace) -> Elasticsearch | None:
    """The cluster bound to this run's trace, its credentials masked there; None when not configured.

    Raises MissingEnvironment when a credential names a variable that is not set.
    """
    es = settings()
    if es is None:
        return None
    headers: dict[str, str] = {}
    if es.api_key is not None:
        key = resolve_secret(es.api_key)
        trace.masker.add(key)
        headers["Authorization"] = f"ApiKey {key}"
    elif es.username is not None and es.password is not None:
        password = resolve_secret(es.password)
        trace.masker.add(password)
        trace.masker.add_basic(es.username, password)
        headers["Authorization"] = "Basic " + base64.b64encode(f"{es.username}:{password}".encode()).decode()
    return Elasticsearch(es.hosts, BoundHttp(_client(es), trace), headers)


__all__ = ["MissingEnvironment", "access", "settings"]
