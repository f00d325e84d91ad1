"""The context a handler receives: typed by the type's own config, secrets and params classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from app.outbound import BoundHttp
from app.types.kit.schema import Schema

if TYPE_CHECKING:
    from app.types.kit.elasticsearch import Elasticsearch
    from app.types.kit.tokens import TokenStore

C = TypeVar("C", bound=Schema)
S = TypeVar("S", bound=Schema)
P = TypeVar("P", bound=Schema)


@dataclass
class Context(Generic[C, S, P]):
    """Everything a handler may use. Secrets are decrypted only into this object.

    `params` is the sub-action's own params for sub-action types. `http` records every exchange into
    the run's trace (the test pane, the event log's HTTP status); `tokens` caches this connector's
    OAuth2/JWT access tokens for every worker and host; `elasticsearch` is the `[elasticsearch]` cluster
    (None when the config file names none).
    """

    connector_id: str
    connector_name: str
    config: C
    secrets: S
    params: P
    http: BoundHttp
    tokens: TokenStore
    sub_action: str | None = None
    elasticsearch: Elasticsearch | None = None

    def mask(self, *values: str) -> None:
        """Keep secrets the run learns from a service (a webhook's secret path) out of everything it shows."""
        for value in values:
            self.http.trace.masker.add(value)
