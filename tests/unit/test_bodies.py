"""The request parser never raises: a body that does not parse is a Malformed marker."""

from __future__ import annotations

from armonik.protogen.common import sessions_common_pb2 as pb

from pyarmonik.protocol import bodies

parse = bodies.tolerant(pb.GetSessionRequest.FromString)


def test_a_valid_body_parses() -> None:
    assert parse(pb.GetSessionRequest(session_id="s").SerializeToString()).session_id == "s"


def test_corrupt_bytes_and_invalid_utf8_are_malformed_with_the_reason() -> None:
    corrupt, bad_utf8 = parse(b"\xff\xff\xff"), parse(b"\x0a\x03a\xffc")

    assert isinstance(corrupt, bodies.Malformed) and isinstance(bad_utf8, bodies.Malformed)
    assert "UTF-8" in bodies.refusal("/s/GetSession", bad_utf8).message


def test_without_a_parser_the_body_is_kept_as_bytes() -> None:
    assert bodies.tolerant(None)(b"\xff") == b"\xff"
