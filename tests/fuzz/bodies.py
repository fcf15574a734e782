"""Request bodies that are not valid protobuf, for any request type: bytes
the server must refuse as INVALID_ARGUMENT before any handler sees them.

Drawn from a valid request's bytes (so the rest of the body looks right):
cut short, a string field holding invalid UTF-8, a field of an impossible
wire type, a length prefix past the end, an over-long varint, or random
bytes. ``malformed(body, descriptor)`` checks that a body really fails
to parse (random bytes may happen to be a valid message).
"""

from __future__ import annotations

from google.protobuf import message, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from tests.fuzz import rpcs

_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\xe2\x82", b"\xf8\x88\x80\x80\x80")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes = b"") -> bytes:
    return _varint(number << 3 | wire_type) + payload


def _string_numbers(descriptor: Descriptor) -> list[int]:
    return [f.number for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING] or [1]


def malformed(body: bytes, descriptor: Descriptor) -> bool:
    try:
        message_factory.GetMessageClass(descriptor).FromString(body)
    except message.DecodeError:
        return True
    return False


def bodies(descriptor: Descriptor, valid: bytes) -> st.SearchStrategy[bytes]:
    """Bodies that do not parse as ``descriptor`` (most of them: random
    bytes are filtered by the caller with ``malformed``)."""
    strings = st.sampled_from(_string_numbers(descriptor))
    bad_utf8 = st.builds(
        lambda number, bad, at: valid[:at] + _field(number, 2, _varint(len(bad)) + bad) + valid[at:],
        strings,
        st.sampled_from(_BAD_UTF8),
        st.sampled_from([0, len(valid)]),
    )
    cut = st.integers(0, max(len(valid) - 1, 0)).map(lambda n: valid[:n] + _field(1, 2, _varint(100)))
    wire_type = st.integers(1, 2**20).map(lambda number: valid + _field(number, 7))
    past_end = st.integers(1, 2**20).map(lambda number: _field(number, 2, _varint(2**31)) + b"x")
    long_varint = st.just(_field(1, 0, b"\xff" * 11))
    return st.one_of(bad_utf8, cut, wire_type, past_end, long_varint, st.binary(min_size=1, max_size=64))


def refused(rpc: rpcs.Rpc, outcome: rpcs.Outcome) -> bool:
    """Whether a call whose first body does not parse was refused for it:
    INVALID_ARGUMENT (a client stream the grid does not implement is
    UNIMPLEMENTED before any message is read)."""
    if outcome.code.name == "UNIMPLEMENTED":
        return rpc.method.client_streaming
    return outcome.code.name == "INVALID_ARGUMENT"
