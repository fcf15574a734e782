"""The in-memory task queue against the TaskQueue contract."""

from __future__ import annotations

import asyncio

import pytest

from pyarmonik.storage.memory.queue import MemoryTaskQueue

from .queue_contract import FakeClock, PopsWaiting, Start, TaskQueueContract, item, pop


class TestMemoryTaskQueue(TaskQueueContract):
    @pytest.fixture
    def queue(self, clock: FakeClock) -> MemoryTaskQueue:
        return MemoryTaskQueue(clock=clock)

    @pytest.fixture
    def pops_waiting(self, queue: MemoryTaskQueue) -> PopsWaiting:
        async def count() -> int:
            return sum(len(waiters) for waiters in queue._waiters.values())

        return count

    async def test_a_pop_woken_then_cancelled_passes_the_item_to_another_waiting_pop(
        self, queue: MemoryTaskQueue, started: Start
    ) -> None:
        # queue.pop itself, not the ``pop`` helper: its wait_for would add a task in between
        first = await started(queue.pop("p", agent_id="first", lease_seconds=30, timeout=2))
        second = await started(queue.pop("p", agent_id="second", lease_seconds=30, timeout=2))
        await queue.push("p", [item("t")])  # wakes ``first`` only
        first.cancel()  # before it could run and take the item
        lease = await asyncio.wait_for(second, 0.5)  # well before its own timeout
        assert lease is not None and lease.agent_id == "second"
        with pytest.raises(asyncio.CancelledError):
            await first

    async def test_a_timed_out_pop_leaves_no_waiter_behind(self, queue: MemoryTaskQueue) -> None:
        assert await pop(queue, timeout=0.01) is None
        assert queue._waiters == {}
