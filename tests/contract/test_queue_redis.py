"""The Redis task queue against the TaskQueue contract, plus what only a
shared queue can show: several processes (clients) on one Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from pyarmonik.storage.redis import keys, scripts
from pyarmonik.storage.redis.queue import PRIORITY_LIMIT, RedisTaskQueue
from tests.helpers import wait_for_async

from .queue_contract import LEASE, WAIT, FakeClock, PopsWaiting, Start, TaskQueueContract, item, pop, pop_ids

pytestmark = pytest.mark.integration


@pytest.fixture
async def other_client(redis_client: redis.asyncio.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    """A second client of the same database: another process's connection."""
    kwargs = redis_client.connection_pool.connection_kwargs
    client = redis.asyncio.Redis(host=kwargs["host"], port=kwargs["port"], db=kwargs.get("db", 0))
    try:
        yield client
    finally:
        await client.aclose()


async def blocked_clients(client: redis.asyncio.Redis) -> int:
    """Clients blocked in Redis: the waiting pops, each in its BLPOP."""
    return int((await client.info("clients"))["blocked_clients"])


class TestRedisTaskQueue(TaskQueueContract):
    @pytest.fixture
    def queue(self, redis_client: redis.asyncio.Redis, clock: FakeClock) -> RedisTaskQueue:
        return RedisTaskQueue(redis_client, clock=clock)

    @pytest.fixture
    def pops_waiting(self, other_client: redis.asyncio.Redis) -> PopsWaiting:
        async def count() -> int:
            return await blocked_clients(other_client)

        return count

    async def test_two_queue_instances_on_one_redis_share_the_queue(
        self, queue: RedisTaskQueue, other_client: redis.asyncio.Redis, clock: FakeClock
    ) -> None:
        other = RedisTaskQueue(other_client, clock=clock)
        await queue.push("p", [item("a"), item("b")])
        assert await other.depth("p") == 2
        lease = await pop(other, agent_id="other")
        assert lease is not None and lease.item.task_id == "a"
        assert await queue.ack(lease) is True  # a lease is valid on any instance
        assert await pop_ids(queue, 1) == ["b"]

    async def test_a_pop_waiting_in_one_process_is_woken_by_a_push_from_another(
        self, queue: RedisTaskQueue, other_client: redis.asyncio.Redis, clock: FakeClock, started: Start
    ) -> None:
        other = RedisTaskQueue(other_client, clock=clock)
        waiting = await started(pop(queue, timeout=WAIT))
        await other.push("p", [item("t")])
        lease = await asyncio.wait_for(waiting, WAIT)
        assert lease is not None and lease.item == item("t")

    async def test_leases_expired_in_one_process_are_reaped_by_another_once(
        self, queue: RedisTaskQueue, other_client: redis.asyncio.Redis, clock: FakeClock
    ) -> None:
        other = RedisTaskQueue(other_client, clock=clock)
        await queue.push("p1", [item("one")])
        await queue.push("p2", [item("two")])
        assert await pop(queue, "p1") is not None and await pop(queue, "p2") is not None
        clock.advance(LEASE)
        reaped = await asyncio.gather(other.reap_expired(now=clock()), queue.reap_expired(now=clock()))
        assert sorted(lease.item.task_id for lease in reaped[0] + reaped[1]) == ["one", "two"]

    async def test_many_waiting_pops_share_many_pushed_items(
        self, queue: RedisTaskQueue, other_client: redis.asyncio.Redis
    ) -> None:
        waiting = [asyncio.ensure_future(pop(queue, agent_id=f"a{i}", timeout=WAIT)) for i in range(40)]

        async def all_waiting() -> bool:
            return await blocked_clients(other_client) == 40

        await wait_for_async(all_waiting, WAIT)
        await queue.push("p", [item(f"t{i}") for i in range(40)])
        leases = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
        assert sorted(lease.item.task_id for lease in leases) == sorted(f"t{i}" for i in range(40))

    async def test_a_pop_woken_then_cancelled_passes_the_item_to_another_waiting_pop(
        self, queue: RedisTaskQueue, started: Start
    ) -> None:
        # queue.pop itself, not the ``pop`` helper: its wait_for would add a task in between
        first = await started(queue.pop("p", agent_id="first", lease_seconds=LEASE, timeout=WAIT))
        second = await started(queue.pop("p", agent_id="second", lease_seconds=LEASE, timeout=WAIT))
        await queue.push("p", [item("t")])
        first.cancel()  # perhaps after Redis woke it, before it could take the item
        lease = await asyncio.wait_for(second, WAIT / 2)  # well before its own timeout
        assert lease is not None and lease.agent_id == "second"
        with pytest.raises(asyncio.CancelledError):
            await first

    async def test_a_timed_out_pop_leaves_no_waiter_behind(
        self, queue: RedisTaskQueue, other_client: redis.asyncio.Redis
    ) -> None:
        assert await pop(queue, timeout=0.01) is None
        assert await blocked_clients(other_client) == 0

    async def test_two_leases_of_one_task_by_one_agent_are_told_apart(self, queue: RedisTaskQueue) -> None:
        await queue.push("p", [item("t")])
        first = await pop(queue)
        assert first is not None
        await queue.release(first)
        second = await pop(queue)
        assert second is not None and first.token != second.token
        assert await queue.ack(first) is False
        assert await queue.renew(first, lease_seconds=LEASE) is None
        assert await queue.ack(second) is True

    async def test_a_lease_of_another_agent_is_not_acked(self, queue: RedisTaskQueue) -> None:
        await queue.push("p", [item("t")])
        lease = await pop(queue, agent_id="owner")
        assert lease is not None
        assert await queue.ack(dataclasses.replace(lease, agent_id="intruder")) is False
        assert await queue.ack(lease) is True

    async def test_extreme_priorities_keep_their_order_and_fifo(self, queue: RedisTaskQueue) -> None:
        top, bottom = PRIORITY_LIMIT - 1, -(PRIORITY_LIMIT - 1)
        await queue.push("p", [item("b1", bottom), item("t1", top), item("z1", 0)])
        await queue.push("p", [item("b2", bottom), item("t2", top), item("z2", 0)])
        assert await pop_ids(queue, 6) == ["t1", "t2", "z1", "z2", "b1", "b2"]

    async def test_a_priority_out_of_range_is_refused(self, queue: RedisTaskQueue) -> None:
        with pytest.raises(ValueError, match="priority"):
            await queue.push("p", [item("t", PRIORITY_LIMIT)])
        assert await queue.depth("p") == 0

    async def test_a_big_batch_is_pushed_in_order(self, queue: RedisTaskQueue) -> None:
        await queue.push("p", [item(f"t{i}", i % 3) for i in range(3000)])
        assert await queue.depth("p") == 3000
        ids = await pop_ids(queue, 3000)
        assert ids == [f"t{i}" for p in (2, 1, 0) for i in range(3000) if i % 3 == p]

    async def test_unusual_ids_round_trip(self, queue: RedisTaskQueue) -> None:
        odd = item('t:"é\\n\n', 1, session_id="s:{x}")
        await queue.push("p", [odd])
        lease = await pop(queue, agent_id='agent "ü"')
        assert lease is not None and lease.item == odd
        assert await queue.renew(lease, lease_seconds=LEASE) is not None
        assert await queue.ack(lease) is True

    async def test_a_partition_id_with_braces_is_refused(self, queue: RedisTaskQueue) -> None:
        with pytest.raises(ValueError, match="brace"):
            await queue.push("p}x", [item("t")])

    async def test_lease_times_survive_the_round_trip_exactly(self, redis_client: redis.asyncio.Redis) -> None:
        now = 1718000000.123456789
        queue = RedisTaskQueue(redis_client, clock=lambda: now)
        await queue.push("p", [item("t")])
        lease = await queue.pop("p", agent_id="a", lease_seconds=0.1, timeout=0)
        assert lease is not None and lease.expires_at == now + 0.1
        [reaped] = await queue.reap_expired(now=now + 0.1)
        assert reaped == lease

    async def test_it_works_with_a_client_that_decodes_responses(self, redis_server: str, clock: FakeClock) -> None:
        client = redis.asyncio.Redis.from_url(redis_server, decode_responses=True)
        try:
            queue = RedisTaskQueue(client, clock=clock)
            await queue.push("p", [item("t")])
            lease = await pop(queue)
            assert lease is not None and lease.item == item("t")
            clock.advance(LEASE)
            assert [lease] == await queue.reap_expired(now=clock())
        finally:
            await client.aclose()

    async def test_every_key_of_a_partition_shares_its_hash_tag(
        self, queue: RedisTaskQueue, redis_client: redis.asyncio.Redis
    ) -> None:
        await queue.push("p", [item("t"), item("u")])
        assert await pop(queue) is not None
        names = [name.decode() for name in await redis_client.keys("*")]
        tagged = [name for name in names if name != keys.QUEUE_REGISTRY]
        assert tagged and all("{p}" in name for name in tagged)


@pytest.mark.parametrize("name", scripts.QUEUE_SCRIPTS)
def test_each_lua_script_starts_with_a_header_listing_its_keys_and_arguments(name: str) -> None:
    text = scripts.source(name)
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    assert header, f"{name}.lua has no header comment"
    joined = "\n".join(header)
    assert re.search(r"KEYS\[\d\]", joined) and "ARGV" in joined
