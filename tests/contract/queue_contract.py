"""Contract of ``TaskQueue``: every adapter passes these tests.

An adapter's test module subclasses ``TaskQueueContract`` and defines a
``queue`` fixture returning a fresh, empty queue whose leases expire by the
``clock`` fixture (a ``FakeClock``; override ``clock`` if the adapter needs
another time source with an ``advance(seconds)`` method), and a
``pops_waiting`` fixture: an async function counting the pops blocked in the
queue, which ``started`` waits on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from pyarmonik.storage.ports import Lease, QueuedTask, TaskQueue
from tests.helpers import wait_for_async

PopsWaiting = Callable[[], Awaitable[int]]
Start = Callable[[Coroutine[Any, Any, Any]], Awaitable[asyncio.Task[Any]]]

WAIT = 2.0  # bound on every wait for something that should happen
LEASE = 30.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def item(task_id: str, priority: int = 0, session_id: str = "session") -> QueuedTask:
    return QueuedTask(task_id=task_id, session_id=session_id, priority=priority)


async def pop(
    queue: TaskQueue, partition_id: str = "p", *, agent_id: str = "agent", timeout: float = 0
) -> Lease | None:
    return await asyncio.wait_for(
        queue.pop(partition_id, agent_id=agent_id, lease_seconds=LEASE, timeout=timeout), WAIT + timeout
    )


async def pop_ids(queue: TaskQueue, count: int, partition_id: str = "p") -> list[str]:
    ids = []
    for _ in range(count):
        lease = await pop(queue, partition_id)
        assert lease is not None
        ids.append(lease.item.task_id)
    return ids


class TaskQueueContract:
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def started(self, pops_waiting: PopsWaiting) -> Start:
        """Starts a pop and returns its task once the queue counts it waiting."""

        async def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
            before = await pops_waiting()
            task = asyncio.ensure_future(coro)

            async def pop_is_waiting() -> bool:
                assert not task.done(), "the pop ended instead of waiting"
                return await pops_waiting() > before

            await wait_for_async(pop_is_waiting, WAIT)
            return task

        return start

    # -- ordering -----------------------------------------------------------
    async def test_higher_priority_items_are_popped_first(self, queue: TaskQueue) -> None:
        await queue.push("p", [item("low", 1), item("high", 9), item("mid", 5)])
        await queue.push("p", [item("highest", 10)])
        assert await pop_ids(queue, 4) == ["highest", "high", "mid", "low"]

    async def test_items_of_the_same_priority_are_popped_in_push_order(self, queue: TaskQueue) -> None:
        await queue.push("p", [item("a"), item("b")])
        await queue.push("p", [item("c")])
        await queue.push("p", [item("d"), item("e")])
        assert await pop_ids(queue, 5) == ["a", "b", "c", "d", "e"]

    async def test_partitions_are_independent_queues(self, queue: TaskQueue) -> None:
        await queue.push("p1", [item("one", 1)])
        await queue.push("p2", [item("two", 9)])
        first = await pop(queue, "p1")
        assert first is not None and first.item.task_id == "one" and first.partition_id == "p1"
        assert await pop(queue, "p1") is None
        assert await queue.depth("p2") == 1
        second = await pop(queue, "p2")
        assert second is not None and second.item.task_id == "two" and second.partition_id == "p2"

    # -- waiting ------------------------------------------------------------
    async def test_pop_with_a_zero_timeout_on_an_empty_queue_returns_none_at_once(self, queue: TaskQueue) -> None:
        assert await asyncio.wait_for(queue.pop("p", agent_id="a", lease_seconds=LEASE, timeout=0), 0.5) is None

    async def test_pop_on_an_empty_queue_returns_none_once_its_timeout_has_passed(self, queue: TaskQueue) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await pop(queue, timeout=0.05) is None
        assert loop.time() - start >= 0.04

    async def test_a_waiting_pop_is_woken_by_a_push(self, queue: TaskQueue, started: Start) -> None:
        waiting = await started(pop(queue, timeout=WAIT))
        await queue.push("p", [item("t")])
        lease = await asyncio.wait_for(waiting, WAIT)
        assert lease is not None and lease.item == item("t")

    async def test_a_waiting_pop_is_not_woken_by_a_push_to_another_partition(
        self, queue: TaskQueue, started: Start
    ) -> None:
        waiting = await started(pop(queue, "p1", timeout=0.2))
        await queue.push("p2", [item("t")])
        assert await asyncio.wait_for(waiting, WAIT) is None
        assert await queue.depth("p2") == 1

    async def test_two_waiting_pops_each_get_one_of_two_pushed_items(self, queue: TaskQueue, started: Start) -> None:
        first = await started(pop(queue, agent_id="a1", timeout=WAIT))
        second = await started(pop(queue, agent_id="a2", timeout=WAIT))
        await queue.push("p", [item("x"), item("y")])
        leases = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
        assert sorted(lease.item.task_id for lease in leases) == ["x", "y"]

    async def test_a_waiting_pop_is_woken_by_a_release(self, queue: TaskQueue, started: Start) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue, agent_id="first")
        assert lease is not None
        waiting = await started(pop(queue, agent_id="second", timeout=WAIT))
        await queue.release(lease)
        again = await asyncio.wait_for(waiting, WAIT)
        assert again is not None and again.item == item("t") and again.agent_id == "second"

    async def test_a_cancelled_pop_does_not_lose_a_later_item(self, queue: TaskQueue, started: Start) -> None:
        waiting = await started(pop(queue, timeout=WAIT))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await queue.push("p", [item("t")])
        assert await queue.depth("p") == 1
        assert (await pop_ids(queue, 1)) == ["t"]

    # -- leases -------------------------------------------------------------
    async def test_a_lease_names_its_item_partition_agent_and_expiry(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t", 3, session_id="s")])
        lease = await queue.pop("p", agent_id="agent-7", lease_seconds=12.0, timeout=0)
        assert lease is not None
        assert (lease.item, lease.partition_id, lease.agent_id) == (item("t", 3, session_id="s"), "p", "agent-7")
        assert lease.expires_at == pytest.approx(clock() + 12.0)

    async def test_renewing_a_lease_extends_its_expiry(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        clock.advance(10)
        renewed = await queue.renew(lease, lease_seconds=LEASE)
        assert renewed is not None
        assert renewed.item == lease.item and renewed.agent_id == lease.agent_id
        assert renewed.expires_at == pytest.approx(clock() + LEASE)
        assert renewed.expires_at > lease.expires_at

    async def test_a_renewed_lease_is_not_reaped_at_its_first_expiry(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        clock.advance(LEASE - 1)
        renewed = await queue.renew(lease, lease_seconds=LEASE)
        assert renewed is not None
        assert await queue.reap_expired(now=lease.expires_at) == []
        assert await queue.ack(renewed) is True

    async def test_an_unexpired_lease_is_not_reaped(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        assert await queue.reap_expired(now=clock() + LEASE - 1) == []
        assert await queue.renew(lease, lease_seconds=LEASE) is not None

    async def test_an_expired_lease_is_reaped_and_can_then_be_neither_renewed_nor_acked(
        self, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await queue.push("p", [item("t"), item("u")])
        expiring = await pop(queue, agent_id="a1")
        assert expiring is not None
        clock.advance(LEASE / 2)
        kept = await pop(queue, agent_id="a2")
        assert kept is not None
        clock.advance(LEASE / 2)
        reaped = await queue.reap_expired(now=clock())
        assert [(lease.item, lease.agent_id) for lease in reaped] == [(expiring.item, "a1")]
        assert await queue.reap_expired(now=clock()) == []
        assert await queue.renew(expiring, lease_seconds=LEASE) is None
        assert await queue.ack(expiring) is False
        assert await queue.ack(kept) is True

    async def test_reaping_does_not_put_the_item_back_in_the_queue(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        clock.advance(LEASE)
        assert len(await queue.reap_expired(now=clock())) == 1
        assert await queue.depth("p") == 0
        assert await pop(queue) is None
        await queue.release(lease)  # a lost lease is not given back either
        assert await queue.depth("p") == 0

    async def test_a_released_item_is_served_before_later_items_of_its_priority(self, queue: TaskQueue) -> None:
        await queue.push("p", [item("a"), item("b")])
        lease = await pop(queue)
        assert lease is not None and lease.item.task_id == "a"
        await queue.push("p", [item("c")])
        await queue.release(lease)
        assert await pop_ids(queue, 3) == ["a", "b", "c"]

    async def test_a_released_item_still_yields_to_higher_priorities(self, queue: TaskQueue) -> None:
        await queue.push("p", [item("low", 1)])
        lease = await pop(queue)
        assert lease is not None
        await queue.push("p", [item("high", 2)])
        await queue.release(lease)
        assert await pop_ids(queue, 2) == ["high", "low"]

    async def test_a_released_lease_can_no_longer_be_renewed_or_acked(self, queue: TaskQueue) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        await queue.release(lease)
        assert await queue.renew(lease, lease_seconds=LEASE) is None
        assert await queue.ack(lease) is False
        assert await queue.depth("p") == 1

    async def test_depth_counts_queued_items_but_not_leased_ones(self, queue: TaskQueue) -> None:
        assert await queue.depth("p") == 0
        await queue.push("p", [item("a"), item("b"), item("c")])
        assert await queue.depth("p") == 3
        lease = await pop(queue)
        assert lease is not None
        assert await queue.depth("p") == 2
        await queue.release(lease)
        assert await queue.depth("p") == 3
        assert await queue.depth("other") == 0

    async def test_leased_counts_the_items_taken_until_acked_released_or_reaped(
        self, queue: TaskQueue, clock: FakeClock
    ) -> None:
        assert await queue.leased("p") == 0
        await queue.push("p", [item("a"), item("b"), item("c")])
        await queue.push("other", [item("x")])
        acked, released, lost = [await pop(queue, agent_id=f"agent-{n}") for n in range(3)]
        assert acked is not None and released is not None and lost is not None
        assert await pop(queue, "other") is not None
        assert (await queue.depth("p"), await queue.leased("p"), await queue.leased("other")) == (0, 3, 1)
        assert await queue.ack(acked) is True
        await queue.release(released)
        assert (await queue.depth("p"), await queue.leased("p")) == (1, 1)
        clock.advance(LEASE)
        await queue.reap_expired(now=clock())
        assert (await queue.leased("p"), await queue.leased("other")) == (0, 0)

    async def test_an_acked_item_is_gone_for_good(self, queue: TaskQueue, clock: FakeClock) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue)
        assert lease is not None
        assert await queue.ack(lease) is True
        assert await queue.ack(lease) is False
        assert await queue.renew(lease, lease_seconds=LEASE) is None
        await queue.release(lease)
        clock.advance(10 * LEASE)
        assert await queue.reap_expired(now=clock()) == []
        assert await queue.depth("p") == 0
        assert await pop(queue) is None

    async def test_pushing_nothing_is_harmless(self, queue: TaskQueue) -> None:
        await queue.push("p", [])
        assert await queue.depth("p") == 0
