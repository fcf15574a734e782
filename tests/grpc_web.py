"""A small gRPC-Web client for tests, on httpx (HTTP/1.1, or HTTP/2 with
``http2=True``), written from the protocol's text (grpc/grpc PROTOCOL-WEB.md)
rather than from ``pyarmonik.protocol.web.frames``, so that each checks
the other. The Node tests (``tests/web``) check both against the real
``grpc-web`` client.
"""

from __future__ import annotations

import base64
import contextlib
import struct
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf.message import Message

BINARY = "application/grpc-web+proto"
TEXT = "application/grpc-web-text"


def encode_request(messages: list[bytes], content_type: str = BINARY) -> bytes:
    body = b"".join(struct.pack(">BI", 0, len(m)) + m for m in messages)
    return base64.b64encode(body) if content_type == TEXT else body


@dataclass
class Frames:
    """What a body held: message frames, then the trailers (``None`` when no trailer frame came)."""

    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] | None = None


class Decoder:
    """Frames from the bytes of a response as they arrive (base64 per frame in text mode)."""

    def __init__(self, content_type: str) -> None:
        self.text = content_type.startswith(TEXT)
        self._raw = b""
        self._pending = b""
        self.frames = Frames()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by ``data``."""
        if self.text:
            self._pending += data
            usable = len(self._pending) - len(self._pending) % 4
            chunk, self._pending = self._pending[:usable], self._pending[usable:]
            # Each frame is padded on its own: decode 4 characters at a time.
            self._raw += b"".join(base64.b64decode(chunk[i : i + 4]) for i in range(0, len(chunk), 4))
        else:
            self._raw += data
        found = []
        while len(self._raw) >= 5:
            flag, length = struct.unpack(">BI", self._raw[:5])
            if len(self._raw) < 5 + length:
                break
            payload, self._raw = self._raw[5 : 5 + length], self._raw[5 + length :]
            if flag & 0x80:
                lines = payload.decode().split("\r\n")
                self.frames.trailers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)
                }
            else:
                found.append(payload)
                self.frames.messages.append(payload)
        return found


@dataclass
class Answer:
    http_status: int
    headers: httpx.Headers
    frames: Frames
    http_version: str

    @property
    def trailers_only(self) -> bool:
        return "grpc-status" in self.headers

    @property
    def status_fields(self) -> dict[str, str]:
        if self.trailers_only:
            return {k: v for k, v in self.headers.items() if k.startswith("grpc-")}
        assert self.frames.trailers is not None, "no trailer frame and no status in the headers"
        return self.frames.trailers

    @property
    def code(self) -> grpc.StatusCode:
        number = int(self.status_fields["grpc-status"])
        return next(c for c in grpc.StatusCode if c.value[0] == number)

    @property
    def details(self) -> str:
        return urllib.parse.unquote(self.status_fields.get("grpc-message", ""))

    def messages(self, kind: type[Any]) -> list[Any]:
        return [kind.FromString(m) for m in self.frames.messages]


def headers_for(content_type: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"content-type": content_type, "x-grpc-web": "1", "x-user-agent": "grpc-web-javascript/0.1", **(extra or {})}


def call(
    client: httpx.Client,
    base: str,
    method: str,
    request: Message | bytes | None,
    *,
    content_type: str = BINARY,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Answer:
    """One whole call: ``method`` is ``/package.Service/Method``."""
    if body is None:
        raw = request if isinstance(request, bytes) else request.SerializeToString() if request is not None else b""
        body = encode_request([raw], content_type)
    response = client.post(base + method, content=body, headers=headers_for(content_type, headers))
    decoder = Decoder(response.headers.get("content-type", content_type))
    decoder.feed(response.content)
    return Answer(response.status_code, response.headers, decoder.frames, response.http_version)


@contextlib.contextmanager
def stream(
    client: httpx.Client,
    base: str,
    method: str,
    request: Message,
    *,
    content_type: str = BINARY,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[httpx.Response, Iterator[bytes], Decoder]]:
    """A streamed call: (response, its messages as they arrive, the decoder
    that keeps what came); leaving the block closes the connection's stream."""
    body = encode_request([request.SerializeToString()], content_type)
    with client.stream("POST", base + method, content=body, headers=headers_for(content_type, headers)) as response:
        decoder = Decoder(response.headers.get("content-type", content_type))

        def messages() -> Iterator[bytes]:
            for chunk in response.iter_raw():
                yield from decoder.feed(chunk)

        yield response, messages(), decoder
