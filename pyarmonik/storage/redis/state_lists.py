"""Lists and counts of the Redis state store.

Pages the sorted indexes of the sessions answer are read by ``state_pages``
first; the rest come here. Lists load records and leave filtering, sorting
and paging to ``filters.apply``, which defines what a query means. What they
load is narrowed first: the sessions a filter pins (``filters.session_ids_in``),
and, where every clause also pins a status, only the tasks of those
statuses (from the session's status index). Counts of whole sessions come
from the status index alone, and the counts of the whole store
(``status_counts``, for metrics) from the counters the functions keep: no
record is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from pyarmonik.core import filters
from pyarmonik.core.models import Result, Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, reads
from pyarmonik.storage.redis.library import Library, text

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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def _whole_tasks(redis: Redis, library: Library, session_ids: Sequence[str]) -> list[Task]:
    found: list[Task] = []
    for session_id in session_ids:
        ids = await redis.zrange(keys.TASK_IDS(session_id), 0, -1)
        found += await reads.session_tasks(library, session_id, ids)
    return found


async def scan_tasks(redis: Redis, library: Library, where: filters.Filters) -> list[Task]:
    """Every task ``where`` may match (a superset: the caller filters)."""
    sources = _sources(where)
    if sources is None:
        return await _whole_tasks(redis, library, await session_ids(redis, where))
    whole = sorted({s for s, status in sources if status is None and keys.is_taggable(s)})
    in_status = sorted({(s, st) for s, st in sources if st is not None and s not in whole and keys.is_taggable(s)})
    found = await _whole_tasks(redis, library, whole)
    for session_id, status in in_status:
        ids = await redis.zrangebyscore(keys.TASK_STATUSES(session_id), status, status)  # type: ignore[arg-type]
        found += await reads.session_tasks(library, session_id, ids)
    return found


async def total_tasks(redis: Redis, session_ids: Sequence[str]) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            pipe.zcard(keys.TASK_IDS(session_id))
        return sum(await pipe.execute())


async def scan_results(redis: Redis, library: Library, where: filters.Filters) -> list[Result]:
    found: list[Result] = []
    for session_id in await session_ids(redis, where):
        ids = await redis.zrange(keys.RESULT_IDS(session_id), 0, -1)
        found += await reads.session_results(library, session_id, ids)
    return found


async def count_by_status(redis: Redis, session_ids: Sequence[str]) -> dict[TaskStatus, int]:
    """Tasks of each status in these sessions, from the status indexes."""
    async with redis.pipeline(transaction=False) as pipe:
        for session_id in session_ids:
            for status in _STATUSES:
                pipe.zcount(keys.TASK_STATUSES(session_id), int(status), int(status))
        replies = await pipe.execute()
    counts: dict[TaskStatus, int] = {}
    for position, count in enumerate(replies):
        if count:
            status = _STATUSES[position % len(_STATUSES)]
            counts[status] = counts.get(status, 0) + count
    return counts


async def status_counts(redis: Redis) -> ports.StatusCounts:
    """Tasks by (partition, status) and results by status over the whole
    store, from the counters the functions keep per partition: a few
    HGETALLs, whatever the number of sessions or tasks."""
    partitions = sorted({text(p) for p in await redis.hkeys(keys.PARTITIONS)}
                        | {text(p) for p in await redis.smembers(keys.QUEUE_REGISTRY)})  # fmt: skip
    async with redis.pipeline(transaction=False) as pipe:
        for partition_id in partitions:
            pipe.hgetall(keys.COUNTS(partition_id))
        pipe.hgetall(keys.RESULT_COUNTS)
        *by_partition, by_result = await pipe.execute()
    tasks = {
        (partition_id, TaskStatus(int(status))): int(count)
        for partition_id, reply in zip(partitions, by_partition)
        for status, count in reply.items()
        if int(count) > 0
    }
    results = {ResultStatus(int(status)): int(count) for status, count in by_result.items() if int(count) > 0}
    return ports.StatusCounts(tasks=tasks, results=results)
