"""The gRPC-Web wire format (pyarmonik.protocol.web.frames), against the
protocol's text: the integration tests check it against real clients."""

from __future__ import annotations

import base64
import urllib.parse

import grpc
import pytest

from pyarmonik.protocol.web import frames


def test_a_message_frame_is_a_flag_a_big_endian_length_and_the_bytes() -> None:
    assert frames.frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert frames.frame(b"", frames.TRAILERS) == b"\x80\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("content_type", "mode"),
    [
        ("application/grpc-web", frames.Mode.BINARY),
        ("application/grpc-web+proto", frames.Mode.BINARY),
        ("application/grpc-web-text", frames.Mode.TEXT),
        ("Application/GRPC-Web-Text+proto; charset=utf-8", frames.Mode.TEXT),
        ("application/grpc", None),
        ("text/html", None),
    ],
)
def test_the_mode_comes_from_the_content_type(content_type: str, mode: frames.Mode | None) -> None:
    assert frames.mode_of(content_type) is mode


def test_a_binary_body_gives_its_messages_in_order() -> None:
    body = frames.frame(b"one") + frames.frame(b"") + frames.frame(b"three")

    assert frames.messages(body, frames.Mode.BINARY) == [b"one", b"", b"three"]


def test_a_text_body_may_be_padded_pieces_back_to_back() -> None:
    first = base64.b64encode(frames.frame(b"ab"))
    body = first + base64.b64encode(frames.frame(b"cd")) + b"\n"

    assert first.endswith(b"==")  # padding in the middle of the body
    assert frames.messages(body, frames.Mode.TEXT) == [b"ab", b"cd"]


def test_the_trailer_frame_is_an_http1_header_block() -> None:
    trailer = frames.trailers(frames.status_headers(grpc.StatusCode.NOT_FOUND, "session s not found"))

    assert trailer[0] == 0x80
    assert trailer[5:] == b"grpc-status: 5\r\ngrpc-message: session s not found\r\n"


def test_a_status_message_is_percent_encoded_beyond_printable_ascii() -> None:
    message = "ré 100% ✓\nnext"
    [_, (_, encoded)] = frames.status_headers(grpc.StatusCode.INTERNAL, message)

    assert encoded.isascii() and "\n" not in encoded and " " in encoded
    assert urllib.parse.unquote(encoded) == message


def test_binary_metadata_is_base64_and_text_metadata_as_it_is() -> None:
    assert frames.metadata_headers([("x-a", "1"), ("x-b-bin", b"\x00\xff")]) == [("x-a", "1"), ("x-b-bin", "AP8=")]


def test_a_text_body_is_encoded_frame_by_frame() -> None:
    assert frames.encoded(frames.frame(b"a"), frames.Mode.TEXT) == base64.b64encode(frames.frame(b"a"))
    assert frames.encoded(b"raw", frames.Mode.BINARY) == b"raw"
