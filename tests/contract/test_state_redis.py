"""The Redis state store against the StateStore contract, plus what only a
shared Redis can show: replicas seeing each other's writes, events arriving
over pub/sub from the Lua functions, indexes and counters left right by
every transition and clean by refusals.

The contract's event assertions read ``event_bus.published``; here the
store does not publish to a bus but PUBLISHes from its functions, so the
``event_bus`` fixture is a ``RedisRecordingBus`` (``tests.redis_stores``):
a real pub/sub subscriber on every session channel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind, in_session
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.lifecycle import results
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import codec, keys, library, state
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.state import RedisStateStore
from tests.redis_stores import DRAIN_TIMEOUT, RedisRecordingBus, redis_grid

from .state_contract import (
    AGENT,
    AT,
    LATER,
    StateStoreContract,
    claims,
    completion,
    held,
    open_session,
    result_statuses,
    statuses_of,
    task,
    to_status,
)
from .status_counts_contract import StatusCountsContract

pytestmark = pytest.mark.integration


class TestRedisStateStore(StateStoreContract, StatusCountsContract):
    @pytest.fixture
    def event_bus(self, redis_url: str) -> Iterator[RedisRecordingBus]:
        bus = RedisRecordingBus(redis_url)
        try:
            yield bus
        finally:
            bus.close()

    @pytest.fixture
    def state_store(self, event_bus: RedisRecordingBus, redis_client: redis.asyncio.Redis) -> RedisStateStore:
        return RedisStateStore(redis_client)


# -- Redis only -------------------------------------------------------------------


@pytest.fixture
async def other_store(redis_url: str) -> AsyncIterator[RedisStateStore]:
    """A second store on its own connection, like another replica."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield RedisStateStore(client)
    finally:
        await client.aclose()


async def test_two_stores_on_one_redis_see_each_others_writes(
    store: RedisStateStore, other_store: RedisStateStore
) -> None:
    await open_session(store, "s", created=["r"])
    await other_store.create_tasks("s", [task("t", dependencies=["r"])], at=AT)
    assert [t.status for t in await store.get_tasks(["t"])] == [TaskStatus.PENDING]
    assert await store.complete_results("s", [completion("r")], completed_by="s", at=AT) == 1
    assert [t.status for t in await other_store.get_tasks(["t"])] == [TaskStatus.SUBMITTED]
    assert (await other_store.list_tasks(query=ListQuery(in_session("s")))).total == 1


_OTHER_PROCESS = """
import asyncio, sys
import redis.asyncio
from pyarmonik.storage.redis.state import RedisStateStore
from pyarmonik.storage.ports import Completion

async def main():
    client = redis.asyncio.Redis.from_url(sys.argv[1])
    try:
        ready = await RedisStateStore(client).complete_results(
            "s", [Completion("r", 3, b"key")], completed_by="other-process", at=5.0)
        print(ready)
    finally:
        await client.aclose()

asyncio.run(main())
"""


async def test_a_store_in_another_process_releases_the_tasks_this_one_created(
    store: RedisStateStore, redis_url: str
) -> None:
    await open_session(store, "s", created=["r"])
    await store.create_tasks("s", [task("t1", dependencies=["r"]), task("t2", dependencies=["r"])], at=AT)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _OTHER_PROCESS, redis_url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert [t.status for t in await store.get_tasks(["t1", "t2"])] == [TaskStatus.SUBMITTED] * 2
    [r] = await store.get_results(["r"])
    assert (r.status, r.size, r.opaque_id, r.created_by) == (ResultStatus.COMPLETED, 3, b"key", "other-process")


async def test_a_subscriber_on_redis_receives_the_events_the_functions_publish(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, "s", created=["r"])
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(keys.session_events("s"))
        await pubsub.get_message(timeout=DRAIN_TIMEOUT)  # the subscribe confirmation
        await store.create_tasks("s", [task("t", dependencies=["r"], outputs=[])], at=AT)
        await store.complete_results("s", [completion("r")], completed_by="s", at=AT)
        events = []
        while len(events) < 3:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=DRAIN_TIMEOUT)
            assert message is not None, f"only {len(events)} events arrived"
            events.extend(codec.decode_events(message["data"], ""))
    described = [(e.kind.name, (e.task or e.result).status.name) for e in events]  # type: ignore[union-attr]
    assert described == [
        ("NEW_TASK", "PENDING"),
        ("RESULT_STATUS_UPDATE", "COMPLETED"),
        ("TASK_STATUS_UPDATE", "SUBMITTED"),
    ]
    assert events[0].task is not None and events[0].task.created_at == 1_000.0
    assert events[0].task.data_dependencies == ["r"] and events[0].task.options.max_duration == 60.0
    assert events[2].task is not None and events[2].task.task_id == "t"


async def test_a_refused_task_creation_leaves_no_task_and_no_index_entry(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, "s")
    with pytest.raises(errors.NotFound, match="missing"):
        await store.create_tasks("s", [task("ok"), task("t", dependencies=["missing"])], at=AT)
    assert await redis_client.hlen(keys.TASK_SESSIONS) == 0
    assert await redis_client.zcard(keys.TASK_IDS("s")) == 0
    assert await redis_client.exists(keys.TASK("s", "ok")) == 0
    assert await redis_client.hgetall(keys.COUNTS("p")) == {}
    with pytest.raises(errors.NotFound):
        await store.get_tasks(["ok"])


async def test_a_dangling_index_entry_reads_as_not_found(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, "s")
    await redis_client.hset(keys.TASK_SESSIONS, "ghost", "s")
    with pytest.raises(errors.NotFound, match="ghost"):
        await store.get_tasks(["ghost"])
    with pytest.raises(errors.NotFound, match="ghost"):
        await store.cancel_tasks(["ghost"], at=AT, reason="stop")


async def test_times_keep_their_full_precision_through_the_functions(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    precise = 1_764_288_000.123456
    await open_session(store, "s")
    await store.create_tasks("s", [task("t")], at=precise)
    await held(RedisDispatch(redis_client, clock=lambda: precise + 1e-6), "t")
    [stored] = await store.get_tasks(["t"])
    assert (stored.submitted_at, stored.acquired_at, stored.started_at) == (precise, precise + 1e-6, precise + 1e-6)
    assert stored.options.max_duration == 60.0 and stored.retry_of_ids == []


async def test_the_status_indexes_agree_with_the_records_after_every_kind_of_transition(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, "s", created=["r1", "r2", "out"])
    await store.create_tasks("s", [task("c"), task("d", outputs=["out"])], at=AT)
    crashed = await held(dispatch, "c")
    await dispatch.retry(crashed.task, crashed.lease, agent_id=AGENT, message="crash", at=AT)
    await held(dispatch, "d", start=False)
    await store.create_tasks("s", [task("a", outputs=["r1"]), task("b", dependencies=["r1"])], at=AT)
    await store.cancel_tasks(["a"], at=AT, reason="stop")
    await store.complete_results("s", [completion("r2")], completed_by="s", at=AT)
    from_index = await store.count_tasks_by_status(where=in_session("s"))
    tasks = (await store.list_tasks(query=ListQuery(in_session("s")))).items
    from_records: dict[TaskStatus, int] = {}
    for t in tasks:
        from_records[t.status] = from_records.get(t.status, 0) + 1
    assert from_index == from_records
    assert from_records == {
        TaskStatus.CANCELLED: 1,
        TaskStatus.ERROR: 1,
        TaskStatus.RETRIED: 1,
        TaskStatus.SUBMITTED: 1,
        TaskStatus.DISPATCHED: 1,
    }


async def test_whole_session_transitions_run_in_several_short_scripts_with_the_same_outcome(
    store: RedisStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "RUN_LIMIT", 2)
    await open_session(store, "s", created=["r1", "r2", "r3", "spare"])
    chain = [
        task("c", dependencies=["r2"], outputs=["r3"]),
        task("b", dependencies=["r1"], outputs=["r2"]),
        task("a", outputs=["r1"]),
    ]
    ready = [task(f"t{i}") for i in range(5)]
    await store.create_tasks("s", [*chain, *ready], at=AT)
    await to_status(store, "s", SessionStatus.PAUSED)
    await store.pause_session_tasks("s", at=AT)
    assert set(await statuses_of(store, "a", *(t.task_id for t in ready))) == {TaskStatus.PAUSED}
    await to_status(store, "s", SessionStatus.RUNNING)
    await store.resume_session_tasks("s", at=AT)
    assert set(await statuses_of(store, "a", *(t.task_id for t in ready))) == {TaskStatus.SUBMITTED}
    await store.cancel_session("s", at=AT)
    assert set(await statuses_of(store, "a", "b", "c", *(t.task_id for t in ready))) == {TaskStatus.CANCELLED}
    assert await result_statuses(store, "r1", "r2", "r3", "spare") == [ResultStatus.ABORTED] * 4


async def test_lists_narrowed_by_the_status_index_match_what_a_full_scan_matches(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, "s", created=["dep"])
    await open_session(store, "o")
    await store.create_tasks("s", [task("a"), task("b", dependencies=["dep"]), task("c", priority=9)], at=AT)
    await store.create_tasks("o", [task("d", "o")], at=AT)
    await held(dispatch, "c", start=False)  # the highest priority: first

    def status_is(status: TaskStatus) -> Condition:
        return Condition("status", ValueKind.STATUS, Op.EQ, status)

    async def listed(*clauses: tuple[Condition, ...], page_size: int = 100) -> tuple[list[str], int]:
        page = await store.list_tasks(query=ListQuery(tuple(clauses), Sort("task_id"), 0, page_size))
        return [t.task_id for t in page.items], page.total

    [s], [o] = in_session("s"), in_session("o")
    assert await listed((*s, status_is(TaskStatus.SUBMITTED))) == (["a"], 1)
    assert await listed((*s, status_is(TaskStatus.SUBMITTED)), o) == (["a", "d"], 2)
    assert await listed((*s, status_is(TaskStatus.DISPATCHED)), (*s, status_is(TaskStatus.PENDING))) == (["b", "c"], 2)
    high = Condition("options.priority", ValueKind.NUMBER, Op.GE, 5)
    assert await listed((*s, status_is(TaskStatus.PENDING), high)) == ([], 0)
    assert await listed((*s, Condition("status", ValueKind.STATUS, Op.NE, TaskStatus.SUBMITTED))) == (["b", "c"], 2)
    assert await listed(s, o, page_size=0) == ([], 4)


async def counters(client: redis.asyncio.Redis, key: str) -> dict[int, int]:
    """A counters hash (status number -> count), its zeros left out."""
    return {int(k): int(v) for k, v in (await client.hgetall(key)).items() if int(v)}


async def test_status_counts_come_from_the_counters_the_functions_keep_per_partition_not_from_the_records(
    store: RedisStateStore, dispatch: RedisDispatch, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, "s", created=["r"])
    await store.create_tasks("s", [task("b"), task("a", outputs=["r"])], at=AT)
    await held(dispatch, "b", start=False)
    moved = dataclasses.replace(task("q"), options=dataclasses.replace(task("q").options, partition_id="other"))
    await store.create_tasks("s", [moved], at=AT)
    assert await counters(redis_client, keys.COUNTS("p")) == {
        int(TaskStatus.SUBMITTED): 1,
        int(TaskStatus.DISPATCHED): 1,
    }
    assert await counters(redis_client, keys.COUNTS("other")) == {int(TaskStatus.SUBMITTED): 1}
    assert await counters(redis_client, keys.RESULT_COUNTS) == {
        int(ResultStatus.COMPLETED): 1,
        int(ResultStatus.CREATED): 1,
    }
    # The records go, not the counters: a scrape reads no record.
    await redis_client.delete(*[keys.TASK("s", t) for t in ("a", "b", "q")], keys.RESULT("s", "r"))
    counts = await store.status_counts()
    assert dict(counts.tasks) == {
        ("p", TaskStatus.SUBMITTED): 1,
        ("p", TaskStatus.DISPATCHED): 1,
        ("other", TaskStatus.SUBMITTED): 1,
    }


async def test_small_data_lives_in_its_results_record_read_by_downloads_and_claims_never_by_lists(
    store: RedisStateStore, dispatch: RedisDispatch, redis_client: redis.asyncio.Redis
) -> None:
    await open_session(store, created=["small"])
    await store.create_tasks("s", [task("t", outputs=["small"]), task("reader", dependencies=["small"])], at=AT)
    running = await held(dispatch, "t")
    data = b"\x00small\xff" * 10
    commit = ports.TaskCommit(completions=[completion("small", len(data), data=data)])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await redis_client.hget(keys.RESULT("s", "small"), "data") == data
    # A list reads the records without it: its reply never holds the data.
    reply = await library.Library.of(redis_client).call("pa_get", ["r", "s", "small"])
    assert data not in reply[1]  # type: ignore[operator]
    listed = await store.list_results(query=ListQuery(in_session("s")))
    assert {r.result_id: r.size for r in listed.items}["small"] == len(data)
    assert (await store.result_data("s", "small")).data == data
    [claim] = await claims(dispatch)
    assert claim.task_id == "reader" and claim.data["small"] == data
    await store.delete_results_data("s", ["small"], at=LATER)
    assert await redis_client.hexists(keys.RESULT("s", "small"), "data") == 0


async def test_a_download_of_small_data_reads_it_with_its_record_and_large_data_from_the_object_store(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    objects = FileSystemObjectStore(tmp_path / "objects")
    grid = redis_grid(redis_client, objects, inline_limit=8)
    await open_session(grid.state)
    small, large = await results.create(
        grid, "s", [results.NewResult("small", data=b"8 bytes!"), results.NewResult("large", data=b"9 bytes!!")]
    )
    assert await objects.size(small.opaque_id.decode()) is None  # kept with its record
    assert await objects.size(large.opaque_id.decode()) == 9
    downloaded = {
        r.name: b"".join([c async for c in await results.download(grid, "s", r.result_id)]) for r in (small, large)
    }
    assert downloaded == {"small": b"8 bytes!", "large": b"9 bytes!!"}
