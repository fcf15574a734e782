"""The Redis functions dispatch in the order of the fair-share rule's pure
model (``pyarmonik.core.fair_queue``): each scenario runs on both, through
the state store and the agent's claims, and the two orders must be equal."""

from __future__ import annotations

import collections

import pytest
import redis.asyncio

from pyarmonik.core import fair_queue, fairshare
from pyarmonik.core.fair_queue import SessionInfo
from pyarmonik.core.fairshare import KeyLoad
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage.redis import keys, queue
from pyarmonik.storage.redis.queue import RedisTaskQueue
from tests.fair_queue_driver import PARTITION, Driver

pytestmark = pytest.mark.integration
EPOCH = fair_queue.FIFO_EPOCH


async def driver(client: redis.asyncio.Redis, config: fairshare.FairShare = fairshare.DEFAULT) -> Driver:
    built = Driver(client, config)
    await built.start()
    return built


def same(orders: tuple[list[str], list[str]]) -> list[str]:
    redis_order, model_order = orders
    assert redis_order == model_order
    return redis_order


async def test_sessions_in_turn_and_strict_priorities_match_the_model(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client)
    for name in ("b", "a", "c"):
        await d.session(name)
    await d.push("b", 1, 5)
    await d.push("a", 1, 3)
    assert same(await d.pop(2))[0] == "a0"  # joined at the same virtual time: by name
    await d.push("c", 3, 2)
    await d.push("c", 1, 4)
    order = same(await d.pop(100))
    assert order[:2] == ["c0", "c1"] and len(order) == 12
    assert await redis_client.zcard(keys.ROTATION(PARTITION)) == 0


async def test_session_weights_1_2_4_give_shares_1_2_4_as_the_model_does(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client)
    for name, weight in (("a", 1.0), ("b", 2.0), ("c", 4.0)):
        await d.session(name, SessionInfo(weight=weight))
        await d.push(name, 1, 60)
    order = same(await d.pop(70))
    assert collections.Counter(t[0] for t in order) == {"a": 10, "b": 20, "c": 40}


async def test_partition_weights_by_user_and_application_keys_match_the_model(
    redis_client: redis.asyncio.Redis,
) -> None:
    d = await driver(redis_client, fairshare.fair_share(key="user", weights={"bob": 3, "*": 0.5}))
    for name, owner in (("a", "alice"), ("b", "alice"), ("c", "bob"), ("d", "")):
        await d.session(name, SessionInfo(owner=owner))
        await d.push(name, 2, 10)
    same(await d.pop(15))
    await d.push("a", 2, 5)
    await d.pause("b")
    same(await d.pop(100))
    await redis_client.flushdb()
    d = await driver(redis_client, fairshare.fair_share(key="application", weights={"risk": 1.5}))
    for name, app in (("a", "risk"), ("b", "risk"), ("c", "pricing")):
        await d.session(name, SessionInfo(application=app))
        await d.push(name, 1, 8)
    same(await d.pop(100))


async def test_caps_park_and_resume_keys_as_the_model_does(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client, fairshare.fair_share(key="user", caps={"alice": 2, "*": 3}))
    for name, owner in (("a", "alice"), ("b", "alice"), ("c", "carol")):
        await d.session(name, SessionInfo(owner=owner))
        await d.push(name, 1, 6)
    await d.push("a", 3, 2)
    held = same(await d.pop(10, finish=False))
    assert sorted(t[0] for t in held) == ["a", "a", "c", "c", "c"]  # alice at 2, carol at 3
    assert await redis_client.hgetall(keys.RUNNING(PARTITION)) == {b"ualice": b"2", b"ucarol": b"3"}
    await d.finish(held[0])
    await d.give_back(held[-1])
    held += same(await d.pop(10, finish=False))
    for task_id in held:
        await d.finish(task_id)
    same(await d.pop(100))
    assert await redis_client.hgetall(keys.RUNNING(PARTITION)) == {}


async def test_fifo_mode_serves_arrival_order_as_the_model_does(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client, fairshare.fair_share(mode="fifo"))
    for name in ("f", "s", "u"):
        await d.session(name)
    await d.push("f", 1, 4, at=EPOCH + 10)
    await d.push("s", 1, 2, at=EPOCH + 11)
    await d.push("f", 1, 1, at=EPOCH + 12)
    await d.push("u", 2, 1, at=EPOCH + 13)
    assert same(await d.pop(100)) == ["u0", "f0", "f1", "f2", "f3", "s0", "s1", "f4"]


async def test_a_task_given_back_and_a_paused_session_leave_both_in_step(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client, fairshare.fair_share(weights={"*": 2}))
    for name in ("a", "b", "c"):
        await d.session(name)
        await d.push(name, 1, 4)
    [first] = same(await d.pop(1, finish=False))
    await d.give_back(first)
    same(await d.pop(3))
    await d.pause("b")
    assert not [t for t in same(await d.pop(100)) if t.startswith("b")]
    assert await redis_client.exists(keys.QUEUED("b")) == 0


@pytest.mark.parametrize("step", [500, 1, 2, 3])
async def test_key_loads_count_queued_and_running_tasks_per_key_parked_ones_included(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    monkeypatch.setattr(queue, "FAIR_LOAD_STEP", step)  # the walk in steps adds up to the same
    d = await driver(redis_client, fairshare.fair_share(key="user", caps={"alice": 1}))
    for name, owner in (("a", "alice"), ("b", "alice"), ("c", "carol"), ("d", "dave"), ("e", "dave")):
        await d.session(name, SessionInfo(owner=owner))
        await d.push(name, 1, 3)
    same(await d.pop(3, finish=False))
    loads = {load.key: load for load in await RedisTaskQueue(redis_client).key_loads(PARTITION)}
    assert loads == {
        "alice": KeyLoad("alice", queued=5, running=1, capped=True),
        "carol": KeyLoad("carol", queued=2, running=1),
        "dave": KeyLoad("dave", queued=5, running=1),
    }
    assert await RedisTaskQueue(redis_client).key_loads("nowhere") == []


@pytest.mark.parametrize("weight", [None, 2.0])
async def test_virtual_times_past_half_a_band_move_back_without_changing_the_order(
    redis_client: redis.asyncio.Redis, weight: float | None
) -> None:
    d = await driver(redis_client)
    for name in ("a", "b"):
        await d.session(name, SessionInfo(weight=weight))
        await d.push(name, 1, 30)
    base = fair_queue.band(1)
    for offset, member in enumerate(sorted(d.model.rotation)):  # both near the top of their band
        score = base + fair_queue.HALF - 3 + offset
        d.model.rotation[member] = score
        await redis_client.zadd(keys.ROTATION(PARTITION), {member: score})
    same(await d.pop(30))
    scores = [s for _, s in await redis_client.zrange(keys.ROTATION(PARTITION), 0, -1, withscores=True)]
    assert all(base <= s < base + 100 for s in scores), scores  # moved back near the band's start


async def test_a_paused_session_leaves_its_key_at_once_and_comes_back_on_resume(
    redis_client: redis.asyncio.Redis,
) -> None:
    d = await driver(redis_client, fairshare.fair_share(key="user"))
    for name in ("a", "b"):
        await d.session(name, SessionInfo(owner="alice"))
        await d.push(name, 1, 3)
    sessions = keys.KEY_SESSIONS(PARTITION, "1", "ualice")
    every = frozenset(SessionStatus)
    await d.state.update_session("a", allowed_from=every, status=SessionStatus.PAUSED, at=2.0)
    await d.state.pause_session_tasks("a", at=2.0)
    assert await redis_client.lrange(sessions, 0, -1) == [b"b"]  # alice's entry stays: b is queued
    await d.state.update_session("b", allowed_from=every, status=SessionStatus.CANCELLED, at=2.0)
    assert await redis_client.zcard(keys.ROTATION(PARTITION)) == 0  # no session left in it: gone
    assert await redis_client.exists(sessions, keys.KEY_ENTRIES(PARTITION), keys.QUEUED("a")) == 0
    await d.state.update_session("a", allowed_from=every, status=SessionStatus.RUNNING, at=3.0)
    await d.state.resume_session_tasks("a", at=3.0)
    assert await redis_client.lrange(sessions, 0, -1) == [b"a"]
    claims = await d.dispatch.claim(
        PARTITION, agent_id="agent", hostname="h", lease_seconds=5, count=5, start_first=True, timeout=0
    )
    assert sorted(c.task_id for c in claims) == ["a0", "a1", "a2"]


async def test_a_plain_session_keeps_whole_scores_beside_a_weighted_one(redis_client: redis.asyncio.Redis) -> None:
    d = await driver(redis_client)
    await d.session("w", SessionInfo(weight=3.0))
    await d.push("w", 1, 20)
    same(await d.pop(4))  # w's virtual time is fractional now
    await d.session("p")
    await d.push("p", 1, 20)  # joins at the band's smallest time, rounded down
    same(await d.pop(20))
    scores = dict(await redis_client.zrange(keys.ROTATION(PARTITION), 0, -1, withscores=True))
    assert scores[b"1\tp"] == int(scores[b"1\tp"])  # so that one pop in ten can look for an overflow
