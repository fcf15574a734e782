"""What an agent writes at the end of a task, through ``Dispatch`` on a real
Redis: the commit (results, children, ownership moves, what it made ready),
a failure (outputs aborted, dependents ERROR), a retry (``{initial}###{n}``
taking over the outputs), a release (no retry used), the end of a
cancellation. Each step checks that the agent still holds the task (a late
agent is refused, nothing written), acks the lease with the outcome, and
may be sent twice (a reply lost on the way): the second answers OK and
writes nothing.

The port's docstrings are the contract; where they are silent, ArmoniK.Core
(``/work/shared/reference/armonik-core-behaviour.md``).
"""

from __future__ import annotations

import pytest

from pyarmonik.core import errors
from pyarmonik.core.filters import ListQuery
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.ports import TaskCommit
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.redis_stores import RedisRecordingBus

from .state_contract import (
    AGENT,
    AT,
    LATER,
    PARTITION,
    Hold,
    claimed_ids,
    claims,
    completion,
    held,
    new_result,
    new_task,
    open_session,
    owner_update,
    payload_of,
    result,
    result_statuses,
    result_update,
    status_of,
    statuses_of,
    task,
    task_update,
)

pytestmark = pytest.mark.integration


async def leased(queue: RedisTaskQueue) -> int:
    return await queue.leased(PARTITION)


async def assert_commit_left_nothing(store: RedisStateStore, queue: RedisTaskQueue) -> None:
    """Task ``t`` still PROCESSING by ``holder`` and leased, ``out`` CREATED,
    no ``made`` result and no ``child`` task."""
    [parent] = await store.get_tasks(["t"])
    assert (parent.status, parent.owner_pod_id) == (TaskStatus.PROCESSING, "holder")
    assert await result_statuses(store, "out") == [ResultStatus.CREATED]
    with pytest.raises(errors.NotFound):
        await store.get_results(["made"])
    with pytest.raises(errors.NotFound):
        await store.get_tasks(["child"])
    assert await leased(queue) == 1


# == start =====================================================================
async def test_starting_a_claimed_task_sets_it_processing(
    store: RedisStateStore, dispatch: RedisDispatch, recorded: RedisRecordingBus
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    waiting = await held(dispatch, "t", start=False)
    recorded.take()
    started = await dispatch.start(waiting.task, waiting.lease, agent_id=AGENT, at=LATER)
    assert started is not None
    assert (started.status, started.started_at, started.owner_pod_id) == (TaskStatus.PROCESSING, LATER, AGENT)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.started_at) == (TaskStatus.PROCESSING, LATER)
    assert recorded.take() == [task_update("t", TaskStatus.PROCESSING)]


async def test_starting_a_task_held_by_another_agent_raises_not_held_and_changes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    first = await held(dispatch, "t", "first", start=False)
    with pytest.raises(errors.NotHeld, match="first"):
        await dispatch.start(first.task, first.lease, agent_id="second", at=AT)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.owner_pod_id) == (TaskStatus.DISPATCHED, "first")


async def test_starting_a_task_nobody_claimed_raises_not_held(store: RedisStateStore, dispatch: RedisDispatch) -> None:
    await open_session(store)
    [queued] = await store.create_tasks("s", [task("t")], at=AT)
    lease = ports.Lease(ports.QueuedTask("t", "s", 1), PARTITION, AGENT, LATER)
    with pytest.raises(errors.NotHeld, match="SUBMITTED"):
        await dispatch.start(queued, lease, agent_id=AGENT, at=AT)
    assert await status_of(store, "t") is TaskStatus.SUBMITTED


async def test_a_claimed_task_cancelled_while_it_waited_ends_cancelled_at_its_start(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    waiting = await held(dispatch, "t", start=False)
    await store.cancel_tasks(["t"], at=AT, reason="user")
    recorded.take()
    assert await dispatch.start(waiting.task, waiting.lease, agent_id=AGENT, at=LATER) is None
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.ended_at) == (TaskStatus.CANCELLED, LATER)
    assert await leased(queue) == 0
    assert recorded.take() == [task_update("t", TaskStatus.CANCELLED)]


# == the end of a cancellation =================================================
async def test_ending_a_cancellation_sets_a_cancelling_task_cancelled_and_acks_its_lease(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    await store.cancel_tasks(["t"], at=AT, reason="stop")
    recorded.take()
    await dispatch.cancelled(running.task, running.lease, agent_id=AGENT, at=LATER)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.ended_at) == (TaskStatus.CANCELLED, LATER)
    assert await leased(queue) == 0
    assert recorded.take() == [task_update("t", TaskStatus.CANCELLED)]


async def test_ending_a_cancellation_by_an_agent_that_does_not_hold_the_task_changes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t", "holder")
    await store.cancel_tasks(["t"], at=AT, reason="stop")
    await dispatch.cancelled(running.task, running.lease, agent_id="intruder", at=LATER)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.owner_pod_id) == (TaskStatus.CANCELLING, "holder")
    assert await leased(queue) == 1


async def test_ending_a_cancellation_of_a_task_that_is_not_cancelling_leaves_it_held_and_leased(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    await dispatch.cancelled(running.task, running.lease, agent_id=AGENT, at=LATER)
    assert await status_of(store, "t") is TaskStatus.PROCESSING
    assert await leased(queue) == 1


# == commit ======================================================================
async def test_committing_completes_the_task_and_its_outputs_and_acks_the_lease(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t")
    recorded.take()
    commit = TaskCommit(completions=[completion("out", 11)])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    [done] = await store.get_tasks(["t"])
    assert (done.status, done.ended_at, done.processed_at, done.output_success) == (
        TaskStatus.COMPLETED,
        LATER,
        LATER,
        True,
    )
    [out] = await store.get_results(["out"])
    assert (out.status, out.size, out.opaque_id, out.completed_at, out.created_by) == (
        ResultStatus.COMPLETED,
        11,
        b"key-out",
        LATER,
        "t",
    )
    assert await leased(queue) == 0
    assert recorded.take() == [result_update("out", ResultStatus.COMPLETED), task_update("t", TaskStatus.COMPLETED)]


async def test_committing_queues_the_tasks_waiting_on_a_completed_output(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    running = await held(dispatch, "t")
    assert await queue.depth(PARTITION) == 0
    commit = TaskCommit(completions=[completion("out")])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    [ready] = await store.get_tasks(["next"])
    assert (ready.status, ready.submitted_at) == (TaskStatus.SUBMITTED, LATER)
    assert await queue.depth(PARTITION) == 1
    assert await claimed_ids(dispatch, 2) == ["next"]


async def test_committing_creates_the_new_results_and_the_children_in_one_step(
    store: RedisStateStore, dispatch: RedisDispatch, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t")
    recorded.take()
    commit = TaskCommit(
        new_results=[result("child-payload"), result("child-out")],
        completions=[completion("child-payload"), completion("out")],
        children=[task("child", payload="child-payload", outputs=["child-out"], created_by="t")],
    )
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await result_statuses(store, "child-payload", "child-out", "out") == [
        ResultStatus.COMPLETED,
        ResultStatus.CREATED,
        ResultStatus.COMPLETED,
    ]
    [child] = await store.get_tasks(["child"])
    assert (child.status, child.parent_task_ids, child.created_by) == (TaskStatus.SUBMITTED, ["t"], "t")
    assert await store.owners_of("s", ["child-out"]) == {"child-out": "child"}
    assert recorded.take() == sorted(
        [
            new_result("child-payload"),
            new_result("child-out"),
            result_update("child-payload", ResultStatus.COMPLETED),
            result_update("out", ResultStatus.COMPLETED),
            new_task("child", TaskStatus.SUBMITTED),
            owner_update("child-out", "", "child"),
            task_update("t", TaskStatus.COMPLETED),
        ]
    )


async def test_a_child_listing_the_parents_expected_output_takes_over_its_ownership(
    store: RedisStateStore, dispatch: RedisDispatch, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    running = await held(dispatch, "t")
    recorded.take()
    commit = TaskCommit(children=[task("child", outputs=["out"], created_by="t")])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await store.owners_of("s", ["out"]) == {"out": "child"}
    assert await result_statuses(store, "out") == [ResultStatus.CREATED]
    assert await statuses_of(store, "child", "next") == [TaskStatus.SUBMITTED, TaskStatus.PENDING]
    assert recorded.take() == [
        new_task("child", TaskStatus.SUBMITTED),
        owner_update("out", "t", "child"),
        task_update("t", TaskStatus.COMPLETED),
    ]


async def test_the_output_a_child_took_over_releases_its_waiting_tasks_when_the_child_completes_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    parent = await held(dispatch, "t")
    commit = TaskCommit(children=[task("child", outputs=["out"], created_by="t")])
    await dispatch.commit(parent.task, parent.lease, agent_id=AGENT, commit=commit, at=AT)
    child = await held(dispatch, "child")
    commit = TaskCommit(completions=[completion("out")])
    await dispatch.commit(child.task, child.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await status_of(store, "next") is TaskStatus.SUBMITTED


async def test_a_child_depending_on_a_result_completed_in_the_same_commit_is_ready(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    commit = TaskCommit(
        new_results=[result("made")],
        completions=[completion("made")],
        children=[task("child", dependencies=["made"], created_by="t")],
    )
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=AT)
    assert await status_of(store, "child") is TaskStatus.SUBMITTED


async def test_a_child_depending_on_a_new_result_not_yet_completed_waits_for_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    commit = TaskCommit(new_results=[result("later")], children=[task("child", dependencies=["later"], created_by="t")])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=AT)
    assert await status_of(store, "child") is TaskStatus.PENDING
    assert await store.complete_results("s", [completion("later")], completed_by="s", at=LATER) == 1
    assert await status_of(store, "child") is TaskStatus.SUBMITTED


async def test_a_commit_by_an_agent_that_does_not_hold_the_task_raises_not_held_and_writes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t", "holder")
    recorded.take()
    commit = TaskCommit(
        new_results=[result("made")], completions=[completion("out")], children=[task("child", created_by="t")]
    )
    with pytest.raises(errors.NotHeld, match="holder"):
        await dispatch.commit(running.task, running.lease, agent_id="intruder", commit=commit, at=LATER)
    await assert_commit_left_nothing(store, queue)
    assert recorded.take() == []


async def test_a_commit_of_a_task_cancelled_while_running_raises_not_held(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t")
    await store.cancel_tasks(["t"], at=AT, reason="stop")
    with pytest.raises(errors.NotHeld, match="CANCELLING"):
        commit = TaskCommit(completions=[completion("out")])
        await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await status_of(store, "t") is TaskStatus.CANCELLING
    assert await result_statuses(store, "out") == [ResultStatus.ABORTED]


async def test_a_commit_of_a_task_not_yet_started_raises_not_held(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    waiting = await held(dispatch, "t", start=False)
    with pytest.raises(errors.NotHeld, match="DISPATCHED"):
        await dispatch.commit(waiting.task, waiting.lease, agent_id=AGENT, commit=TaskCommit(), at=AT)
    assert await status_of(store, "t") is TaskStatus.DISPATCHED


async def test_a_commit_with_a_child_depending_on_an_unknown_result_raises_not_found_and_writes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t", "holder")
    recorded.take()
    commit = TaskCommit(
        new_results=[result("made")],
        completions=[completion("out")],
        children=[task("child", dependencies=["unknown"], created_by="t")],
    )
    with pytest.raises(errors.NotFound, match="unknown"):
        await dispatch.commit(running.task, running.lease, agent_id="holder", commit=commit, at=LATER)
    await assert_commit_left_nothing(store, queue)
    assert recorded.take() == []


async def test_a_commit_completing_a_result_that_is_not_created_raises_failed_precondition_and_writes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store, created=["out"], completed=["already"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t", "holder")
    commit = TaskCommit(
        new_results=[result("made")],
        completions=[completion("out"), completion("already")],
        children=[task("child", created_by="t")],
    )
    with pytest.raises(errors.FailedPrecondition, match="already"):
        await dispatch.commit(running.task, running.lease, agent_id="holder", commit=commit, at=LATER)
    await assert_commit_left_nothing(store, queue)


async def test_a_commit_keeps_the_small_data_of_its_outputs_with_their_records_and_claims_carry_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["small", "large"])
    await store.create_tasks(
        "s", [task("t", outputs=["small", "large"]), task("reader", dependencies=["small", "large"])], at=AT
    )
    running = await held(dispatch, "t")
    commit = TaskCommit(completions=[completion("small", 2, data=b"hi"), completion("large", 10)])
    await dispatch.commit(running.task, running.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await store.result_data("s", "small") == ports.ResultData(ResultStatus.COMPLETED, 2, b"key-small", b"hi")
    assert (await store.result_data("s", "large")).data is None
    [claim] = await claims(dispatch)
    assert claim.task_id == "reader" and dict(claim.data) == {"small": b"hi"}
    assert {r: (claim.inputs[r].status, claim.inputs[r].size) for r in ("small", "large")} == {
        "small": (ResultStatus.COMPLETED, 2),
        "large": (ResultStatus.COMPLETED, 10),
    }


# == failure =====================================================================
@pytest.mark.parametrize("status", [TaskStatus.ERROR, TaskStatus.TIMEOUT])
async def test_a_failed_task_aborts_its_outputs_and_fails_the_tasks_waiting_on_them(
    store: RedisStateStore,
    dispatch: RedisDispatch,
    queue: RedisTaskQueue,
    recorded: RedisRecordingBus,
    status: TaskStatus,
) -> None:
    await open_session(store, created=["r1", "r2", "r3"])
    await store.create_tasks(
        "s",
        [
            task("t", outputs=["r1"]),
            task("d1", dependencies=["r1"], outputs=["r2"]),
            task("d2", dependencies=["r2"], outputs=["r3"]),
        ],
        at=AT,
    )
    running = await held(dispatch, "t")
    recorded.take()
    failed = await dispatch.fail(running.task, running.lease, agent_id=AGENT, status=status, message="boom", at=LATER)
    assert (failed.status, failed.status_message, failed.output_error, failed.ended_at) == (
        status,
        "boom",
        "boom",
        LATER,
    )
    assert await statuses_of(store, "t", "d1", "d2") == [status, TaskStatus.ERROR, TaskStatus.ERROR]
    assert await result_statuses(store, "r1", "r2", "r3") == [ResultStatus.ABORTED] * 3
    assert await leased(queue) == 0
    assert recorded.take() == sorted(
        [
            task_update("t", status),
            task_update("d1", TaskStatus.ERROR),
            task_update("d2", TaskStatus.ERROR),
            *(result_update(r, ResultStatus.ABORTED) for r in ("r1", "r2", "r3")),
        ]
    )


async def test_failing_a_task_held_by_another_agent_raises_not_held_and_changes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t", "holder")
    with pytest.raises(errors.NotHeld):
        await dispatch.fail(
            running.task, running.lease, agent_id="intruder", status=TaskStatus.ERROR, message="x", at=AT
        )
    assert await status_of(store, "t") is TaskStatus.PROCESSING
    assert await result_statuses(store, "out") == [ResultStatus.CREATED]


async def test_failing_a_cancelling_task_as_cancelled_finalises_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    await store.cancel_tasks(["t"], at=AT, reason="stop")
    done = await dispatch.fail(
        running.task, running.lease, agent_id=AGENT, status=TaskStatus.CANCELLED, message="cancelled", at=LATER
    )
    assert (done.status, done.ended_at) == (TaskStatus.CANCELLED, LATER)
    assert await status_of(store, "t") is TaskStatus.CANCELLED


# == retry =======================================================================
async def test_a_retry_replaces_the_failed_attempt_with_a_new_submitted_task(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"], completed=["dep"])
    await store.create_tasks("s", [task("t", dependencies=["dep"], outputs=["out"])], at=AT)
    running = await held(dispatch, "t")
    recorded.take()
    retry = await dispatch.retry(running.task, running.lease, agent_id=AGENT, message="worker crashed", at=LATER)
    assert (retry.task_id, retry.status, retry.retry_of_ids, retry.initial_task_id, retry.created_by) == (
        "t###1",
        TaskStatus.SUBMITTED,
        ["t"],
        "t",
        "t",
    )
    assert (retry.payload_id, retry.data_dependencies, retry.expected_output_ids) == (payload_of("s"), ["dep"], ["out"])
    assert (retry.owner_pod_id, retry.options.priority, retry.submitted_at) == ("", 1, LATER)
    assert (await store.get_tasks(["t###1"]))[0] == retry
    [old] = await store.get_tasks(["t"])
    assert (old.status, old.status_message) == (TaskStatus.RETRIED, "worker crashed")
    assert await store.owners_of("s", ["out"]) == {"out": "t###1"}
    assert await result_statuses(store, "out") == [ResultStatus.CREATED]
    assert (await leased(queue), await queue.depth(PARTITION)) == (0, 1)
    assert recorded.take() == [
        new_task("t###1", TaskStatus.SUBMITTED),
        owner_update("out", "t", "t###1"),
        task_update("t", TaskStatus.RETRIED),
    ]


async def test_a_second_retry_is_named_after_the_initial_task(store: RedisStateStore, dispatch: RedisDispatch) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    first = await held(dispatch, "t")
    await dispatch.retry(first.task, first.lease, agent_id=AGENT, message="first crash", at=AT)
    again = await held(dispatch, "t###1", "agent-2")
    second = await dispatch.retry(again.task, again.lease, agent_id="agent-2", message="second crash", at=LATER)
    assert (second.task_id, second.retry_of_ids, second.initial_task_id) == ("t###2", ["t", "t###1"], "t")
    assert await statuses_of(store, "t", "t###1", "t###2") == [
        TaskStatus.RETRIED,
        TaskStatus.RETRIED,
        TaskStatus.SUBMITTED,
    ]
    assert await store.owners_of("s", ["out"]) == {"out": "t###2"}


async def test_the_tasks_waiting_on_a_retried_output_are_released_when_the_retry_completes_it(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    first = await held(dispatch, "t")
    await dispatch.retry(first.task, first.lease, agent_id=AGENT, message="crash", at=AT)
    assert await status_of(store, "next") is TaskStatus.PENDING
    retry = await held(dispatch, "t###1")
    commit = TaskCommit(completions=[completion("out")])
    await dispatch.commit(retry.task, retry.lease, agent_id=AGENT, commit=commit, at=LATER)
    assert await status_of(store, "next") is TaskStatus.SUBMITTED


async def test_retrying_a_task_held_by_another_agent_raises_not_held_and_changes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    running = await held(dispatch, "t", "holder")
    with pytest.raises(errors.NotHeld):
        await dispatch.retry(running.task, running.lease, agent_id="intruder", message="x", at=AT)
    assert await status_of(store, "t") is TaskStatus.PROCESSING
    assert await store.owners_of("s", ["out"]) == {"out": "t"}
    with pytest.raises(errors.NotFound):
        await store.get_tasks(["t###1"])


async def test_a_retry_whose_id_is_taken_raises_already_exists_and_leaves_the_attempt_as_it_was(
    store: RedisStateStore, dispatch: RedisDispatch, recorded: RedisRecordingBus
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("t###1")], at=AT)
    running = await held(dispatch, "t")
    recorded.take()
    with pytest.raises(errors.AlreadyExists, match="t###1"):
        await dispatch.retry(running.task, running.lease, agent_id=AGENT, message="crash", at=LATER)
    [attempt] = await store.get_tasks(["t"])
    assert (attempt.status, attempt.owner_pod_id, attempt.output_error) == (TaskStatus.PROCESSING, AGENT, "")
    assert await store.owners_of("s", ["out"]) == {"out": "t"}
    assert recorded.take() == []


# == release =====================================================================
@pytest.mark.parametrize("started", [False, True])
async def test_a_released_task_is_submitted_again_without_owner_or_retry_and_served_first(
    store: RedisStateStore,
    dispatch: RedisDispatch,
    queue: RedisTaskQueue,
    recorded: RedisRecordingBus,
    started: bool,
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("u")], at=AT)
    running = await held(dispatch, "t", start=started)
    recorded.take()
    released = await dispatch.release(running.task, running.lease, agent_id=AGENT, at=LATER)
    assert (released.task_id, released.status, released.owner_pod_id, released.pod_hostname) == (
        "t",
        TaskStatus.SUBMITTED,
        "",
        "",
    )
    assert released.retry_of_ids == []
    assert (await store.get_tasks(["t"]))[0] == released
    assert await store.owners_of("s", ["out"]) == {"out": "t"}
    assert recorded.take() == [task_update("t", TaskStatus.SUBMITTED)]
    with pytest.raises(errors.NotFound):
        await store.get_tasks(["t###1"])
    assert (await leased(queue), await queue.depth(PARTITION)) == (0, 2)
    assert await claimed_ids(dispatch, 2, "agent-2") == ["t", "u"]


async def test_a_task_released_while_its_session_is_paused_is_paused(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t")
    await store.update_session("s", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=AT)
    released = await dispatch.release(running.task, running.lease, agent_id=AGENT, at=LATER)
    assert (released.status, released.owner_pod_id) == (TaskStatus.PAUSED, "")
    assert (await leased(queue), await queue.depth(PARTITION)) == (0, 0)


async def test_releasing_a_task_held_by_another_agent_raises_not_held(
    store: RedisStateStore, dispatch: RedisDispatch
) -> None:
    await open_session(store)
    await store.create_tasks("s", [task("t")], at=AT)
    running = await held(dispatch, "t", "holder")
    with pytest.raises(errors.NotHeld):
        await dispatch.release(running.task, running.lease, agent_id="intruder", at=AT)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.owner_pod_id) == (TaskStatus.PROCESSING, "holder")


# == sent twice ==================================================================
async def _finish(dispatch: RedisDispatch, kind: str, running: Hold) -> None:
    """One of the finishes an agent sends, for ``running``."""
    task_, lease = running.task, running.lease
    if kind == "commit":
        commit = TaskCommit(new_results=[result("made")], completions=[completion("out")])
        await dispatch.commit(task_, lease, agent_id=AGENT, commit=commit, at=LATER)
    elif kind == "fail":
        await dispatch.fail(task_, lease, agent_id=AGENT, status=TaskStatus.ERROR, message="boom", at=LATER)
    elif kind == "retry":
        await dispatch.retry(task_, lease, agent_id=AGENT, message="crash", at=LATER)
    elif kind == "release":
        await dispatch.release(task_, lease, agent_id=AGENT, at=LATER)
    else:
        await dispatch.cancelled(task_, lease, agent_id=AGENT, at=LATER)


FINISHES = ["commit", "fail", "retry", "release", "cancelled"]
EVERYTHING = ListQuery(page_size=1000)


@pytest.mark.parametrize("kind", FINISHES)
async def test_a_finish_sent_twice_answers_ok_and_writes_once(
    store: RedisStateStore,
    dispatch: RedisDispatch,
    queue: RedisTaskQueue,
    recorded: RedisRecordingBus,
    kind: str,
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"]), task("next", dependencies=["out"])], at=AT)
    running = await held(dispatch, "t")
    if kind == "cancelled":
        await store.cancel_tasks(["t"], at=AT, reason="stop")
    await _finish(dispatch, kind, running)
    recorded.take()
    tasks_before = (await store.list_tasks(query=EVERYTHING)).items
    results_before = (await store.list_results(query=EVERYTHING)).items
    counts_before = await store.status_counts()
    depth_before = await queue.depth(PARTITION)
    await _finish(dispatch, kind, running)  # its first reply was lost: sent again
    assert recorded.take() == []
    assert (await store.list_tasks(query=EVERYTHING)).items == tasks_before
    assert (await store.list_results(query=EVERYTHING)).items == results_before
    assert await store.status_counts() == counts_before
    assert (await queue.depth(PARTITION), await leased(queue)) == (depth_before, 0)


@pytest.mark.parametrize("kind", ["commit", "fail", "retry", "release"])
async def test_a_finish_of_a_late_agent_whose_task_was_taken_over_is_refused_and_writes_nothing(
    store: RedisStateStore, dispatch: RedisDispatch, queue: RedisTaskQueue, kind: str
) -> None:
    await open_session(store, created=["out"])
    await store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
    late = await held(dispatch, "t", start=False)
    [reaped] = await queue.reap_expired(now=late.lease.expires_at)
    assert (reaped.item.task_id, reaped.agent_id) == ("t", AGENT)
    released = await dispatch.release(late.task, None, agent_id=AGENT, at=AT)  # what the reaper does
    assert released.status is TaskStatus.SUBMITTED
    await held(dispatch, "t", "successor")
    with pytest.raises(errors.NotHeld, match="successor"):
        await _finish(dispatch, kind, late)
    [stored] = await store.get_tasks(["t"])
    assert (stored.status, stored.owner_pod_id) == (TaskStatus.PROCESSING, "successor")
    assert await result_statuses(store, "out") == [ResultStatus.CREATED]
    assert await leased(queue) == 1  # the successor's lease: a late agent never acks it
