"""The Redis partition queues against the queue contract, plus what only a
shared Redis can show: several processes (clients) on one queue, the
layout's keys, the reaper settling what expired, and the bounds of the
rotation's scores."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.filters import ListQuery
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.lifecycle import reaper, results, sessions, tasks
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import keys
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.library import text
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.helpers import wait_for_async
from tests.redis_stores import redis_grid

from .queue_contract import (
    LEASE,
    WAIT,
    ClaimsWaiting,
    FakeClock,
    Start,
    TaskQueueContract,
    on,
    run_ids,
    starter,
    tasks_of,
    waiting_claim,
)
from .state_contract import AGENT, AT, PARTITION, claimed_ids, claims, held, open_session, task

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
    """Clients blocked in Redis: the waiting claims, each in its BLPOP."""
    return int((await client.info("clients"))["blocked_clients"])


@pytest.fixture
def claims_waiting(other_client: redis.asyncio.Redis) -> ClaimsWaiting:
    async def count() -> int:
        return await blocked_clients(other_client)

    return count


@pytest.fixture
def started(claims_waiting: ClaimsWaiting) -> Start:
    return starter(claims_waiting)


class TestRedisQueues(TaskQueueContract):
    """The contract, with the fixtures of tests/contract/conftest.py."""


# -- several processes -------------------------------------------------------------
async def test_two_dispatch_instances_on_one_redis_share_the_queue(
    store: RedisStateStore, dispatch: RedisDispatch, other_client: redis.asyncio.Redis, clock: FakeClock
) -> None:
    other = RedisDispatch(other_client, clock=clock)
    await open_session(store)
    await store.create_tasks("s", [task("a"), task("b")], at=AT)
    assert await RedisTaskQueue(other_client).depth(PARTITION) == 2
    elsewhere = await held(other, "a", "other")
    await other.commit(elsewhere.task, elsewhere.lease, agent_id="other", commit=ports.TaskCommit(), at=AT)
    assert await claimed_ids(dispatch, 2) == ["b"]


async def test_a_claim_waiting_in_one_process_is_woken_by_a_task_made_ready_in_another(
    dispatch: RedisDispatch, other_client: redis.asyncio.Redis, started: Start
) -> None:
    other = RedisStateStore(other_client)
    await open_session(other)
    waiting = await started(waiting_claim(dispatch))
    await other.create_tasks("s", [task("t")], at=AT)
    assert run_ids(await asyncio.wait_for(waiting, WAIT)) == ["t"]


async def test_leases_expired_are_reaped_once_by_reapers_of_two_processes(
    store: RedisStateStore,
    dispatch: RedisDispatch,
    queue: RedisTaskQueue,
    other_client: redis.asyncio.Redis,
    clock: FakeClock,
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("one"), task("two"), on("other", task("three"))], at=AT)
    await held(dispatch, "one")
    await held(dispatch, "two")
    assert run_ids(await claims(dispatch, partition="other")) == ["three"]
    clock.advance(LEASE)
    here, there = queue, RedisTaskQueue(other_client, clock=clock)
    reaped = await asyncio.gather(here.reap_expired(now=clock()), there.reap_expired(now=clock()))
    assert sorted(lease.item.task_id for lease in reaped[0] + reaped[1]) == ["one", "three", "two"]


async def test_many_waiting_claims_share_many_tasks(
    store: RedisStateStore, dispatch: RedisDispatch, other_client: redis.asyncio.Redis
) -> None:
    await open_session(store)
    waiting = [asyncio.ensure_future(waiting_claim(dispatch, agent_id=f"a{i}")) for i in range(40)]

    async def all_waiting() -> bool:
        return await blocked_clients(other_client) == 40

    await wait_for_async(all_waiting, WAIT)
    await store.create_tasks("s", tasks_of("s", 40), at=AT)
    found = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
    assert sorted(t for claim in found for t in run_ids(claim)) == [f"s-{n:03d}" for n in range(40)]


async def test_a_claim_woken_then_cancelled_passes_the_task_to_another_waiting_claim(
    store: RedisStateStore, dispatch: RedisDispatch, started: Start
) -> None:
    await open_session(store)

    def claim(agent_id: str):  # type: ignore[no-untyped-def]
        # dispatch.claim itself, not waiting_claim: its wait_for would add a task in between
        return dispatch.claim(
            PARTITION, agent_id=agent_id, hostname="h", lease_seconds=LEASE, count=1, start_first=True, timeout=WAIT
        )

    first = await started(claim("first"))
    second = await started(claim("second"))
    await store.create_tasks("s", [task("t")], at=AT)
    first.cancel()  # perhaps after Redis woke it, before it could take the task
    found = await asyncio.wait_for(second, WAIT / 2)  # well before its own timeout
    with pytest.raises(asyncio.CancelledError):
        await first
    if not run_ids(found):  # the first claim took the task before it was cancelled: then it holds it
        [held_by] = [t.owner_pod_id for t in await store.get_tasks(["t"])]
        assert held_by == "first"
    else:
        assert run_ids(found) == ["t"]


async def test_a_timed_out_claim_leaves_no_waiter_behind(
    dispatch: RedisDispatch, other_client: redis.asyncio.Redis
) -> None:
    assert await waiting_claim(dispatch, timeout=0.01) == []
    assert await blocked_clients(other_client) == 0


# -- the layout -----------------------------------------------------------------------
async def test_lease_times_survive_the_round_trip_exactly(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    now = 1718000000.123456789
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    claim = await held(RedisDispatch(redis_client, clock=lambda: now), "t")
    assert claim.lease.expires_at == now + LEASE
    [reaped] = await RedisTaskQueue(redis_client).reap_expired(now=now + LEASE)
    assert (reaped.item.task_id, reaped.agent_id, reaped.partition_id) == ("t", AGENT, PARTITION)


async def test_the_queues_work_with_a_client_that_decodes_responses(redis_server: str, redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    clock = FakeClock(AT)
    try:
        store, dispatch = RedisStateStore(client), RedisDispatch(client, clock=clock)
        queue = RedisTaskQueue(client, clock=clock)
        await open_session(store, completed=["dep"])
        await store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        running = await held(dispatch, "t")
        assert running.task.data_dependencies == ["dep"]
        assert await queue.renew(PARTITION, agent_id=AGENT, leases=[running.lease], lease_seconds=LEASE) == [
            ports.LeaseState.HELD
        ]
        clock.advance(2 * LEASE)
        [reaped] = await queue.reap_expired(now=clock())
        assert reaped.item.task_id == "t"
    finally:
        await client.aclose()


async def test_every_key_of_a_partition_queue_shares_its_hash_tag(
    store: RedisStateStore, dispatch: RedisDispatch, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t"), task("u")], at=AT)
    await held(dispatch, "t")
    names = [text(name) for name in await redis_client.keys(f"{keys.PREFIX}:queue:*")]
    assert names and all(f"{{{PARTITION}}}" in name for name in names)


async def test_extreme_priorities_keep_their_order_and_their_sessions_in_turn(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    top, bottom = 4095, -4095  # the range lua/lib_queue.lua keeps exact
    for session_id in ("a", "b"):
        await open_session(store, session_id)
        await store.create_tasks(
            session_id,
            [task(f"{session_id}-{p}-{n}", session_id, priority=p) for p in (bottom, 0, top) for n in range(2)],
            at=AT,
        )
    taken = await claimed_ids(dispatch, 13)
    by_priority = [taken[i : i + 4] for i in range(0, 12, 4)]
    for chunk, priority in zip(by_priority, (top, 0, bottom)):
        assert {t.split("-", 1)[1].rsplit("-", 1)[0] for t in chunk} == {str(priority)}, taken
        assert {t[0] for t in chunk[:2]} == {t[0] for t in chunk[2:]} == {"a", "b"}, taken


async def test_a_task_priority_beyond_what_the_queue_keeps_exact_is_refused_at_submission(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=1, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    huge = TaskOptions(priority=2**31 - 1)
    new = tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[], options=huge)
    with pytest.raises(errors.InvalidArgument, match="priority"):
        await tasks.submit(grid, session.session_id, [new])


# -- the reaper ------------------------------------------------------------------------
async def test_the_reaper_settles_each_expired_lease_as_its_tasks_status_says(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock(AT)
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path), clock=clock)
    dispatch = grid.dispatcher()
    await open_session(grid.state)
    await grid.state.create_tasks("s", [task("waiting"), task("running"), task("cancelling")], at=AT)
    await held(dispatch, "waiting", start=False)
    await held(dispatch, "running")
    await held(dispatch, "cancelling")
    await grid.state.cancel_tasks(["cancelling"], at=AT, reason="stop")
    clock.advance(LEASE)
    assert await reaper.reap(grid) == 3
    statuses = {t.task_id: t.status for t in (await grid.state.list_tasks(query=ListQuery())).items}
    assert statuses == {
        "waiting": TaskStatus.SUBMITTED,  # never started: released, no retry used
        "running": TaskStatus.RETRIED,  # lost while running: retried
        "running###1": TaskStatus.SUBMITTED,
        "cancelling": TaskStatus.CANCELLED,
    }
    assert (await grid.queue.depth(PARTITION), await grid.queue.leased(PARTITION)) == (2, 0)
    clock.advance(ports.REAP_RETRY_SECONDS)
    assert await reaper.reap(grid) == 0  # settled leases are forgotten, not handed over again
    assert sorted(await claimed_ids(dispatch, 3)) == ["running###1", "waiting"]
    assert await reaper.reap(grid) == 0


async def test_closing_a_session_cancels_its_queued_tasks_and_lets_its_running_ones_finish(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await open_session(grid.state)
    await grid.state.create_tasks("s", [task("running"), task("queued")], at=AT)
    running = await held(grid.dispatcher(), "running")
    await sessions.close(grid, "s")
    assert [t.status for t in await grid.state.get_tasks(["running", "queued"])] == [
        TaskStatus.PROCESSING,
        TaskStatus.CANCELLED,
    ]
    assert (await grid.queue.depth(PARTITION), await claimed_ids(grid.dispatcher(), 1)) == (0, [])
    await grid.dispatcher().commit(running.task, running.lease, agent_id=AGENT, commit=ports.TaskCommit(), at=AT)
    assert (await grid.state.get_tasks(["running"]))[0].status is TaskStatus.COMPLETED
    assert (await grid.state.get_session("s")).status is SessionStatus.CLOSED


# -- a whole-session change cut short ---------------------------------------------------
# A control plane that stops between a session's change (update_session) and
# its follow-up on the tasks (pause_session_tasks...) is simulated by sending
# the change alone.
_STOPPED_TASKS = {
    SessionStatus.PAUSED: TaskStatus.PAUSED,
    SessionStatus.CLOSED: TaskStatus.CANCELLED,
    SessionStatus.CANCELLED: TaskStatus.CANCELLED,
}


@pytest.mark.parametrize("status", list(_STOPPED_TASKS), ids=lambda s: s.name)
async def test_a_change_cut_short_is_finished_by_the_next_process_after_a_while(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path, status: SessionStatus
) -> None:
    clock = FakeClock(AT)
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path), clock=clock)
    await open_session(grid.state)
    await grid.state.create_tasks("s", tasks_of("s", 2), at=AT)
    await grid.state.update_session("s", allowed_from=frozenset(SessionStatus), status=status, follow_up=True, at=AT)
    assert await claimed_ids(grid.dispatcher(), 2) == []  # out of the queues at once
    clock.advance(sessions.FOLLOW_UP_RETRY_SECONDS - 1)
    assert await sessions.finish_cut_short(grid) == 0  # its control plane may still be at it
    clock.advance(1)
    assert await sessions.finish_cut_short(grid) == 1
    assert await grid.queue.depth(PARTITION) == 0
    statuses = {t.status for t in (await grid.state.list_tasks(query=ListQuery())).items}
    assert statuses == {_STOPPED_TASKS[status]}
    clock.advance(sessions.FOLLOW_UP_RETRY_SECONDS)
    assert await sessions.finish_cut_short(grid) == 0  # settled


async def test_a_change_followed_up_is_settled_and_a_deleted_session_leaves_nothing_to_finish(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock(AT)
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path), clock=clock)
    for session_id in ("paused", "deleted"):
        await open_session(grid.state, session_id)
    await sessions.pause(grid, "paused")
    await grid.state.update_session("deleted", allowed_from=frozenset(SessionStatus), status=SessionStatus.CANCELLED,
                                    follow_up=True, at=AT)  # fmt: skip
    await sessions.delete(grid, "deleted")
    clock.advance(sessions.FOLLOW_UP_RETRY_SECONDS)
    assert await sessions.finish_cut_short(grid) == 1  # the deleted one, found gone
    assert await sessions.finish_cut_short(grid) == 0
    assert not await grid.state.follow_up_pending("paused")


async def test_resuming_a_session_whose_pause_was_cut_short_queues_its_tasks_again(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await open_session(grid.state)
    await grid.state.create_tasks("s", tasks_of("s", 2), at=AT)
    await grid.state.update_session(
        "s", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, follow_up=True, at=AT
    )
    await sessions.resume(grid, "s")
    assert await claimed_ids(grid.dispatcher(), 3) == ["s-000", "s-001"]
    assert not await grid.state.follow_up_pending("s")


async def test_a_pause_step_overtaken_by_a_resume_pauses_nothing(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await open_session(grid.state)
    await grid.state.create_tasks("s", tasks_of("s", 2), at=AT)
    await sessions.pause(grid, "s")
    await sessions.resume(grid, "s")
    await grid.state.pause_session_tasks("s", at=AT)  # a step of the pause, late
    assert await claimed_ids(grid.dispatcher(), 3) == ["s-000", "s-001"]
