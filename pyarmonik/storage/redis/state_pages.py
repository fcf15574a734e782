"""List pages of one session read from its sorted indexes.

A session may hold 1,000,000 tasks: a page that decodes every record (or
sorts every id) takes seconds. The scripts keep ordered indexes of each
session (``keys.SessionKeys``): the status indexes (ZSET by status, so in
(status, id) order), and for tasks the id index (ZSET, score 0: id order)
and the creation index (ZSET by created_at). A query these answer -- one
session, clauses that add at most a status EQ, sorted by id, created_at or
status -- costs a ZRANGE and the page's records, O(log n + page), whatever
the session's size:

- sorted by status, or by id within one status: ranges of the status index;
- every status, sorted by an indexed field: a range of that index;
- some statuses, sorted by an indexed field: the index walked in order,
  keeping the ids whose status (ZMSCORE) is wanted, until the page is full
  (a few statuses that hold few tasks are read from their records instead:
  the walk could cross the whole index for them).

Ties (tasks created in one call share their created_at) come in id order,
reversed with a descending sort. Any other query returns ``None``: the
caller decodes the records and pages them with ``filters.apply``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from pyarmonik.core import filters
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.storage.redis import keys, reads
from pyarmonik.storage.redis.library import Library, text

#: Ids one step of an index walk reads.
WALK_CHUNK = 2000
#: Tasks in the wanted statuses below which their records are read rather
#: than the index walked (the walk may cross the whole index to find them).
FEW = 10_000
_STATUS = "status"
_TASK_STATUSES = frozenset(int(s) for s in TaskStatus)


#: Wanted statuses of a session, ascending; ``None`` for every status.
Statuses = tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one indexed page reads."""

    #: The sessions to read and the statuses wanted in each; ``None`` for
    #: every status of every session of the store (an empty filter).
    sessions: Mapping[str, Statuses] | None
    #: The field sorted on: the records' id field, an indexed one or ``status``.
    field: str
    descending: bool
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class Kind:
    """Tasks or results: their indexes in a session, and how to read them."""

    id_field: str
    #: The ZSET of every record's id (score 0).
    ids: str
    statuses: str
    #: Sorted field -> the ZSET that orders the records by it.
    indexes: Mapping[str, str]
    read: Callable[[Library, str, Sequence[object]], Awaitable[list[Any]]]


def _task_kind(session_id: str) -> Kind:
    ids = keys.TASK_IDS(session_id)
    return Kind("task_id", ids, keys.TASK_STATUSES(session_id),
                {"task_id": ids, "created_at": keys.TASK_CREATED(session_id)}, reads.session_tasks)  # fmt: skip


def _result_kind(session_id: str) -> Kind:
    ids = keys.RESULT_IDS(session_id)
    return Kind("result_id", ids, keys.RESULT_STATUSES(session_id), {"result_id": ids}, reads.session_results)


async def tasks_page(redis: Redis, library: Library, query: filters.ListQuery) -> filters.Page[Any] | None:
    """The tasks of ``query``'s page and the total, or ``None`` when the
    indexes cannot answer it."""
    return await _page(redis, library, plan(query, "task_id", frozenset({"task_id", "created_at"})), _task_kind)


async def results_page(redis: Redis, library: Library, query: filters.ListQuery) -> filters.Page[Any] | None:
    """As ``tasks_page``, for results (status and id indexes)."""
    return await _page(redis, library, plan(query, "result_id", frozenset({"result_id"})), _result_kind)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clause_status(clause: filters.Clause) -> tuple[bool, int | None]:
    """(whether the clause is only session pins and status EQs, the status
    it pins or ``None``)."""
    status: int | None = None
    for condition in clause:
        if condition.field == "session_id" and condition.op in (filters.Op.EQ, filters.Op.IN):
            continue
        if condition.field != _STATUS or condition.op is not filters.Op.EQ or not _is_int(condition.value):
            return False, None
        if status is not None and status != condition.value:
            return False, None  # matches nothing: rare enough to leave to the records
        status = int(condition.value)  # type: ignore[call-overload]
    return True, status


def plan(query: filters.ListQuery, id_field: str, indexed: frozenset[str]) -> Plan | None:
    """The indexed page of ``query``, or ``None`` when no index answers it:
    each clause must pin its sessions and add at most a status EQ."""
    if query.page < 0 or query.page_size < 0:
        return None
    sort = query.sort or filters.Sort(id_field)
    if sort.field not in indexed | {id_field, _STATUS}:
        return None
    sessions: dict[str, set[int] | None] | None = None if not query.where else {}
    for clause in query.where:
        pinned = filters.clause_session_ids(clause)
        simple, status = _clause_status(clause)
        if pinned is None or not simple:
            return None
        for session_id in filter(keys.is_taggable, sorted(pinned)):  # an untaggable id names no session
            wanted = sessions.setdefault(session_id, set())  # type: ignore[union-attr]
            if status is None:
                sessions[session_id] = None  # type: ignore[index]
            elif wanted is not None:
                wanted.add(status)
    ordered = None if sessions is None else {s: None if w is None else tuple(sorted(w)) for s, w in sessions.items()}
    return Plan(ordered, sort.field, sort.descending, query.page * query.page_size, query.page_size)


async def count_by_status(redis: Redis, where: filters.Filters) -> dict[TaskStatus, int] | None:
    """Tasks by status matching ``where`` from the status indexes alone,
    when it is made of session pins and status EQs (``None`` otherwise)."""
    found = plan(filters.ListQuery(where), "task_id", frozenset())
    if found is None:
        return None
    sessions = found.sessions
    if sessions is None:
        sessions = {text(s): None for s in await redis.zrange(keys.SESSIONS, 0, -1) if keys.is_taggable(text(s))}
    asked = [(session_id, status) for session_id, wanted in sessions.items()
             for status in (wanted if wanted is not None else [int(s) for s in TaskStatus])]  # fmt: skip
    async with redis.pipeline(transaction=False) as pipe:
        for session_id, status in asked:
            pipe.zcount(keys.TASK_STATUSES(session_id), status, status)
        replies = await pipe.execute()
    counts: dict[TaskStatus, int] = {}
    for (_, status), n in zip(asked, replies):
        if n and status in _TASK_STATUSES:
            counts[TaskStatus(status)] = counts.get(TaskStatus(status), 0) + int(n)
    return counts


#: An index entry of a page: (score, member, session id); entries sort as
#: the ZSETs order them, by score then member.
Entry = tuple[float, Any, str]


async def _page(
    redis: Redis, library: Library, found: Plan | None, kind_of: Callable[[str], Kind]
) -> filters.Page[Any] | None:
    """One session's page straight from its indexes; several sessions'
    merged from the first ``start + count`` entries of each."""
    if found is None:
        return None
    sessions = found.sessions
    if sessions is None:
        sessions = {text(s): None for s in await redis.zrange(keys.SESSIONS, 0, -1) if keys.is_taggable(text(s))}
    single = len(sessions) == 1
    start, count = (found.start, found.count) if single else (0, found.start + found.count)
    total, runs = 0, []
    for session_id, statuses in sessions.items():
        kind = kind_of(session_id)
        read = await _session_entries(redis, kind, statuses, found, start, count)
        if read is None:
            return None
        total += read[0]
        by_id = found.field == kind.id_field  # then a status range's scores are no sort key
        runs.append([(0.0 if by_id else score, member, session_id) for member, score in read[1]])
    if single:
        chosen = runs[0]
    else:
        merged = heapq.merge(*runs, key=_entry_order, reverse=found.descending)
        chosen = list(itertools.islice(merged, found.start, found.start + found.count))
    return filters.Page(await _records(library, kind_of, chosen), total)


def _entry_order(entry: Entry) -> tuple[float, Any]:
    return entry[0], entry[1]


async def _session_entries(
    redis: Redis, kind: Kind, statuses: Statuses, found: Plan, start: int, count: int
) -> tuple[int, list[tuple[Any, float]]] | None:
    """The total of one session and its entries ``start`` to ``start +
    count`` in the page's order, as (member, score)."""
    counts = await _counts(redis, kind, statuses)
    total = sum(counts.values())
    if count == 0 or total == 0:
        return total, []
    if found.field == _STATUS or (found.field == kind.id_field and statuses and len(statuses) == 1):
        return total, await _status_ranges(redis, kind, statuses, counts, found.descending, start, count)
    index = kind.indexes.get(found.field)
    if index is None:
        return None
    if statuses is None:
        return total, await _range(redis, index, start, count, found.descending)
    if total < FEW:
        return None
    return total, await _walk(redis, kind, index, statuses, found.descending, start, count)


async def _counts(redis: Redis, kind: Kind, statuses: Sequence[int] | None) -> dict[int | None, int]:
    """Records in each wanted status (``{None: all}`` for every status)."""
    if statuses is None:
        return {None: int(await redis.zcard(kind.ids))}
    async with redis.pipeline(transaction=False) as pipe:
        for status in statuses:
            pipe.zcount(kind.statuses, status, status)
        replies = await pipe.execute()
    return {status: int(n) for status, n in zip(statuses, replies)}


async def _range(redis: Redis, index: str, start: int, count: int, descending: bool) -> list[tuple[Any, float]]:
    return _pairs(await redis.zrange(index, start, start + count - 1, desc=descending, withscores=True))


def _pairs(reply: Any) -> list[tuple[Any, float]]:
    return [(member, float(score)) for member, score in reply]


async def _status_ranges(
    redis: Redis,
    kind: Kind,
    statuses: Statuses,
    counts: Mapping[int | None, int],
    descending: bool,
    start: int,
    count: int,
) -> list[tuple[Any, float]]:
    """Entries in (status, id) order: the status index's rank range for
    every status, else one score range per wanted status, skipping the
    statuses the range starts after."""
    if statuses is None:
        return await _range(redis, kind.statuses, start, count, descending)
    skip, left = start, count
    found: list[tuple[Any, float]] = []
    for status in reversed(statuses) if descending else statuses:
        if left <= 0:
            break
        if skip >= counts[status]:
            skip -= counts[status]
            continue
        by_score = redis.zrevrangebyscore if descending else redis.zrangebyscore
        taken = await by_score(kind.statuses, status, status, start=skip, num=left, withscores=True)
        found += _pairs(taken)
        skip, left = 0, left - len(taken)
    return found


async def _walk(
    redis: Redis, kind: Kind, index: str, statuses: Sequence[int], descending: bool, start: int, count: int
) -> list[tuple[Any, float]]:
    """Entries of the wanted statuses in ``index`` order: the index read
    WALK_CHUNK entries a step, each step's statuses with one ZMSCORE."""
    wanted = {float(s) for s in statuses}
    skip, position = start, 0
    found: list[tuple[Any, float]] = []
    while len(found) < count:
        chunk = await _range(redis, index, position, WALK_CHUNK, descending)
        if not chunk:
            break
        position += len(chunk)
        scores = await redis.zmscore(kind.statuses, [member for member, _ in chunk])
        for entry, status in zip(chunk, scores):
            if status in wanted:
                if skip:
                    skip -= 1
                elif len(found) < count:
                    found.append(entry)
    return found


async def _records(library: Library, kind_of: Callable[[str], Kind], entries: Sequence[Entry]) -> list[Any]:
    """The records of ``entries``, in order (one gone meanwhile is left out)."""
    by_session: dict[str, list[Any]] = {}
    for _, member, session_id in entries:
        by_session.setdefault(session_id, []).append(member)
    found: dict[tuple[str, str], Any] = {}
    for session_id, members in by_session.items():
        kind = kind_of(session_id)
        for record in await kind.read(library, session_id, members):
            found[(session_id, getattr(record, kind.id_field))] = record
    wanted = ((session_id, text(member)) for _, member, session_id in entries)
    return [found[key] for key in wanted if key in found]
