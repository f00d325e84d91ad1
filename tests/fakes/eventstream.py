"""AWS event-stream frames (application/vnd.amazon.eventstream), encoded for fakes.

botocore only decodes this format (`botocore.eventstream.EventStreamBuffer`); this is the other half.
Frame: prelude (total length u32, headers length u32, CRC32 of those 8 bytes), headers, payload,
CRC32 of everything before it. Header: name length u8, name, type u8 (7 = string), value length u16, value.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + struct.pack("!BH", _STRING, len(v)) + v


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def event_frame(event_type: str, body: dict) -> bytes:
    """A plain JSON event, as ConverseStream sends (`contentBlockDelta`, `metadata`, …)."""
    return encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode(),
    )


def chunk_frame(inner: dict) -> bytes:
    """An InvokeModelWithResponseStream `chunk` event: the model's own JSON event, base64 in `bytes`."""
    payload = {"bytes": base64.b64encode(json.dumps(inner).encode()).decode(), "p": "abcdefghijklmnop"}
    return event_frame("chunk", payload)


def exception_frame(kind: str, message: str) -> bytes:
    """A mid-stream modelled exception, e.g. `throttlingException`, `modelStreamErrorException`."""
    return encode_frame(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )
