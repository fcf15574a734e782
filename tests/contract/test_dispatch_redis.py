"""The agent's claim through ``RedisDispatch`` on a real Redis: what one
claim takes and hands over (leases, tasks with their inputs' records and
small data), what it drops, the claim a commit makes in the same step, a
claim sent twice, and a stopping agent giving back what it claimed.

The order tasks are served in (priorities, sessions in turn) and the
queues' upkeep (depth, leases, wake-ups) are tests/contract/test_queue_redis.py's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker import WorkerReply
from pyarmonik.core import errors
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import dispatch as dispatch_module
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.library import Library
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.integration.test_agent_lease import EchoWorker
from tests.redis_stores import RedisRecordingBus, redis_grid

from .queue_contract import FakeClock
from .state_contract import (
    AGENT,
    AT,
    HOST,
    LATER,
    LEASE_SECONDS,
    PARTITION,
    claimed_ids,
    claims,
    completion,
    held,
    open_session,
    payload_of,
    result,
    session,
    statuses_of,
    task,
    task_update,
)

pytestmark = pytest.mark.integration


def admissions(found: list[ports.Claim]) -> list[tuple[ports.Admission, str]]:
    return [(c.admission, c.task_id) for c in found]


RUN, GONE = ports.Admission.RUN, ports.Admission.GONE


# == what a claim takes ==========================================================
async def test_a_batch_claim_starts_the_first_task_and_holds_the_others_dispatched(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("a"), task("b"), task("c")], at=AT)
    recorded.take()
    found = await claims(dispatch, 2)
    assert admissions(found) == [(RUN, "a"), (RUN, "b")]
    assert await statuses_of(store, "a", "b", "c") == [
        TaskStatus.PROCESSING,
        TaskStatus.DISPATCHED,
        TaskStatus.SUBMITTED,
    ]
    first, second = (c.task for c in found)
    assert first is not None and second is not None
    assert (first.status, first.owner_pod_id, first.pod_hostname, first.acquired_at, first.started_at) == (
        TaskStatus.PROCESSING,
        AGENT,
        HOST,
        AT,
        AT,
    )
    assert (second.status, second.acquired_at, second.started_at) == (TaskStatus.DISPATCHED, AT, None)
    assert (await queue.leased(PARTITION), await queue.depth(PARTITION)) == (2, 1)
    assert recorded.take() == sorted(
        [
            task_update("a", TaskStatus.DISPATCHED),
            task_update("a", TaskStatus.PROCESSING),
            task_update("b", TaskStatus.DISPATCHED),
        ]
    )


async def test_a_claimed_task_is_the_stored_task_as_its_agent_holds_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"], completed=["dep"])
    await store.create_tasks("s", [task("t", dependencies=["dep"], outputs=["out"], application=("app", "2"))], at=AT)
    running = await held(dispatch, "t")
    [stored] = await store.get_tasks(["t"])
    assert running.task == dataclasses.replace(stored, submitted_at=None)  # the one field no agent reads


async def test_a_claim_leases_each_task_it_runs_to_its_agent_until_the_lease_expires(
    store: RedisStateStore, dispatch: RedisDispatch, clock: FakeClock
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t", priority=3)], at=AT)
    [claim] = await claims(dispatch)
    assert claim.lease == ports.Lease(
        ports.QueuedTask("t", "s", 3), PARTITION, AGENT, expires_at=clock() + LEASE_SECONDS
    )


async def test_a_claim_carries_the_records_of_the_inputs_and_the_data_of_the_small_ones(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await store.create_session(session("s"))
    small = result("small", status=ResultStatus.COMPLETED, size=4)
    large = result("large", status=ResultStatus.COMPLETED, size=40)
    small.opaque_id, large.opaque_id = b"key-small", b"key-large"
    payload = result(payload_of("s"), status=ResultStatus.COMPLETED, size=2)
    await store.create_results([payload, small, large, result("out")], data={payload_of("s"): b"{}", "small": b"tiny"})
    await store.create_tasks("s", [task("t", dependencies=["small", "large", "small"], outputs=["out"])], at=AT)
    [claim] = await claims(dispatch)
    assert dict(claim.data) == {payload_of("s"): b"{}", "small": b"tiny"}
    described = {r.result_id: (r.status, r.size, r.opaque_id) for r in claim.inputs.values()}
    assert described == {
        payload_of("s"): (ResultStatus.COMPLETED, 2, b""),
        "small": (ResultStatus.COMPLETED, 4, b"key-small"),
        "large": (ResultStatus.COMPLETED, 40, b"key-large"),
        "out": (ResultStatus.CREATED, 0, b""),
    }


async def test_a_claim_takes_only_tasks_of_its_partition(store: RedisStateStore, dispatch: RedisDispatch) -> None:
    await open_session(store)
    elsewhere = task("elsewhere")
    elsewhere.options.partition_id = "q"
    await store.create_tasks("s", [elsewhere], at=AT)
    assert await claims(dispatch) == []
    assert admissions(await claims(dispatch, partition="q")) == [(RUN, "elsewhere")]


async def test_a_claim_on_an_empty_queue_returns_nothing_once_its_timeout_has_passed(dispatch: RedisDispatch) -> None:
    assert await claims(dispatch) == []
    found = await dispatch.claim(
        PARTITION, agent_id=AGENT, hostname=HOST, lease_seconds=LEASE_SECONDS, count=1, start_first=True, timeout=0.05
    )
    assert found == []


async def test_a_task_is_claimed_once(store: RedisStateStore, dispatch: RedisDispatch) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    await held(dispatch, "t", "first")
    assert await claims(dispatch, 1, "second") == []
    assert await claims(dispatch, 1, "first") == []
    assert (await store.get_tasks(["t"]))[0].owner_pod_id == "first"


# == what a claim drops ===========================================================
async def test_the_entry_of_a_task_cancelled_while_queued_is_dropped_by_the_claim_that_reaches_it(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("cancelled"), task("next")], at=AT)
    await store.cancel_tasks(["cancelled"], at=AT, reason="stop")
    assert await queue.depth(PARTITION) == 1  # at once: not when a claim reaches the entry
    recorded.take()
    assert admissions(await claims(dispatch)) == [(GONE, "cancelled"), (RUN, "next")]
    assert await statuses_of(store, "cancelled", "next") == [TaskStatus.CANCELLED, TaskStatus.PROCESSING]
    assert recorded.take() == [task_update("next", TaskStatus.DISPATCHED), task_update("next", TaskStatus.PROCESSING)]


async def test_a_backlog_of_cancelled_entries_is_drained_a_few_at_a_time_until_a_runnable_task(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    backlog = 3 * dispatch_module.EXAMINED_PER_CLAIM
    await open_session(store)
    await store.create_tasks("s", [*(task(f"c{n:02d}") for n in range(backlog)), task("runnable")], at=AT)
    await store.cancel_tasks([f"c{n:02d}" for n in range(backlog)], at=AT, reason="stop")
    first = await claims(dispatch)  # no wait: one call, a bounded number of entries
    assert admissions(first) == [(GONE, f"c{n:02d}") for n in range(dispatch_module.EXAMINED_PER_CLAIM)]
    rest = await dispatch.claim(
        PARTITION, agent_id=AGENT, hostname=HOST, lease_seconds=LEASE_SECONDS, count=1, start_first=True, timeout=5
    )
    assert admissions(rest)[-1] == (RUN, "runnable")
    assert len(rest) == backlog - dispatch_module.EXAMINED_PER_CLAIM + 1


# == a claim sent twice ==========================================================
async def test_a_claim_sent_again_with_its_token_returns_the_tasks_it_took_and_takes_no_more(
    store: RedisStateStore, redis_client: redis.asyncio.Redis, queue: RedisTaskQueue
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("a"), task("b"), task("c")], at=AT)
    request = ports.NextClaim(PARTITION, AGENT, HOST, LEASE_SECONDS, count=2)
    args, taken = dispatch_module._claim_args(request, AT)
    library = Library.of(redis_client)
    first = taken.claims(await library.call("pa_claim", [PARTITION, *args], at=AT), start_first=True)
    again = taken.claims(await library.call("pa_claim", [PARTITION, *args], at=AT), start_first=True)
    assert admissions(first) == admissions(again) == [(RUN, "a"), (RUN, "b")]
    assert [c.task for c in again] == [c.task for c in first]
    assert await statuses_of(store, "a", "b", "c") == [
        TaskStatus.PROCESSING,
        TaskStatus.DISPATCHED,
        TaskStatus.SUBMITTED,
    ]
    assert (await queue.leased(PARTITION), await queue.depth(PARTITION)) == (2, 1)


# == the claim a commit makes ======================================================
async def test_a_commit_claims_the_agents_next_task_in_the_same_step_including_one_it_made_ready(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    running = await held(dispatch, "t")
    following = ports.NextClaim(PARTITION, AGENT, HOST, LEASE_SECONDS)
    commit = ports.TaskCommit(completions=[completion("out")])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER, next_claim=following)
    assert admissions(following.claims) == [(RUN, "next")]
    [claim] = following.claims
    assert claim.task is not None and claim.task.status is TaskStatus.PROCESSING and claim.lease is not None
    assert await statuses_of(store, "t", "next") == [TaskStatus.COMPLETED, TaskStatus.PROCESSING]
    assert (await queue.leased(PARTITION), await queue.depth(PARTITION)) == (1, 0)


async def test_a_refused_commit_claims_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t"), task("queued")], at=AT)
    running = await held(dispatch, "t", "holder")
    following = ports.NextClaim(PARTITION, "intruder", HOST, LEASE_SECONDS)
    with pytest.raises(errors.NotHeld):
        await dispatch.commit(
            running.task, running.lease, agent_id="intruder", commit=ports.TaskCommit(), at=LATER, next_claim=following
        )
    assert following.claims == []
    assert await statuses_of(store, "t", "queued") == [TaskStatus.PROCESSING, TaskStatus.SUBMITTED]
    assert (await queue.leased(PARTITION), await queue.depth(PARTITION)) == (1, 1)


async def test_a_commit_with_nothing_left_to_claim_claims_nothing_and_does_not_wait(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    following = ports.NextClaim(PARTITION, AGENT, HOST, LEASE_SECONDS, count=3)
    await dispatch.commit(
        running.task, running.lease, agent_id=AGENT, commit=ports.TaskCommit(), at=LATER, next_claim=following
    )
    assert following.claims == []


# == an agent that stops ============================================================
async def _submit(grid: Grid, count: int) -> tuple[str, list[str]]:
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=3, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    payloads = await results.create(grid, sid, [results.NewResult(f"p{i}", data=b"x") for i in range(count)])
    outputs = await results.create(grid, sid, [results.NewResult(f"o{i}") for i in range(count)])
    new = [tasks.NewTask(payload_id=p.result_id, expected_output_ids=[o.result_id]) for p, o in zip(payloads, outputs)]
    return sid, [t.task_id for t in await tasks.submit(grid, sid, new)]


class _BlockingWorker(EchoWorker):
    """Runs until cancelled: the agent's stop is what ends its call."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_stopping_agent_releases_its_running_and_prefetched_tasks_without_a_retry(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path / "objects"))
    await grid.state.put_partitions([Partition("default")])
    _, ids = await _submit(grid, 2)
    worker = _BlockingWorker()
    config = AgentConfig(
        "default", tmp_path / "data", agent_id=AGENT, heartbeat_seconds=0.1, grace_seconds=0.1, pop_timeout=0.1,
        prefetch=2,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.ensure_future(Pollster(grid, worker, config).run(stop))
    await asyncio.wait_for(worker.started.wait(), 10)
    assert await statuses_of(grid.state, *ids) == [TaskStatus.PROCESSING, TaskStatus.DISPATCHED]
    stop.set()
    await asyncio.wait_for(running, 10)
    attempts = await grid.state.get_tasks(ids)
    assert [(t.status, t.retry_of_ids, t.owner_pod_id) for t in attempts] == [(TaskStatus.SUBMITTED, [], "")] * 2
    assert await grid.queue.leased("default") == 0 and await grid.queue.depth("default") == 2
    assert sorted(await claimed_ids(grid.dispatcher(), 2, partition="default")) == sorted(ids)


async def test_a_session_that_stops_running_leaves_the_queue_before_any_claim(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    for status in (SessionStatus.PAUSED, SessionStatus.CLOSED, SessionStatus.CANCELLED):
        session_id = status.name.lower()
        await open_session(store, session_id)
        await store.create_tasks(session_id, [task(f"{session_id}-t", session_id)], at=AT)
        await store.update_session(session_id, allowed_from=frozenset(SessionStatus), status=status, at=AT)
    assert await claims(dispatch) == []
