"""The Elasticsearch cluster of the `[elasticsearch]` settings, as a run sees it (`ctx.elasticsearch`).

Kibana's `.index` writes with Kibana's own cluster client; Switchboard's operator names a cluster in the
config file instead. The run gets its hosts and credentials bound to an HTTP client that obeys the
outbound policy and this section's TLS settings, and records into the run's trace like `ctx.http`
(the credentials are masked there). `None` when the section is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.outbound import BoundHttp, OutboundError, OutboundResponse

NOT_CONFIGURED = (
    "Elasticsearch is not configured: add an [elasticsearch] section (hosts and credentials) to Switchboard's "
    "config file"
)
# Kinds of OutboundError after which the next host is tried: the request never reached this one.
UNREACHED = frozenset({"connection_refused", "connect_timeout", "connection_failed"})


@dataclass
class Elasticsearch:
    hosts: tuple[str, ...]
    http: BoundHttp
    headers: Mapping[str, str] = field(default_factory=dict)  # Authorization, when the section has credentials

    def request(self, method: str, path: str, *, data: bytes | str | None = None,
                content_type: str = "application/json", params: str = "") -> OutboundResponse:
        """Send to the first host that answers, in the configured order; raises the last OutboundError."""
        headers = {**self.headers, "Content-Type": content_type, "Accept": "application/json"}
        error: OutboundError | None = None
        for host in self.hosts:
            url = f"{host}{path}" + (f"?{params}" if params else "")
            try:
                return self.http.request(method, url, headers=headers, data=data, secret_headers=("authorization",))
            except OutboundError as exc:
                if exc.code not in UNREACHED:
                    raise
                error = exc
        assert error is not None  # hosts is never empty (the settings require one)
        raise error
