"""Amazon Bedrock: Kibana's error texts, token usage, and event-stream decoding."""

from __future__ import annotations

import base64
import json
from typing import Any

from app.outbound import OutboundResponse
from app.types.bedrock.schemas import ENDPOINT_HINT, NOT_RECOGNIZED
from app.types.kit import Result, TokenUsage
from app.types.kit.http import json_or_none, status_failed


class StreamError(Exception):
    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message


def text_of(blocks: Any) -> str:
    if not isinstance(blocks, list):
        return "" if blocks is None else str(blocks)
    return "\n".join(b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str))


def error_text(response: OutboundResponse) -> str:
    """Kibana's getResponseErrorMessage for Bedrock (the kit wraps it in `Status code: …`)."""
    body = json_or_none(response)
    message = None
    if isinstance(body, dict):
        found = body.get("message", body.get("Message"))
        message = found if isinstance(found, str) and found else None
    status = response.status_code
    if status == 400 and message and NOT_RECOGNIZED in message:
        return f"API Error: {message}\n\n{ENDPOINT_HINT}"
    if status == 401:
        return "Unauthorized API Error" + (f": {message}" if message else "")
    return f"API Error: {response.reason}" + (f" - {message}" if message else "")


def http_error(response: OutboundResponse) -> Result:
    return status_failed(response.status_code, error_text(response))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _usage(prompt: Any, completion: Any, total: Any = None) -> TokenUsage:
    p, c = _int(prompt), _int(completion)
    return TokenUsage(prompt_tokens=p, completion_tokens=c, total_tokens=_int(total) or p + c)


def anthropic_usage(data: dict, response: OutboundResponse) -> TokenUsage:
    """`usage.input_tokens/output_tokens`, else Bedrock's token-count response headers."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    if "input_tokens" in usage or "output_tokens" in usage:
        return _usage(usage.get("input_tokens"), usage.get("output_tokens"))
    counts = [response.headers.get(f"X-Amzn-Bedrock-{kind}-Token-Count", "") for kind in ("Input", "Output")]
    return _usage(*(int(c) if c.isdigit() else 0 for c in counts))


def converse_usage(usage: Any) -> TokenUsage:
    usage = usage if isinstance(usage, dict) else {}
    return _usage(usage.get("inputTokens"), usage.get("outputTokens"), usage.get("totalTokens"))


def frame_event(frame) -> tuple[str, dict]:
    """(event type, JSON payload) of one event-stream frame; raises StreamError for exception frames."""
    headers = frame.headers
    kind = headers.get(":message-type")
    if kind == "exception":
        try:
            message = json.loads(frame.payload).get("message", "")
        except (ValueError, AttributeError):
            message = frame.payload.decode("utf-8", errors="replace")
        raise StreamError(headers.get(":exception-type", "exception"), message)
    if kind == "error":
        raise StreamError(headers.get(":error-code", "error"), headers.get(":error-message", ""))
    event = headers.get(":event-type", "")
    payload = json.loads(frame.payload or b"{}")
    if event == "chunk":
        payload = json.loads(base64.b64decode(payload["bytes"]))
    return event, payload


class StreamState:
    """What a stream has said so far: text, stop reason, token counts, and whether it finished."""

    def __init__(self, converse: bool):
        self.converse = converse
        self.parts: list[str] = []
        self.stop_reason: str | None = None
        self.input_tokens = self.output_tokens = self.total_tokens = 0
        self.finished = False

    def take(self, event: str, payload: dict) -> str | None:
        """Apply one event; return its text delta, if any."""
        return self._converse(event, payload) if self.converse else self._invoke(payload)

    def _invoke(self, p: dict) -> str | None:
        kind = p.get("type")
        text = None
        if kind == "message_start":
            usage = (p.get("message") or {}).get("usage") or {}
            self.input_tokens = _int(usage.get("input_tokens")) or self.input_tokens
            self.output_tokens = _int(usage.get("output_tokens")) or self.output_tokens
        elif kind == "content_block_delta":
            delta = p.get("delta") or {}
            text = delta.get("text") if delta.get("type") == "text_delta" else None
        elif kind == "message_delta":
            self.stop_reason = (p.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.output_tokens = _int((p.get("usage") or {}).get("output_tokens")) or self.output_tokens
        elif kind is None:  # non-Anthropic models: Titan `outputText`, Llama `generation`, Claude 2 `completion`
            text = next((p[k] for k in ("outputText", "generation", "completion") if isinstance(p.get(k), str)), None)
            self.stop_reason = p.get("completionReason") or p.get("stop_reason") or self.stop_reason
        metrics = p.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, dict):
            self.input_tokens = _int(metrics.get("inputTokenCount")) or self.input_tokens
            self.output_tokens = _int(metrics.get("outputTokenCount")) or self.output_tokens
            self.finished = True
        if kind == "message_stop":
            self.finished = True
        if text:
            self.parts.append(text)
        return text or None

    def _converse(self, event: str, p: dict) -> str | None:
        if event == "contentBlockDelta":
            text = (p.get("delta") or {}).get("text")
            if isinstance(text, str) and text:
                self.parts.append(text)
                return text
        elif event == "messageStop":
            self.stop_reason = p.get("stopReason")
        elif event == "metadata":
            u = converse_usage(p.get("usage"))
            self.input_tokens, self.output_tokens, self.total_tokens = (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
            )
            self.finished = True
        return None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def usage(self) -> TokenUsage:
        return _usage(self.input_tokens, self.output_tokens, self.total_tokens)

    def data(self) -> dict:
        if self.converse:
            u = self.usage()
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": self.text}]}},
                "stopReason": self.stop_reason,
                "usage": {"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens, "totalTokens": u.total_tokens},
            }
        usage = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return {"message": self.text, "stop_reason": self.stop_reason, "usage": usage}
