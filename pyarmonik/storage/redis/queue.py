"""Redis task queue: one sorted set per partition, leases beside it.

Invariants, each kept by one Lua script (``lua/``, keys from ``keys``):

- Order: an item's score is ``-priority * 2**40 + seq``, ``seq`` taken from a
  per-partition counter at push, so the lowest score is the highest priority,
  oldest first. Scores are doubles: ``|priority| < 4096`` and ``seq < 2**40``
  keep them below ``2**52``, exact. A released item keeps its score, so it is
  served again before the items of its priority pushed after it.
- At-least-once: a pop moves the item from the ready set into a lease (a
  unique token, the agent, the expiry) in one script; it leaves the queue only
  by ack, returns by release, and an expired lease is handed to the reaper's
  caller, never silently queued again.
- Time is the injected ``clock``'s (leases) and the event loop's (``pop``'s
  timeout); Redis ``TIME`` is never used, and times travel as exact decimal
  strings.
- Once per call: push, pop and reap take a fresh reply key last, so a call
  redis-py sends again after a broken connection gets the first run's reply
  (a pop run twice would lease a second item and lose the first; a reap,
  return nothing for the leases the first run removed). Renew, ack and
  release are idempotent: run again, they change nothing.
- Waiting: a pop that finds nothing blocks (``BLPOP``) on the partition's
  wake-up list, which push and release fill with tokens; an empty queue drops
  stale tokens and a pop that leaves items behind passes a token on. A wake-up
  only means "try again", so a lost or stale token costs latency, never an
  item, and every wait is bounded by the pop's timeout.

The Redis client must have a connection pool (not ``single_connection_client``):
a waiting pop holds a connection while it blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from redis.asyncio import Redis

from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, scripts

#: Priorities must stay below this in magnitude for scores to be exact doubles.
PRIORITY_LIMIT = 4096
#: The most wake-up tokens a partition keeps: waiters woken at once by a push.
WAKE_TOKENS = 128
#: The most leases one reap script removes; bigger backlogs take several calls.
REAP_BATCH = 500
#: ``BLPOP`` takes 0 as "forever": shorter waits are rounded up to this.
MIN_BLOCK_SECONDS = 0.001
#: Bound on passing on a wake-up token when a waiting pop is cancelled.
WAKE_ON_CANCEL_SECONDS = 1.0


class RedisTaskQueue:
    """``TaskQueue`` shared by every process that uses the same Redis."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._scripts = scripts.QueueScripts.register(redis)

    # -- queue --------------------------------------------------------------
    async def push(self, partition_id: str, items: Sequence[ports.QueuedTask]) -> None:
        if not items:
            return
        k = keys.queue(partition_id)
        args: list[str | int] = [WAKE_TOKENS]
        for item in items:
            args += [_checked_priority(item.priority), _encode_item(item)]
        async with self._redis.pipeline(transaction=False) as pipe:
            # Registered first, so the reaper knows the partition before any
            # of its items can be leased.
            pipe.sadd(keys.QUEUE_REGISTRY, partition_id)
            await self._scripts.push(keys=[k.sequence, k.ready, k.wake, _request(k)], args=args, client=pipe)
            await pipe.execute()

    async def pop(
        self, partition_id: str, *, agent_id: str, lease_seconds: float, timeout: float
    ) -> ports.Lease | None:
        k = keys.queue(partition_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            lease = await self._take(partition_id, k, agent_id, lease_seconds)
            if lease is not None:
                return lease
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await self.wait_for_push(partition_id, remaining)

    async def depth(self, partition_id: str) -> int:
        k = keys.queue(partition_id)
        return int(await self._scripts.depth(keys=[k.ready]))

    async def leased(self, partition_id: str) -> int:
        # One read of one key: no transition, so no script.
        return int(await self._redis.hlen(keys.queue(partition_id).leases))

    # -- leases -------------------------------------------------------------
    async def renew(self, lease: ports.Lease, *, lease_seconds: float) -> ports.Lease | None:
        if not lease.token:
            return None
        k = keys.queue(lease.partition_id)
        expires_at = self._clock() + lease_seconds
        renewed = await self._scripts.renew(
            keys=[k.leases, k.expiry], args=[lease.token, lease.agent_id, time_text(expires_at)]
        )
        return replace(lease, expires_at=expires_at) if int(renewed) else None

    async def ack(self, lease: ports.Lease) -> bool:
        if not lease.token:
            return False
        k = keys.queue(lease.partition_id)
        return bool(int(await self._scripts.ack(keys=[k.leases, k.expiry], args=[lease.token, lease.agent_id])))

    async def release(self, lease: ports.Lease) -> None:
        if not lease.token:
            return
        k = keys.queue(lease.partition_id)
        # A lost lease (already reaped) is not given back: its reaper decides.
        await self._scripts.release(
            keys=[k.ready, k.leases, k.expiry, k.wake], args=[lease.token, lease.agent_id, WAKE_TOKENS]
        )

    async def reap_expired(self, *, now: float) -> list[ports.Lease]:
        partitions = sorted(_text(p) for p in await self._redis.smembers(keys.QUEUE_REGISTRY))
        reaped: list[ports.Lease] = []
        for partition_id in partitions:
            reaped += await self._reap_partition(partition_id, now)
        reaped.sort(key=lambda lease: lease.expires_at)
        return reaped

    # -- internals ----------------------------------------------------------
    async def _take(
        self, partition_id: str, k: keys.QueueKeys, agent_id: str, lease_seconds: float
    ) -> ports.Lease | None:
        token = uuid.uuid4().hex
        expires_at = self._clock() + lease_seconds
        call = asyncio.ensure_future(
            self._scripts.pop(
                keys=[k.ready, k.leases, k.expiry, k.wake, _request(k)], args=[token, agent_id, time_text(expires_at)]
            )
        )

        def leased(popped: object) -> ports.Lease | None:
            if not popped:
                return None
            return ports.Lease(
                item=_decode_member(_text(popped[0])),  # type: ignore[index]
                partition_id=partition_id,
                agent_id=agent_id,
                expires_at=expires_at,
                token=token,
            )

        try:
            return leased(await asyncio.shield(call))
        except asyncio.CancelledError:
            # Cancelled while the script ran: what it leased to us goes back at
            # once (another waiting pop takes it), not after its lease expires.
            with contextlib.suppress(Exception):
                lease = leased(await call)
                if lease is not None:
                    await self.release(lease)
            raise

    async def wait_for_push(self, partition_id: str, seconds: float) -> None:
        """Waits up to ``seconds`` for a wake-up token of the partition: items
        may be ready (``dispatch`` waits on the same tokens)."""
        k = keys.queue(partition_id)
        try:
            await self._redis.blpop([k.wake], timeout=max(seconds, MIN_BLOCK_SECONDS))
        except asyncio.CancelledError:
            # We may have taken a wake-up token we will never use: pass it on.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._scripts.wake(keys=[k.ready, k.wake], args=[WAKE_TOKENS]), WAKE_ON_CANCEL_SECONDS
                )
            raise

    async def _reap_partition(self, partition_id: str, now: float) -> list[ports.Lease]:
        k = keys.queue(partition_id)
        reaped: list[ports.Lease] = []
        while True:
            flat = await self._scripts.reap(keys=[k.leases, k.expiry, _request(k)], args=[time_text(now), REAP_BATCH])
            for token, raw in zip(flat[::2], flat[1::2]):
                member, _score, agent_id, expires_at = json.loads(_text(raw))
                reaped.append(
                    ports.Lease(
                        item=_decode_member(member),
                        partition_id=partition_id,
                        agent_id=agent_id,
                        expires_at=float(expires_at),
                        token=_text(token),
                    )
                )
            if len(flat) < 2 * REAP_BATCH:
                return reaped


def _request(k: keys.QueueKeys) -> str:
    """The reply key of one call of a replayable queue script."""
    return scripts.request_key(k.replies)


def _checked_priority(priority: int) -> int:
    if not -PRIORITY_LIMIT < priority < PRIORITY_LIMIT:
        raise ValueError(f"priority {priority} out of the queue's range (|priority| < {PRIORITY_LIMIT})")
    return int(priority)


def _encode_item(item: ports.QueuedTask) -> str:
    return json.dumps([item.task_id, item.session_id, item.priority], separators=(",", ":"))


def _decode_member(member: str) -> ports.QueuedTask:
    """A ready-set member is ``<seq>:<item JSON>``."""
    task_id, session_id, priority = json.loads(member.partition(":")[2])
    return ports.QueuedTask(task_id=task_id, session_id=session_id, priority=int(priority))


def time_text(seconds: float) -> str:
    """Exact decimal text of a float (``repr`` round-trips), for Lua and Redis."""
    return repr(float(seconds))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
