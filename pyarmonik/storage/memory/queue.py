"""In-memory task queue: one priority heap per partition, leases in a dict.

Ordering: higher priority first, FIFO inside a priority (a sequence number
taken at push). A released item keeps its sequence number, so it is served
again before the items of its priority that were pushed after it.

Leases are identified by (partition, task id, agent id). Expiry is measured
with the injected ``clock`` (so tests can use a fake one); ``pop``'s
``timeout`` is measured with the event loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pyarmonik.storage.ports import Lease, QueuedTask

_LeaseKey = tuple[str, str, str]
# (-priority, sequence, item): heapq pops the smallest, i.e. highest priority, oldest.
_Entry = tuple[int, int, QueuedTask]


@dataclass(slots=True)
class _Held:
    lease: Lease
    sequence: int


def _key(lease: Lease) -> _LeaseKey:
    return (lease.partition_id, lease.item.task_id, lease.agent_id)


class MemoryTaskQueue:
    """``TaskQueue`` kept in process memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._heaps: dict[str, list[_Entry]] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self._leases: dict[_LeaseKey, _Held] = {}
        self._sequence = itertools.count()

    # -- queue --------------------------------------------------------------
    async def push(self, partition_id: str, items: Sequence[QueuedTask]) -> None:
        if not items:
            return
        heap = self._heaps.setdefault(partition_id, [])
        for item in items:
            heapq.heappush(heap, (-item.priority, next(self._sequence), item))
        self._wake(partition_id, len(items))

    async def pop(self, partition_id: str, *, agent_id: str, lease_seconds: float, timeout: float) -> Lease | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            lease = self._take(partition_id, agent_id, lease_seconds)
            if lease is not None:
                return lease
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            timer = loop.call_later(remaining, _resolve, waiter)
            waiters = self._waiters.setdefault(partition_id, deque())
            waiters.append(waiter)
            try:
                await waiter  # resolved by a push, a release or the timer
            except asyncio.CancelledError:
                # We may have been woken for an item we will never take: pass it on.
                if self._heaps.get(partition_id):
                    self._wake(partition_id, 1)
                raise
            finally:
                timer.cancel()
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
                if not waiters and self._waiters.get(partition_id) is waiters:
                    del self._waiters[partition_id]

    async def depth(self, partition_id: str) -> int:
        return len(self._heaps.get(partition_id, ()))

    async def leased(self, partition_id: str) -> int:
        return sum(1 for key in self._leases if key[0] == partition_id)

    # -- leases -------------------------------------------------------------
    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease | None:
        held = self._held(lease)
        if held is None:
            return None
        held.lease = replace(held.lease, expires_at=self._clock() + lease_seconds)
        return held.lease

    async def ack(self, lease: Lease) -> bool:
        if self._held(lease) is None:
            return False
        del self._leases[_key(lease)]
        return True

    async def release(self, lease: Lease) -> None:
        held = self._held(lease)
        if held is None:
            return  # lost: already reaped, the reaper's caller decides its fate
        del self._leases[_key(lease)]
        item = held.lease.item
        heapq.heappush(self._heaps.setdefault(lease.partition_id, []), (-item.priority, held.sequence, item))
        self._wake(lease.partition_id, 1)

    async def reap_expired(self, *, now: float) -> list[Lease]:
        expired = [key for key, held in self._leases.items() if held.lease.expires_at <= now]
        reaped = [self._leases.pop(key).lease for key in expired]
        reaped.sort(key=lambda lease: lease.expires_at)
        return reaped

    # -- internals ----------------------------------------------------------
    def _take(self, partition_id: str, agent_id: str, lease_seconds: float) -> Lease | None:
        heap = self._heaps.get(partition_id)
        if not heap:
            return None
        _, sequence, item = heapq.heappop(heap)
        if not heap:
            del self._heaps[partition_id]
        lease = Lease(item=item, partition_id=partition_id, agent_id=agent_id, expires_at=self._clock() + lease_seconds)
        self._leases[_key(lease)] = _Held(lease, sequence)
        return lease

    def _held(self, lease: Lease) -> _Held | None:
        held = self._leases.get(_key(lease))
        if held is None or held.lease.item != lease.item:
            return None
        return held

    def _wake(self, partition_id: str, count: int) -> None:
        waiters = self._waiters.get(partition_id)
        while waiters and count > 0:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
