"""Amazon Bedrock: region, model path, hosts, SigV4 signing, and the request bodies each sub-action sends."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

from app.types.bedrock.responses import text_of
from app.types.bedrock.schemas import (
    ANTHROPIC_VERSION,
    DEFAULT_REGION,
    DEFAULT_TOKEN_LIMIT,
    EVENT_STREAM,
    REGION_PATTERN,
    BedrockConfig,
    BedrockMessage,
    BedrockSecrets,
    ConverseParams,
    InvokeAIParams,
    InvokeAIRawParams,
)


def region_of(config: BedrockConfig) -> str:
    """The explicit region, else the one in an `*.amazonaws.com` host, else us-east-1."""
    if config.region:
        return config.region
    host = (urlsplit(config.apiUrl).hostname or "").lower()
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        for label in host.split("."):
            if REGION_PATTERN.match(label):
                return label
    return DEFAULT_REGION


def encode_model(model: str) -> str:
    """Model ids and ARNs as one path segment; decoding first keeps an encoded id from double encoding."""
    return quote(unquote(model), safe="")


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


_RUNTIME_LABELS = {"bedrock-runtime": "bedrock", "bedrock-runtime-fips": "bedrock-fips"}
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn")


def control_url(api_url: str) -> str:
    """The control plane's base URL (ListFoundationModels…) for a runtime URL.

    AWS serves the two APIs from different hosts: `bedrock-runtime.<region>` answers invocations only,
    `bedrock.<region>` the listings. Any other host (a gateway, a proxy, a fake) is taken to serve both,
    so its scheme, host, port and path prefix are kept.
    """
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    label, _, rest = host.partition(".")
    if label in _RUNTIME_LABELS and rest.endswith(_AWS_DOMAINS):
        netloc = f"{_RUNTIME_LABELS[label]}.{rest}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    return api_url.rstrip("/")


def query_string(params: dict[str, str]) -> str:
    """SigV4's encoding (RFC 3986, `%20` not `+`): botocore signs the query exactly as it is sent."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))


def sign(config: BedrockConfig, secrets: BedrockSecrets, path: str, body: bytes, *, stream: bool) -> tuple[str, dict]:
    """The URL and SigV4-signed headers (Host included) for a POST of `body` to `path` on the runtime."""
    url = config.apiUrl.rstrip("/") + path
    if stream:
        headers = {"Accept": EVENT_STREAM, "Content-Type": "application/json", "X-Amzn-Bedrock-Accept": "*/*"}
    else:
        headers = {"Content-Type": "application/json", "Accept": "*/*"}
    return url, _signed(config, secrets, "POST", url, body, headers)


def sign_get(config: BedrockConfig, secrets: BedrockSecrets, path: str, query: dict[str, str]) -> tuple[str, dict]:
    """The URL and SigV4-signed headers for a GET of `path?query` on the control plane (`control_url`)."""
    url = control_url(config.apiUrl) + path + (f"?{query_string(query)}" if query else "")
    return url, _signed(config, secrets, "GET", url, b"", {"Accept": "application/json"})


def _signed(config: BedrockConfig, secrets: BedrockSecrets, method: str, url: str, body: bytes, headers: dict) -> dict:
    # Imported here: botocore costs every worker ~5 MB, and only Bedrock runs use it.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    # Both planes sign as `bedrock` (not `bedrock-runtime`), scoped to the connector's region.
    headers = {**headers, "Host": _host(url)}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(secrets.accessKey, secrets.secret), "bedrock", region_of(config)).add_auth(request)
    return dict(request.headers.items())


def drop_none(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def ensure_message_format(messages: list[BedrockMessage], system: str | None) -> tuple[list[dict], str]:
    """Kibana's rules: system messages join `system`; roles become user/assistant; same-role runs merge."""
    system_text = system or ""
    out: list[dict] = []
    for m in messages:
        if m.role == "system":
            text = m.content if m.content is not None else text_of(m.rawContent)
            system_text = f"{system_text}\n{text}" if system_text else text
            continue
        role = "assistant" if m.role in ("assistant", "ai") else "user"
        if m.rawContent is not None:
            out.append({"role": role, "content": m.rawContent})
            continue
        last = out[-1] if out else None
        if last and last["role"] == role and isinstance(last["content"], str):
            last["content"] = f"{last['content']}\n{m.content}"
            continue
        out.append({"role": role, "content": m.content})
    return out, system_text


def anthropic_body(p: InvokeAIParams, config: BedrockConfig) -> dict:
    messages, system = ensure_message_format(p.messages, p.system)
    temperature = p.temperature if p.temperature is not None else config.temperature
    return drop_none(
        {
            "anthropic_version": p.anthropicVersion or ANTHROPIC_VERSION,
            "messages": messages,
            "system": system or None,
            "max_tokens": p.maxTokens or DEFAULT_TOKEN_LIMIT,
            "stop_sequences": p.stopSequences,
            "temperature": temperature if temperature is not None else 0,
            "tools": [t.model_dump() for t in p.tools] if p.tools else None,
            "tool_choice": p.toolChoice.model_dump(exclude_none=True) if p.toolChoice else None,
        }
    )


def raw_anthropic_body(p: InvokeAIRawParams) -> dict:
    return drop_none(
        {
            "messages": [m.model_dump() for m in p.messages],
            "stop_sequences": p.stopSequences,
            "system": p.system,
            "temperature": p.temperature,
            "max_tokens": p.maxTokens or DEFAULT_TOKEN_LIMIT,
            "tools": [t.model_dump() for t in p.tools] if p.tools else None,
            "tool_choice": p.toolChoice.model_dump(exclude_none=True) if p.toolChoice else None,
            "anthropic_version": p.anthropicVersion or ANTHROPIC_VERSION,
        }
    )


def converse_body(p: ConverseParams, config: BedrockConfig, model: str) -> dict:
    temperature = p.temperature if p.temperature is not None else config.temperature
    inference = drop_none({"temperature": temperature, "stopSequences": p.stopSequences, "maxTokens": p.maxTokens})
    tool_config = drop_none({"tools": p.tools, "toolChoice": p.toolChoice}) if p.tools else None
    return drop_none(
        {"messages": p.messages, "inferenceConfig": inference, "toolConfig": tool_config, "system": p.system, "modelId": model}
    )
