"""AWS event-stream framing (``application/vnd.amazon.eventstream``) for the Lambda
emulator's ``InvokeWithResponseStream`` answers: prelude (total length, headers length,
CRC32 of both), string headers, payload, CRC32 of everything before it."""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return out


def message(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def payload_chunk(data: bytes) -> bytes:
    return message({":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                    ":message-type": "event"}, data)


def invoke_complete(error_code: str | None = None, error_details: str | None = None) -> bytes:
    body: dict[str, str] = {"LogResult": ""}
    if error_code:
        body.update(ErrorCode=error_code, ErrorDetails=error_details or "")
    return message({":event-type": "InvokeComplete", ":content-type": "application/json",
                    ":message-type": "event"}, json.dumps(body).encode())
