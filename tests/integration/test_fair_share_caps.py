"""A capped key's running count on Redis follows its tasks through every
way a running task stops: commit, failure, retry (and the reaper's retry
and release of a lost agent's tasks), give-back, cancellation, and the
deletion of its session; each frees the key, whose entry rejoins the
rotation. A partition without caps keeps no count at all."""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio

from pyarmonik.core import fairshare, models
from pyarmonik.core.fair_queue import SessionInfo
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import observed, reaper
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import keys
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from tests.fair_queue_driver import AGENT, PARTITION, Driver
from tests.helpers import scraped

pytestmark = pytest.mark.integration
CAPPED = fairshare.fair_share(key="user", caps={"alice": 1})


async def capped_driver(client: redis.asyncio.Redis) -> Driver:
    d = Driver(client, CAPPED)
    await d.start()
    await d.session("a", SessionInfo(owner="alice"))
    await d.push("a", 1, 3)
    return d


async def running(client: redis.asyncio.Redis) -> dict[bytes, bytes]:
    return await client.hgetall(keys.RUNNING(PARTITION))


def claim_of(d: Driver, task_id: str) -> ports.Claim:
    claim = d.claims[task_id]
    assert claim.task is not None
    return claim


async def fail(d: Driver, task_id: str) -> None:
    claim = claim_of(d, task_id)
    await d.dispatch.fail(claim.task, claim.lease, agent_id=AGENT, status=TaskStatus.ERROR, message="x", at=2.0)  # type: ignore[arg-type]


async def retry(d: Driver, task_id: str) -> None:
    claim = claim_of(d, task_id)
    await d.dispatch.retry(claim.task, claim.lease, agent_id=AGENT, message="crashed", at=2.0)  # type: ignore[arg-type]


async def cancel(d: Driver, task_id: str) -> None:
    claim = claim_of(d, task_id)
    await d.state.cancel_tasks([task_id], at=2.0, reason="user")
    assert await running(d.client)  # CANCELLING: it still runs until the agent stops it
    await d.dispatch.cancelled(claim.task, claim.lease, agent_id=AGENT, at=3.0)  # type: ignore[arg-type]


async def delete(d: Driver, task_id: str) -> None:
    await d.state.delete_session("a")


ENDINGS: dict[str, Callable[[Driver, str], Awaitable[None]]] = {
    "commit": lambda d, t: d.finish(t),
    "failure": fail,
    "retry": retry,
    "give-back": lambda d, t: d.give_back(t),
    "cancellation": cancel,
    "session deletion": delete,
}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_every_way_a_capped_task_stops_frees_its_key(redis_client: redis.asyncio.Redis, ending: str) -> None:
    d = await capped_driver(redis_client)
    [held], _ = await d.pop(3, finish=False)
    assert await running(redis_client) == {b"ualice": b"1"}
    assert await redis_client.zcard(keys.ROTATION(PARTITION)) == 0  # at its cap: parked

    await ENDINGS[ending](d, held)

    assert await running(redis_client) == {}
    assert await redis_client.hget(keys.TASK("a", held), "capped") is None
    if ending != "session deletion":
        assert await redis_client.zcard(keys.ROTATION(PARTITION)) == 1  # back in turn
        [again], _ = await d.pop(1, finish=False)
        assert await running(redis_client) == {b"ualice": b"1"}
        assert again != held or ending == "give-back"


@pytest.mark.parametrize("started", [True, False], ids=["processing-retried", "dispatched-released"])
async def test_a_lost_agent_s_capped_task_frees_its_key_through_the_reaper(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path, started: bool
) -> None:
    d = await capped_driver(redis_client)
    [claim] = await d.dispatch.claim(
        PARTITION, agent_id=AGENT, hostname="h", lease_seconds=5, count=1, start_first=started, timeout=0
    )
    assert await running(redis_client) == {b"ualice": b"1"}
    later = 1000.0
    grid = Grid(
        state=d.state, queue=RedisTaskQueue(redis_client, clock=lambda: later), dispatch=d.dispatch,
        objects=FileSystemObjectStore(tmp_path), events=RedisEventBus(redis_client), clock=lambda: later,
    )  # fmt: skip

    assert await reaper.reap(grid) == 1

    assert await running(redis_client) == {}
    [task] = await d.state.get_tasks([claim.task_id])
    assert task.status is (TaskStatus.RETRIED if started else TaskStatus.SUBMITTED)
    [again] = await d.dispatch.claim(
        PARTITION, agent_id=AGENT, hostname="h", lease_seconds=5, count=1, start_first=True, timeout=0
    )
    # the released task is served first again; a retry joins its session's list (its key): counted again
    assert again.task is not None and again.task_id == ("a1" if started else claim.task_id)
    assert await running(redis_client) == {b"ualice": b"1"}
    if started:
        [attempt] = await d.state.get_tasks([f"{claim.task_id}###1"])
        assert attempt.status is TaskStatus.SUBMITTED


async def test_a_partition_without_caps_keeps_no_running_count(redis_client: redis.asyncio.Redis) -> None:
    d = Driver(redis_client, fairshare.fair_share(key="user", weights={"alice": 2}))
    await d.start()
    await d.session("a", SessionInfo(owner="alice"))
    await d.push("a", 1, 3)
    held, _ = await d.pop(2, finish=False)
    assert len(held) == 2 and await running(redis_client) == {}
    assert await redis_client.hget(keys.TASK("a", held[0]), "capped") is None


async def test_a_child_task_joins_its_session_s_key(redis_client: redis.asyncio.Redis) -> None:
    d = Driver(redis_client, fairshare.fair_share(key="user"))
    await d.start()
    await d.session("a", SessionInfo(owner="alice"))
    [parent] = await d.push("a", 1, 1)
    [held], _ = await d.pop(1, finish=False)
    claim = claim_of(d, held)
    assert claim.task is not None
    child = models.clone(claim.task)
    child.task_id, child.status, child.initial_task_id = "a-child", TaskStatus.CREATING, "a-child"
    child.parent_task_ids, child.expected_output_ids = [parent], []
    await d.dispatch.commit(claim.task, claim.lease, agent_id=AGENT, commit=ports.TaskCommit(children=[child]), at=2.0)
    entries = await redis_client.hgetall(keys.QUEUED("a"))
    assert list(entries.values()) == [b"1\t\x01u,\talice"]  # alice's entry: the user key of its session
    assert await redis_client.lrange(keys.KEY_SESSIONS(PARTITION, "1", "ualice"), 0, -1) == [b"a"]
    [again] = await d.dispatch.claim(
        PARTITION, agent_id=AGENT, hostname="h", lease_seconds=5, count=1, start_first=True, timeout=0
    )
    assert again.task_id == "a-child"


async def test_a_scrape_reports_each_key_s_queued_and_running_tasks_and_its_settings(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    d = await capped_driver(redis_client)  # alice: cap 1, 3 tasks
    await d.session("c", SessionInfo(owner="carol"))
    await d.push("c", 1, 2)
    await d.pop(2, finish=False)
    grid = Grid(
        state=d.state, queue=RedisTaskQueue(redis_client), objects=FileSystemObjectStore(tmp_path),
        events=RedisEventBus(redis_client),
    )  # fmt: skip
    observed.report_store(grid)
    samples = await scraped(grid.metrics)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"partition": PARTITION, **labels}.items())))]

    assert value("pyarmonik_fair_share_info", mode="fair", key="user") == 1
    assert value("pyarmonik_fair_share_cap_tasks", key="alice") == 1
    assert value("pyarmonik_fair_share_weight_ratio", key="*") == 1
    assert value("pyarmonik_fair_share_tasks", key="alice", state="running") == 1
    assert value("pyarmonik_fair_share_tasks", key="alice", state="queued") == 2
    assert value("pyarmonik_fair_share_tasks", key="carol", state="running") == 1
    assert value("pyarmonik_fair_share_keys", state="capped") == 1
    assert value("pyarmonik_fair_share_other_tasks", state="queued") == 0
