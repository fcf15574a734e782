"""Lists and counts of the Redis state store.

Pages the sorted indexes of the sessions answer are read by ``state_pages``
first; the rest come here. Lists load records and leave filtering, sorting and paging to
``filters.apply``, which defines what a query means. What they load is narrowed first: the sessions a filter pins
(``filters.session_ids_in``), and, where every clause also pins a status,
only the tasks of those statuses (from the session's status index). Counts
of whole sessions come from the status index alone, and the counts of the
whole store (``status_counts``, for metrics) from the counters the scripts
keep: no record is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from pyarmonik.core import filters
from pyarmonik.core.models import Result, Session, Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, records
from pyarmonik.storage.redis.state_scripts import session_keys, text

_STATUSES = list(TaskStatus)
#: (session id, status or None for every task of the session)
_Source = tuple[str, "int | None"]


async def session_ids(redis: Redis, where: filters.Filters) -> list[str]:
    """The sessions a filter may match: those it pins, else every one."""
    pinned = filters.session_ids_in(where)
    if pinned is not None:
        return sorted(s for s in pinned if keys.is_taggable(s))
    return [text(s) for s in await redis.zrange(keys.SESSIONS, 0, -1)]


async def whole_sessions(redis: Redis, where: filters.Filters) -> list[str] | None:
    """The sessions of a filter that selects whole sessions (no condition but
    ``session_id`` EQ; every session when empty), ``None`` for any other."""
    whole = not where or (all(len(clause) == 1 for clause in where) and filters.session_ids_in(where) is not None)
    return await session_ids(redis, where) if whole else None


def _sources(where: filters.Filters) -> list[_Source] | None:
    """What each clause needs loaded, when every clause pins its session
    (``None`` otherwise, an empty filter included: it matches everything)."""
    if not where:
        return None
    sources: list[_Source] = []
    for clause in where:
        sessions = filters.clause_session_ids(clause)
        if sessions is None:
            return None
        statuses = [c.value for c in clause if c.field == "status" and c.op is filters.Op.EQ and _is_int(c.value)]
        status = int(statuses[0]) if statuses else None  # type: ignore[call-overload]
        sources.extend((session_id, status) for session_id in sorted(sessions))
    return sources


async def _hash_values(redis: Redis, hashes: Sequence[str]) -> list[Any]:
    """The decoded JSON values of these hashes, in order.

    Plain HVALS: a Lua script joining the values into one reply would spare
    the client 100,000 reply elements but block the server about ten times
    as long as HVALS does (Lua strings are slow to make).
    """
    async with redis.pipeline(transaction=False) as pipe:
        for hash_key in hashes:
            pipe.hvals(hash_key)
        replies = await pipe.execute()
    return [json.loads(value) for values in replies for value in values]


async def _tasks_in_statuses(redis: Redis, wanted: Sequence[tuple[str, int]]) -> list[Any]:
    """The decoded JSON of the tasks of each (session, status)."""
    async with redis.pipeline(transaction=False) as pipe:
        for session_id, status in wanted:
            pipe.zrangebyscore(session_keys(session_id).task_statuses, status, status)
        id_lists = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for (session_id, _), ids in zip(wanted, id_lists):
            if ids:
                pipe.hmget(session_keys(session_id).tasks, ids)
        replies = await pipe.execute()
    return [json.loads(value) for values in replies for value in values if value is not None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def scan_tasks(redis: Redis, where: filters.Filters) -> list[Task]:
    """Every task ``where`` may match (a superset: the caller filters)."""
    sources = _sources(where)
    if sources is None:
        hashes = [session_keys(s).tasks for s in await session_ids(redis, where)]
        return list(map(records.task_from_fields, await _hash_values(redis, hashes)))
    whole = sorted({s for s, status in sources if status is None and keys.is_taggable(s)})
    in_status = sorted({(s, st) for s, st in sources if st is not None and s not in whole and keys.is_taggable(s)})
    found = await _hash_values(redis, [session_keys(s).tasks for s in whole])
    found += await _tasks_in_statuses(redis, in_status)  # type: ignore[arg-type]
    return list(map(records.task_from_fields, found))


async def total_tasks(redis: Redis, session_ids: Sequence[str]) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            pipe.hlen(session_keys(session_id).tasks)
        return sum(await pipe.execute())


async def scan_results(redis: Redis, where: filters.Filters) -> list[Result]:
    hashes = [session_keys(s).results for s in await session_ids(redis, where)]
    return list(map(records.result_from_fields, await _hash_values(redis, hashes)))


async def count_by_status(redis: Redis, session_ids: Sequence[str]) -> dict[TaskStatus, int]:
    """Tasks of each status in these sessions, from the status indexes."""
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            for status in _STATUSES:
                pipe.zcount(session_keys(session_id).task_statuses, int(status), int(status))
        replies = await pipe.execute()
    counts: dict[TaskStatus, int] = {}
    for position, count in enumerate(replies):
        if count:
            status = _STATUSES[position % len(_STATUSES)]
            counts[status] = counts.get(status, 0) + count
    return counts


async def status_counts(redis: Redis) -> ports.StatusCounts:
    """Tasks by (partition, status) and results by status of every session:
    one HGETALL of each session's counts (kept by the scripts), pipelined."""
    ids = [text(s) for s in await redis.zrange(keys.SESSIONS, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in ids:
            pipe.hgetall(session_keys(session_id).counts)
        replies = await pipe.execute()
    tasks: dict[tuple[str, TaskStatus], int] = {}
    results: dict[ResultStatus, int] = {}
    for reply in replies:
        for raw_field, raw_count in reply.items():
            kind, _, rest = text(raw_field).partition(":")
            count = int(raw_count)
            if kind == "task":
                number, _, partition = rest.partition(":")
                key = (partition, TaskStatus(int(number)))
                tasks[key] = tasks.get(key, 0) + count
            elif kind == "result":
                status = ResultStatus(int(rest))
                results[status] = results.get(status, 0) + count
    return ports.StatusCounts(
        tasks={k: n for k, n in tasks.items() if n}, results={k: n for k, n in results.items() if n}
    )


async def scan_sessions(redis: Redis) -> list[Session]:
    ids = [text(s) for s in await redis.zrange(keys.SESSIONS, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in ids:
            pipe.get(session_keys(session_id).record)
        replies = await pipe.execute()
    return [records.decode_session(raw) for raw in replies if raw is not None]


def one_whole_session(where: filters.Filters) -> str | None:
    """The session of a filter that is exactly ``session_id == S``."""
    if len(where) == 1 and len(where[0]) == 1:
        [condition] = where[0]
        if condition.field == "session_id" and condition.op is filters.Op.EQ and keys.is_taggable(str(condition.value)):
            return str(condition.value)
    return None


async def id_sorted_page(redis: Redis, hash_key: str, query: filters.ListQuery) -> tuple[list[Any], int]:
    """A page of one session's records sorted by their id, the official
    client's default order: the ids alone are fetched and sorted, then only
    the page's records, instead of decoding every record of the session
    (100,000 tasks: seconds -> tens of milliseconds)."""
    ids = sorted(text(i) for i in await redis.hkeys(hash_key))
    if query.sort is not None and query.sort.descending:
        ids.reverse()
    start = query.page * query.page_size
    wanted = ids[start : start + query.page_size]
    values = await redis.hmget(hash_key, wanted) if wanted else []
    return [json.loads(v) for v in values if v is not None], len(ids)
