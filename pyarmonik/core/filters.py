"""ArmoniK's list filters as a pure domain model, with sort and pagination.

A filter is an OR of ANDs of conditions on one field each (empty OR =
everything), exactly like ``filters_common.proto``. Fields are named by the
attribute path on the domain records of ``pyarmonik.core.models``
(``"status"``, ``"options.priority"``, ``"options.options.<key>"`` for a
generic task option), so storage adapters evaluate them without protobuf.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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


def session_ids_in(where: Filters) -> frozenset[str] | None:
    """The sessions a filter can match, when every clause pins ``session_id``
    with EQ; ``None`` when it may match any session. Lets stores scan one
    session's records instead of all of them."""
    if not where:
        return None
    found: set[str] = set()
    for clause in where:
        pinned = [c.value for c in clause if c.field == "session_id" and c.op is Op.EQ]
        if not pinned:
            return None
        found.add(str(pinned[0]))
    return frozenset(found)

