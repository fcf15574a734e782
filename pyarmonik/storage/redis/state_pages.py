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
Sessions written before the id and creation indexes existed lack them; a
page checks that an index holds every task before it trusts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from pyarmonik.core import filters
from pyarmonik.storage.redis import keys
from pyarmonik.storage.redis.state_scripts import session_keys

#: Ids one step of an index walk reads.
WALK_CHUNK = 2000
#: Tasks in the wanted statuses below which their records are read rather
#: than the index walked (the walk may cross the whole index to find them).
FEW = 10_000
_STATUS = "status"


@dataclass(frozen=True, slots=True)
class Plan:
    """What one indexed page reads."""

    session_id: str
    #: Wanted statuses, ascending; ``None`` for every status.
    statuses: tuple[int, ...] | None
    #: The field sorted on: the records' id field, an indexed one or ``status``.
    field: str
    descending: bool
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class Kind:
    """Tasks or results: their keys and indexes in a session."""

    id_field: str
    records: str
    statuses: str
    #: Sorted field -> the ZSET that orders the records by it.
    indexes: Mapping[str, str]


def _task_kind(session: keys.SessionKeys) -> Kind:
    return Kind("task_id", session.tasks, session.task_statuses,
                {"task_id": session.task_ids, "created_at": session.task_created})  # fmt: skip


def _result_kind(session: keys.SessionKeys) -> Kind:
    return Kind("result_id", session.results, session.result_statuses, {})


Page = tuple[list[Any], int]


async def tasks_page(redis: Redis, query: filters.ListQuery) -> Page | None:
    """The decoded JSON of the tasks of ``query``'s page and the total, or
    ``None`` when the indexes cannot answer it."""
    return await _page(redis, plan(query, "task_id", frozenset({"task_id", "created_at"})), _task_kind)


async def results_page(redis: Redis, query: filters.ListQuery) -> Page | None:
    """As ``tasks_page``, for results (status index only)."""
    return await _page(redis, plan(query, "result_id", frozenset()), _result_kind)


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
    """The indexed page of ``query``, or ``None`` when no index answers it."""
    if not query.where or query.page < 0 or query.page_size < 0:
        return None
    sort = query.sort or filters.Sort(id_field)
    if sort.field not in indexed | {id_field, _STATUS}:
        return None
    session: frozenset[str] | None = None
    statuses: set[int] | None = set()
    for clause in query.where:
        pinned = filters.clause_session_ids(clause)
        if pinned is None or len(pinned) != 1 or (session is not None and pinned != session):
            return None
        session = pinned
        simple, status = _clause_status(clause)
        if not simple:
            return None
        if status is None:
            statuses = None
        elif statuses is not None:
            statuses.add(status)
    assert session is not None
    [session_id] = session
    if not keys.is_taggable(session_id):
        return None
    wanted = None if statuses is None else tuple(sorted(statuses))
    start = query.page * query.page_size
    return Plan(session_id, wanted, sort.field, sort.descending, start, query.page_size)


async def _page(redis: Redis, found: Plan | None, kind_of: Callable[[keys.SessionKeys], Kind]) -> Page | None:
    if found is None:
        return None
    kind = kind_of(session_keys(found.session_id))
    counts = await _counts(redis, kind, found.statuses)
    total = sum(counts.values())
    if found.field == _STATUS or (found.field == kind.id_field and found.statuses and len(found.statuses) == 1):
        ids = await _status_ranges(redis, kind, found, counts)
    else:
        index = kind.indexes.get(found.field)
        if index is None or not await _index_complete(redis, kind, index):
            return None
        if found.statuses is None:
            ids = await _range(redis, index, found.start, found.count, found.descending)
        elif total < FEW:
            return None
        else:
            ids = await _walk(redis, kind, index, found)
    return await _records(redis, kind.records, ids), total


async def _counts(redis: Redis, kind: Kind, statuses: Sequence[int] | None) -> dict[int | None, int]:
    """Records in each wanted status (``{None: all}`` for every status)."""
    if statuses is None:
        return {None: int(await redis.hlen(kind.records))}
    async with redis.pipeline(transaction=False) as pipe:
        for status in statuses:
            pipe.zcount(kind.statuses, status, status)
        replies = await pipe.execute()
    return {status: int(n) for status, n in zip(statuses, replies)}


async def _index_complete(redis: Redis, kind: Kind, index: str) -> bool:
    """Whether ``index`` holds every record (MULTI: the scripts write both
    at once, so they only differ in a session older than the index)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hlen(kind.records)
        pipe.zcard(index)
        records, indexed = await pipe.execute()
    return bool(records == indexed)


async def _range(redis: Redis, index: str, start: int, count: int, descending: bool) -> list[Any]:
    if count == 0:
        return []
    return list(await redis.zrange(index, start, start + count - 1, desc=descending))


async def _status_ranges(redis: Redis, kind: Kind, plan: Plan, counts: Mapping[int | None, int]) -> list[Any]:
    """The page's ids in (status, id) order: the status index's rank range
    for every status, else one score range per wanted status, skipping the
    statuses the page starts after."""
    if plan.statuses is None:
        return await _range(redis, kind.statuses, plan.start, plan.count, plan.descending)
    skip, left = plan.start, plan.count
    ids: list[Any] = []
    for status in reversed(plan.statuses) if plan.descending else plan.statuses:
        if left <= 0:
            break
        if skip >= counts[status]:
            skip -= counts[status]
            continue
        if plan.descending:
            taken = await redis.zrevrangebyscore(kind.statuses, status, status, start=skip, num=left)
        else:
            taken = await redis.zrangebyscore(kind.statuses, status, status, start=skip, num=left)
        ids += taken
        skip, left = 0, left - len(taken)
    return ids


async def _walk(redis: Redis, kind: Kind, index: str, plan: Plan) -> list[Any]:
    """The page's ids of the wanted statuses in ``index`` order: the index
    read WALK_CHUNK ids a step, each step's statuses with one ZMSCORE."""
    wanted = {float(s) for s in plan.statuses or ()}
    skip, position = plan.start, 0
    ids: list[Any] = []
    while len(ids) < plan.count:
        chunk = await _range(redis, index, position, WALK_CHUNK, plan.descending)
        if not chunk:
            break
        position += len(chunk)
        scores = await redis.zmscore(kind.statuses, chunk)
        for id_, score in zip(chunk, scores):
            if score in wanted:
                if skip:
                    skip -= 1
                elif len(ids) < plan.count:
                    ids.append(id_)
    return ids


async def _records(redis: Redis, records: str, ids: Sequence[Any]) -> list[Any]:
    """The decoded JSON of the records of ``ids``, in order (an id whose
    record went meanwhile is left out)."""
    if not ids:
        return []
    return [json.loads(value) for value in await redis.hmget(records, list(ids)) if value is not None]
