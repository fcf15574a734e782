"""Hypothesis strategies for any protobuf message, read from its Descriptor.

``messages(descriptor)`` draws random messages of a request type: every
field may be set or not, strings range from empty to ~64 KiB of unicode,
integers cover their type's extremes, enums carry unknown numbers (proto3
enums are open), at most one member of each oneof is set, and well-known
Timestamps/Durations get values far outside their valid range. Nesting is
cut at ``MAX_DEPTH`` (deep enough for a filter's value condition).

``mutated(message, ids)`` changes ONE field of a valid message (set, clear,
replace by a random value or a real id of the wrong kind, add or drop a
repeated element), so that requests get past the first checks and reach
the code behind them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 7
MAX_REPEATED = 4
HUGE = 64 * 1024

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}

#: Valid protobuf strings are UTF-8: no lone surrogates (the client could not even send them).
_CHARS = st.characters(exclude_categories=("Cs",))
_SPECIAL_TEXT = st.sampled_from(["", " ", "\x00", "a\x00b", "..", "../../etc/passwd", "é", "\u202e", "😀", "%s%n", "*"])


def _huge_text() -> st.SearchStrategy[str]:
    return st.builds(lambda part, n: (part * n)[:HUGE], st.text(_CHARS, min_size=1, max_size=4), st.integers(1, HUGE))


def text(ids: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Empty, short, unicode, huge, and real ids when given (often of the wrong kind)."""
    choices = [_SPECIAL_TEXT, st.text(_CHARS, max_size=40), st.text(max_size=8, alphabet="0123456789abcdef-")]
    if ids:
        real = st.sampled_from(list(ids))
        near = st.one_of(real.map(str.upper), real.map(lambda i: i + " "), real.map(lambda i: i[:-1]))
        choices[:0] = [real, near]
    return st.one_of(*choices, _huge_text())


def _binary() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64), st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=2), st.integers(1, HUGE))
    )


_EDGES = (0, -1, 1, 2**31 - 1, -(2**31), 2**32 - 1, 2**53, -(2**63), 2**63 - 1, 2**64 - 1)


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = sorted({low, high, *(v for v in _EDGES if low <= v <= high)})
    return st.one_of(st.sampled_from(edges), st.integers(low, high), st.integers(max(low, -100), min(high, 100)))


def _enum(field: FieldDescriptor) -> st.SearchStrategy[int]:
    known = [v.number for v in field.enum_type.values]
    return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1), st.sampled_from([-1, max(known) + 1]))


#: Far outside the valid range of google.protobuf.Timestamp/Duration, and just at its edges.
_TIME_SECONDS = st.one_of(
    st.sampled_from([0, -1, -62135596800, -62135596801, 253402300799, 253402300800, 315576000000, -315576000001]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(10**10), 10**10),
)
_NANOS = st.one_of(st.sampled_from([0, 999_999_999, 1_000_000_000, -1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))


def scalar(field: FieldDescriptor, ids: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return text(ids)
    if kind == FieldDescriptor.TYPE_BYTES:
        return _binary()
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum(field)
    return _integers(*_INT_RANGES[kind])


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _repeated(field: FieldDescriptor) -> bool:
    """``is_repeated`` since protobuf 6; ``label`` before."""
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _value(field: FieldDescriptor, depth: int, ids: Sequence[str]) -> st.SearchStrategy[Any]:
    """One value of a non-repeated field (or one element of a repeated one)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, depth + 1, tuple(ids))
    return scalar(field, ids)


def _field(field: FieldDescriptor, depth: int, ids: Sequence[str]) -> st.SearchStrategy[Any]:
    if _is_map(field):
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(scalar(key, ids), _value(value, depth, ids), max_size=MAX_REPEATED)
    if _repeated(field):
        return st.lists(_value(field, depth, ids), max_size=MAX_REPEATED)
    return _value(field, depth, ids)


@functools.cache
def messages(descriptor: Descriptor, depth: int = 0, ids: tuple[str, ...] = ()) -> st.SearchStrategy[Message]:
    """Random messages of ``descriptor``'s type."""
    cls = message_class(descriptor)
    if descriptor.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return st.builds(cls, seconds=_TIME_SECONDS, nanos=_NANOS)
    if depth >= MAX_DEPTH:
        return st.just(cls())
    oneof_members = {f.name for o in descriptor.oneofs for f in o.fields}
    optional = {f.name: _field(f, depth, ids) for f in descriptor.fields if f.name not in oneof_members}
    oneofs = [
        st.one_of(st.none(), *(st.tuples(st.just(f.name), _field(f, depth, ids)) for f in o.fields))
        for o in descriptor.oneofs
    ]

    def build(values: dict[str, Any], chosen: list[tuple[str, Any] | None]) -> Message:
        values = dict(values)
        values.update(c for c in chosen if c is not None)
        return cls(**values)

    return st.builds(build, st.fixed_dictionaries({}, optional=optional), st.tuples(*oneofs).map(list))


# -- mutations of valid messages --------------------------------------------

Path = tuple[str | int, ...]
"""Field names, and indices into repeated fields; always ends with a field name."""


def _paths(message: Message, prefix: Path = ()) -> list[Path]:
    """Every field path of ``message``: its own fields, and those of the
    sub-messages it holds (unset ones are mutated as a whole)."""
    found: list[Path] = []
    for field in message.DESCRIPTOR.fields:
        path = (*prefix, field.name)
        found.append(path)
        if field.type != FieldDescriptor.TYPE_MESSAGE or _is_map(field) or len(path) > 3 * MAX_DEPTH:
            continue
        if _repeated(field):
            for index, element in enumerate(getattr(message, field.name)):
                found.extend(_paths(element, (*path, index)))
        elif message.HasField(field.name):
            found.extend(_paths(getattr(message, field.name), path))
    return found


def _parent(message: Message, path: Path) -> Message:
    node: Any = message
    for step in path[:-1]:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node  # type: ignore[no-any-return]


def _assign(parent: Message, field: FieldDescriptor, value: Any) -> None:
    parent.ClearField(field.name)
    if _is_map(field):
        getattr(parent, field.name).update(value)
    elif _repeated(field):
        getattr(parent, field.name).extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(parent, field.name).CopyFrom(value)
    else:
        setattr(parent, field.name, value)


@st.composite
def mutated(draw: st.DrawFn, valid: Message, ids: Sequence[str] = ()) -> Message:
    """A copy of ``valid`` with one field cleared, replaced, or (repeated)
    given one more element or one fewer."""
    message = type(valid)()
    message.CopyFrom(valid)
    paths = _paths(message)
    if not paths:  # Empty: nothing to change
        return message
    path = draw(st.sampled_from(paths))
    parent = _parent(message, path)
    field = parent.DESCRIPTOR.fields_by_name[str(path[-1])]
    repeated = _repeated(field) and not _is_map(field)
    actions = ["clear", "replace", "replace", *(["append", "drop"] if repeated else [])]
    action = draw(st.sampled_from(actions))
    depth = len(path) // 2
    if action == "clear":
        parent.ClearField(field.name)
    elif action == "append":
        getattr(parent, field.name).append(draw(_value(field, depth, ids)))
    elif action == "drop" and len(getattr(parent, field.name)):
        del getattr(parent, field.name)[draw(st.integers(0, len(getattr(parent, field.name)) - 1))]
    elif action == "replace":
        _assign(parent, field, draw(_field(field, depth, ids)))
    return message
