"""The gRPC-Web wire format, both ways (grpc/grpc PROTOCOL-WEB.md).

A body is a sequence of frames: one flag byte, a 4-byte big-endian length,
then the bytes. Flag 0x00 carries a message; 0x80 the trailers, written as
an HTTP/1 header block (``grpc-status: 0\\r\\n...``), last in a response.
In text mode (``application/grpc-web-text``, what the ``grpc-web`` npm
client sends by default) a body is base64: a response encodes each frame on
its own (padding included), so that a browser decodes every frame as it
arrives; a request may likewise be several padded pieces back to back.
"""

from __future__ import annotations

import base64
import binascii
import enum
import struct
import urllib.parse
from collections.abc import Iterable, Sequence

import grpc

MESSAGE = 0x00
COMPRESSED = 0x01
TRAILERS = 0x80
_HEADER = struct.Struct(">BI")


class Mode(enum.Enum):
    BINARY = "application/grpc-web+proto"
    TEXT = "application/grpc-web-text+proto"


def mode_of(content_type: str) -> Mode | None:
    """The mode of a request's content type, ``None`` when it is not gRPC-Web
    (``application/grpc-web``, ``-text``, each with ``+proto`` or not)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("application/grpc-web-text", "application/grpc-web-text+proto"):
        return Mode.TEXT
    if kind in ("application/grpc-web", "application/grpc-web+proto"):
        return Mode.BINARY
    return None


class FrameError(ValueError):
    """A request body that is not a sequence of gRPC-Web message frames."""


def frame(payload: bytes, flag: int = MESSAGE) -> bytes:
    return _HEADER.pack(flag, len(payload)) + payload


def encoded(data: bytes, mode: Mode) -> bytes:
    """Bytes of one or more whole frames as they go on the wire in ``mode``."""
    return base64.b64encode(data) if mode is Mode.TEXT else data


def _b64decode(text: bytes) -> bytes:
    """Base64 made of padded pieces back to back (``AA==AAA=``), whitespace ignored."""
    text = b"".join(text.split())
    pieces, start = [], 0
    while start < len(text):
        end = text.find(b"=", start)
        if end < 0:
            end = len(text)
        while end < len(text) and text[end] == ord("="):
            end += 1
        pieces.append(base64.b64decode(text[start:end], validate=True))
        start = end
    return b"".join(pieces)


def messages(body: bytes, mode: Mode) -> list[bytes]:
    """The messages of a request body; ``FrameError`` saying what is wrong."""
    if mode is Mode.TEXT:
        try:
            body = _b64decode(body)
        except (binascii.Error, ValueError) as exc:
            raise FrameError(f"the body of a {Mode.TEXT.value} request is not base64: {exc}") from None
    found, offset = [], 0
    while offset < len(body):
        if len(body) - offset < _HEADER.size:
            raise FrameError(f"a frame header is cut after {len(body) - offset} bytes")
        flag, length = _HEADER.unpack_from(body, offset)
        offset += _HEADER.size
        if flag & COMPRESSED:
            raise FrameError("compressed messages are not supported: send them uncompressed (grpc-encoding identity)")
        if flag != MESSAGE:
            raise FrameError(f"a request frame has flag {flag:#04x}; requests carry messages only (0x00)")
        if len(body) - offset < length:
            raise FrameError(f"a message of {length} bytes is cut after {len(body) - offset} bytes")
        found.append(body[offset : offset + length])
        offset += length
    return found


#: What grpc-message keeps as is (gRPC's spec: printable ASCII but '%').
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def status_headers(code: grpc.StatusCode, details: str) -> list[tuple[str, str]]:
    """``grpc-status`` and ``grpc-message`` (percent-encoded, as gRPC's spec says)."""
    return [("grpc-status", str(code.value[0])), ("grpc-message", urllib.parse.quote(details, safe=_SAFE))]


def metadata_headers(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """Metadata as header lines: ``-bin`` values base64, the others as they are."""
    lines = []
    for key, value in metadata:
        if key.endswith("-bin"):
            raw = value if isinstance(value, bytes) else value.encode()
            lines.append((key, base64.b64encode(raw).decode()))
        else:
            lines.append((key, value.decode() if isinstance(value, bytes) else value))
    return lines


def trailers(headers: Sequence[tuple[str, str]]) -> bytes:
    """The trailer frame carrying ``headers``."""
    return frame("".join(f"{key}: {value}\r\n" for key, value in headers).encode(), TRAILERS)
