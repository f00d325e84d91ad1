"""How deeply a JSON text nests, found without parsing it: checked before anything parses JSON that a
person or a service sent (API bodies, form fields, service answers), because every parser and walker here
recurses once per level."""

from __future__ import annotations

import re

# Real payloads nest a handful of levels (a Bedrock message's content blocks, Slack's Block Kit, PagerDuty's
# custom details: under 10). Every JSON value here is later walked by recursive code (json itself, jsonify,
# the masker's `deep`, the pretty-printer, pydantic), each taking one or more stack frames per level against
# Python's limit of 1,000; 64 levels leaves ample room for any real payload and a wide margin below that limit.
MAX_JSON_DEPTH = 64
# A whole string, a bracket, or a quote that opens a string never closed (then the rest is inside it). Each
# string is matched once from its opening quote, so the scan is linear even on thousands of unpaired quotes.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.S)


def json_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply `text` nests arrays and objects (brackets inside strings do not count), without parsing
    it and without recursion; counting stops once past `limit`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char[0] == '"':
            if len(char) == 1:  # an unterminated string: no bracket after it counts
                break
            continue
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth = max(depth - 1, 0)
    return deepest


def json_too_deep(text: str | bytes) -> str | None:
    """Why `text` is refused before it is parsed, or None."""
    brackets = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    if text.count(brackets[0]) + text.count(brackets[1]) <= MAX_JSON_DEPTH:
        return None  # too few brackets to nest that deep, wherever they are: no scan (every API body comes here)
    if json_depth(text) > MAX_JSON_DEPTH:
        return (f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused: no connector needs that many, "
                "and deeper values would exhaust the server's stack.")
    return None
