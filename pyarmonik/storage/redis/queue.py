"""The upkeep of the Redis partition queues: leases, depth, wake-ups.

Tasks enter a queue in the functions that make them ready and leave it in
a claim (``dispatch``); the layout and the dispatch order are
``lua/lib_queue.lua``'s. What is left here:

- leases: a claimed task's lease is renewed by its agent (``renew``, every
  lease of an agent's partition in one call) and, once expired, taken by
  a reaper (``reap_expired``) that hands it to the lifecycle to settle and
  then forgets it (``forget_reaped``): a reaper that stops in between
  leaves it to the next one after ``retry_after``;
- depth: the partition's runnable tasks, its SUBMITTED count (the
  functions keep each partition's tasks by status as statuses change), so
  cancelled or paused work never counts; leased: the tasks agents hold;
  key loads: queued and running tasks per fairness key (``pa_fair_load``:
  a walk of the partition's entries, for metrics);
- waiting: a claim that finds nothing blocks (``BLPOP``) on the partition's
  wake-up list, which the functions that queue tasks fill. A wake-up only
  means "try again": a lost or stale one costs latency, never a task, and
  every wait is bounded.

Time is the injected ``clock``'s; Redis ``TIME`` is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from pyarmonik.core.fairshare import KeyLoad
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys
from pyarmonik.storage.redis.library import Arg, Library, request_id, text
from pyarmonik.storage.redis.records import time_text

#: The most leases one reap call removes; bigger backlogs take several calls.
REAP_BATCH = 500
#: Leases or sessions one step of a key-load walk reads (a few ms of Redis).
FAIR_LOAD_STEP = 500
#: ``BLPOP`` takes 0 as "forever": shorter waits are rounded up to this.
MIN_BLOCK_SECONDS = 0.001
#: Bound on passing on a wake-up token when a waiting claim is cancelled.
WAKE_ON_CANCEL_SECONDS = 1.0

_STATES = {0: ports.LeaseState.LOST, 1: ports.LeaseState.HELD, 2: ports.LeaseState.CANCELLING}


def lease_member(lease: ports.Lease) -> str:
    return f"{lease.item.session_id}\t{lease.item.task_id}"


class RedisTaskQueue:
    """``TaskQueue`` shared by every process that uses the same Redis."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._library = Library.of(redis)
        self._clock = clock

    async def renew(
        self, partition_id: str, *, agent_id: str, leases: Sequence[ports.Lease], lease_seconds: float
    ) -> list[ports.LeaseState]:
        if not leases:
            return []
        expires_at = time_text(self._clock() + lease_seconds)
        members = [lease_member(lease) for lease in leases]
        states = await self._library.call("pa_renew", [partition_id, agent_id, expires_at, *members])
        return [_STATES[int(s)] for s in states]  # type: ignore[call-overload]

    async def reap_expired(self, *, now: float, retry_after: float = ports.REAP_RETRY_SECONDS) -> list[ports.Lease]:
        partitions = sorted(text(p) for p in await self._redis.smembers(keys.QUEUE_REGISTRY))
        reaped: list[ports.Lease] = []
        for partition_id in partitions:
            while True:
                retry_at = time_text(now + retry_after)
                reply = await self._library.call(
                    "pa_reap", [partition_id, time_text(now), REAP_BATCH, retry_at, request_id()]
                )
                for session, task_id, agent in zip(reply[::3], reply[1::3], reply[2::3]):
                    item = ports.QueuedTask(text(task_id), text(session), 0)
                    reaped.append(ports.Lease(item, partition_id, text(agent), now))
                if len(reply) < 3 * REAP_BATCH:
                    break
        return reaped

    async def forget_reaped(self, leases: Sequence[ports.Lease]) -> None:
        by_partition: dict[str, list[str]] = {}
        for lease in leases:
            by_partition.setdefault(lease.partition_id, []).append(lease_member(lease))
        for partition_id, members in by_partition.items():
            for start in range(0, len(members), REAP_BATCH):
                await self._library.call("pa_forget_reaped", [partition_id, *members[start : start + REAP_BATCH]])

    async def depth(self, partition_id: str) -> int:
        return max(int(await self._redis.hget(keys.COUNTS(partition_id), str(int(TaskStatus.SUBMITTED))) or 0), 0)

    async def leased(self, partition_id: str) -> int:
        return int(await self._redis.zcard(keys.LEASES(partition_id)))

    async def key_loads(self, partition_id: str) -> list[KeyLoad]:
        found: dict[str, KeyLoad] = {}
        cursor: list[Arg] = [0, 0, 0]
        while True:  # in steps of FAIR_LOAD_STEP leases or sessions: Redis serves others between them
            reply = await self._library.call("pa_fair_load", [partition_id, *cursor, FAIR_LOAD_STEP])
            cursor = [int(part) for part in reply[:3]]  # type: ignore[call-overload]
            loads: list[Any] = reply[3:]  # key, queued, running, capped: texts of whole numbers
            for counted, queued, running, capped in zip(loads[::4], loads[1::4], loads[2::4], loads[3::4]):
                key = text(counted)[1:]  # after its kind: the session, application or user
                seen = found.get(key, KeyLoad(key, 0, 0))
                found[key] = KeyLoad(
                    key,
                    seen.queued + int(queued),
                    seen.running + int(running),
                    seen.capped or int(capped) == 1,
                )
            if cursor[0] == 3:
                return list(found.values())


async def wait_for_push(
    redis: Redis, library: Library, partition_id: str, seconds: float, *, stop: asyncio.Event | None = None
) -> bool:
    """Waits up to ``seconds`` for a wake-up token of the partition (tasks
    may be ready), or until ``stop`` is set; whether a token came."""
    waiting: asyncio.Future[Any] = asyncio.ensure_future(
        redis.blpop([keys.WAKE(partition_id)], timeout=max(seconds, MIN_BLOCK_SECONDS))  # type: ignore[arg-type]
    )
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    watched: set[asyncio.Future[Any]] = {waiting} if stopping is None else {waiting, stopping}
    try:
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await _abandon(waiting, library, partition_id)
        raise
    finally:
        if stopping is not None:
            stopping.cancel()
    if not waiting.done():
        await _abandon(waiting, library, partition_id)
        return False
    return waiting.result() is not None


async def _abandon(waiting: asyncio.Future[Any], library: Library, partition_id: str) -> None:
    """Cancels a wait; a wake-up token it may have taken is passed on."""
    waiting.cancel()
    with contextlib.suppress(BaseException):
        await waiting
    with contextlib.suppress(Exception):
        await asyncio.wait_for(library.call("pa_wake", [partition_id]), WAKE_ON_CANCEL_SECONDS)
