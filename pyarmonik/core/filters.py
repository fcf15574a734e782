"""ArmoniK's list filters as a pure domain model, with sort and pagination.

A filter is an OR of ANDs of conditions on one field each (empty OR =
everything), exactly like ``filters_common.proto``. Fields are named by the
attribute path on the domain records of ``pyarmonik.core.models``
(``"status"``, ``"options.priority"``, ``"options.options.<key>"`` for a
generic task option), so storage adapters evaluate them without protobuf.
"""

from __future__ import annotations

import enum
import functools
import heapq
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pyarmonik.core.errors import InvalidArgument

T = TypeVar("T")


class ValueKind(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    STATUS = "status"
    ARRAY = "array"
    DURATION = "duration"


class Op(enum.Enum):
    EQ = "eq"
    NE = "ne"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    LT = "lt"
    LE = "le"
    GE = "ge"
    GT = "gt"
    IS = "is"
    #: ``value`` is a frozenset of strings. Never sent by clients: the grid
    #: itself uses it to keep a caller's lists to its own sessions.
    IN = "in"


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``; dates are UNIX seconds, durations seconds,
    statuses their enum's int value."""

    field: str
    kind: ValueKind
    op: Op
    value: object


Clause = tuple[Condition, ...]
Filters = tuple[Clause, ...]
EVERYTHING: Filters = ()


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ListQuery:
    where: Filters = EVERYTHING
    sort: Sort | None = None
    page: int = 0
    page_size: int = 100


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    total: int = 0


def in_session(session_id: str) -> Filters:
    """Every record of one session."""
    return ((Condition("session_id", ValueKind.STRING, Op.EQ, session_id),),)


def clause_pins(clause: Clause, field: str) -> frozenset[str] | None:
    """The values of ``field`` a clause can match, when it pins the field (EQ
    or IN; several pins intersect); ``None`` when it may match any value."""
    found: frozenset[str] | None = None
    for c in clause:
        if c.field != field or c.op not in (Op.EQ, Op.IN):
            continue
        values = frozenset(map(str, c.value)) if c.op is Op.IN else frozenset({str(c.value)})  # type: ignore[call-overload]
        found = values if found is None else found & values
    return found


def clause_session_ids(clause: Clause) -> frozenset[str] | None:
    """The sessions a clause can match (see ``clause_pins``)."""
    return clause_pins(clause, "session_id")


def pinned(where: Filters, field: str) -> frozenset[str] | None:
    """The values of ``field`` a filter can match, when every clause pins it
    (EQ or IN); ``None`` when it may match any value. Lets stores and streams
    read the records of a list of ids instead of scanning for them."""
    if not where:
        return None
    found: set[str] = set()
    for clause in where:
        values = clause_pins(clause, field)
        if values is None:
            return None
        found |= values
    return frozenset(found)


def session_ids_in(where: Filters) -> frozenset[str] | None:
    """The sessions a filter can match (see ``pinned``): stores scan one
    session's records instead of all of them."""
    return pinned(where, "session_id")


def in_sessions(session_ids: frozenset[str]) -> Condition:
    """The condition "in one of these sessions"."""
    return Condition("session_id", ValueKind.STRING, Op.IN, session_ids)


# --------------------------------------------------------------------------
# Evaluation: field access, compiled predicates, filter + sort + page.
# --------------------------------------------------------------------------

Predicate = Callable[[object], bool]
Getter = Callable[[object], Any]
GENERIC_OPTION_PREFIX = "options.options."
#: Tolerance of date and duration (in)equalities: the API carries nanoseconds,
#: which a float of UNIX seconds only holds to about a quarter microsecond.
TIME_TOLERANCE = 1e-6


@functools.lru_cache(maxsize=512)
def _getter(path: str) -> Getter:
    """A fast accessor for ``path``: C ``attrgetter`` for attributes, a dict
    lookup for generic task options (whose key may contain dots)."""
    if path.startswith(GENERIC_OPTION_PREFIX):
        key = path[len(GENERIC_OPTION_PREFIX) :]
        options = operator.attrgetter("options.options")
        return lambda record: options(record).get(key)
    return operator.attrgetter(path)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else str(value)


def _not_contains(text: str, part: str) -> bool:
    return part not in text


_STRING_OPS: dict[Op, Callable[[str, str], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.CONTAINS: operator.contains,
    Op.NOT_CONTAINS: _not_contains,
    Op.STARTS_WITH: str.startswith,
    Op.ENDS_WITH: str.endswith,
}
_ORDER_OPS: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GE: operator.ge,
    Op.GT: operator.gt,
}


def _time_op(op: Op, value: float) -> Callable[[Any], bool]:
    """Comparison with the tolerance applied consistently, so that LT is
    exactly "not GE" and LE exactly "LT or EQ"."""
    low, high = value - TIME_TOLERANCE, value + TIME_TOLERANCE
    return {
        Op.EQ: lambda v: low <= v <= high,
        Op.NE: lambda v: not low <= v <= high,
        Op.LT: lambda v: v < low,
        Op.LE: lambda v: v <= high,
        Op.GE: lambda v: v >= low,
        Op.GT: lambda v: v > high,
    }[op]


def _unsupported(condition: Condition) -> InvalidArgument:
    return InvalidArgument(
        f"operator {condition.op.value} does not apply to {condition.kind.value} field {condition.field!r}"
    )


def _compile_string(get: Getter, condition: Condition) -> Predicate:
    if condition.op is Op.IN:
        values = frozenset(map(_as_text, condition.value))  # type: ignore[call-overload]
        return lambda record: _as_text(get(record)) in values
    test = _STRING_OPS[condition.op]
    value = _as_text(condition.value)

    def predicate(record: object) -> bool:
        v = get(record)
        return test(v if v.__class__ is str else _as_text(v), value)

    return predicate


def _compile_ordered(get: Getter, condition: Condition) -> Predicate:
    """NUMBER and STATUS (integers), DATE and DURATION (seconds, with tolerance).
    A missing (``None``) value only satisfies NE."""
    if condition.kind in (ValueKind.DATE, ValueKind.DURATION):
        test = _time_op(condition.op, float(condition.value))  # type: ignore[arg-type]
    else:
        compare, value = _ORDER_OPS[condition.op], int(condition.value)  # type: ignore[call-overload]
        if condition.op in (Op.EQ, Op.NE):  # None == value is already False, None != value True
            return lambda record: compare(get(record), value)
        test = lambda v: compare(v, value)  # noqa: E731
    missing = condition.op is Op.NE

    def predicate(record: object) -> bool:
        v = get(record)
        return missing if v is None else test(v)

    return predicate


def _compile_boolean(get: Getter, condition: Condition) -> Predicate:
    value = bool(condition.value)
    return lambda record: bool(get(record)) == value


def _compile_array(get: Getter, condition: Condition) -> Predicate:
    value, wanted = condition.value, condition.op is Op.CONTAINS
    return lambda record: (value in (get(record) or ())) == wanted


_OPS_OF_KIND: dict[ValueKind, frozenset[Op]] = {
    ValueKind.STRING: frozenset({*_STRING_OPS, Op.IN}),
    ValueKind.NUMBER: frozenset(_ORDER_OPS),
    ValueKind.DATE: frozenset(_ORDER_OPS),
    ValueKind.DURATION: frozenset(_ORDER_OPS),
    ValueKind.STATUS: frozenset({Op.EQ, Op.NE}),
    ValueKind.BOOLEAN: frozenset({Op.IS}),
    ValueKind.ARRAY: frozenset({Op.CONTAINS, Op.NOT_CONTAINS}),
}
_COMPILERS: dict[ValueKind, Callable[[Getter, Condition], Predicate]] = {
    ValueKind.STRING: _compile_string,
    ValueKind.NUMBER: _compile_ordered,
    ValueKind.DATE: _compile_ordered,
    ValueKind.DURATION: _compile_ordered,
    ValueKind.STATUS: _compile_ordered,
    ValueKind.BOOLEAN: _compile_boolean,
    ValueKind.ARRAY: _compile_array,
}


def compile_condition(condition: Condition) -> Predicate:
    """One condition as a closure; raises ``InvalidArgument`` when the operator
    does not apply to the value kind, or the value has the wrong type."""
    if condition.op not in _OPS_OF_KIND[condition.kind]:
        raise _unsupported(condition)
    try:
        return _COMPILERS[condition.kind](_getter(condition.field), condition)
    except (TypeError, ValueError) as error:
        kind, value = condition.kind.value, condition.value
        raise InvalidArgument(f"bad {kind} value {value!r} for {condition.field!r}") from error


def _always(record: object) -> bool:
    return True


def _all_of(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda record: first(record) and second(record)
    return lambda record: all(p(record) for p in predicates)


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda record: any(p(record) for p in predicates)


def _is_lookup(clause: Clause) -> bool:
    return len(clause) == 1 and clause[0].kind is ValueKind.STRING and clause[0].op is Op.EQ


def _compile(where: Filters) -> Predicate:
    """Clauses that are each one ``field == "value"`` (how clients ask for a
    list of ids: the official ``wait_for_result_availability`` ORs up to
    1,000 of them) become one set lookup per field instead of a scan."""
    if not where:
        return _always
    lookups: dict[str, set[str]] = {}
    predicates: list[Predicate] = []
    for clause in where:
        if _is_lookup(clause):
            lookups.setdefault(clause[0].field, set()).add(str(clause[0].value))
        else:
            predicates.append(_all_of([compile_condition(c) for c in clause]))
    predicates.extend(_lookup(path, frozenset(values)) for path, values in lookups.items())
    return _any_of(predicates)


def _lookup(path: str, values: frozenset[str]) -> Predicate:
    get = _getter(path)
    return lambda record: _as_text(get(record)) in values


@functools.lru_cache(maxsize=1024)
def _compile_cached(where: Filters) -> Predicate:
    return _compile(where)


def compile_filters(where: Filters) -> Predicate:
    """``where`` as one predicate on domain records, cached per (hashable)
    filter; an empty filter, or an empty clause, matches everything."""
    try:
        hash(where)
    except TypeError:  # a condition holds an unhashable value: compile uncached
        return _compile(where)
    return _compile_cached(where)


def matches(record: object, where: Filters) -> bool:
    """Whether ``record`` satisfies ``where`` (OR of ANDs of conditions)."""
    try:
        return compile_filters(where)(record)
    except AttributeError as error:
        raise InvalidArgument(f"filter names a field {type(record).__name__} does not have: {error}") from error


def _window(items: list[T], sort: Sort, end: int) -> list[T]:
    """The first ``end`` items in ``sort`` order (stable; ``None`` values
    first ascending, last descending), without sorting more than needed."""
    keys = list(map(_getter(sort.field), items))
    indices: Iterable[int] = range(len(items))
    nones: list[int] = []
    if None in keys:
        nones = [i for i, k in enumerate(keys) if k is None]
        indices = [i for i, k in enumerate(keys) if k is not None]
    head = [] if sort.descending else nones[:end]
    wanted, available = end - len(head), len(items) - len(nones)
    if wanted >= available:
        ordered = sorted(indices, key=keys.__getitem__, reverse=sort.descending)
    elif wanted == 0:
        ordered = []
    else:
        pick = heapq.nlargest if sort.descending else heapq.nsmallest
        ordered = pick(wanted, indices, key=keys.__getitem__)
    chosen = head + ordered
    if sort.descending and len(chosen) < end:
        chosen += nones[: end - len(chosen)]
    return [items[i] for i in chosen]


def apply(records: Iterable[T], query: ListQuery) -> Page[T]:
    """Filter, sort and cut one 0-based page of ``records``.

    ``total`` counts every match; ``page_size == 0`` returns the total only.
    Raises ``InvalidArgument`` on a negative page or page size, an operator
    that does not fit its field, or a field the records do not have.
    """
    if query.page < 0 or query.page_size < 0:
        raise InvalidArgument(f"page ({query.page}) and page size ({query.page_size}) must not be negative")
    try:
        predicate = compile_filters(query.where)
        matched = list(records) if predicate is _always else list(filter(predicate, records))
        start, end = query.page * query.page_size, (query.page + 1) * query.page_size
        if query.page_size == 0 or start >= len(matched):
            return Page(items=[], total=len(matched))
        if query.sort is None:
            return Page(items=matched[start:end], total=len(matched))
        return Page(items=_window(matched, query.sort, end)[start:], total=len(matched))
    except AttributeError as error:
        raise InvalidArgument(f"query names an unknown field: {error}") from error
