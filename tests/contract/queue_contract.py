"""Contract of the partition queues: the order ``Dispatch.claim`` serves
ready tasks in, and ``TaskQueue``'s upkeep (runnable depth, leases,
wake-ups), driven through the real transitions: tasks enter a queue when
the state makes them ready (creation, a completion, a release, a resume)
and leave it when claimed.

An adapter's test module subclasses ``TaskQueueContract`` and defines the
fixtures ``store`` (a ``StateStore``), ``dispatch`` (its ``Dispatch``),
``queue`` (its ``TaskQueue``), all three on one empty storage, the leases
of the last two ruled by the ``clock`` fixture (a ``FakeClock``), and
``claims_waiting``: an async function counting the claims blocked waiting
for a task, which ``started`` waits on.

Order: a higher priority always first; inside a priority, the sessions with
ready tasks in turn (a session that joins is served within a round, and
takes no run of turns ahead of those already waiting); inside a session and
priority, submission order.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from pyarmonik.core.models import Task
from pyarmonik.core.statuses import SessionStatus
from pyarmonik.storage.ports import Admission, Claim, Dispatch, LeaseState, StateStore, TaskCommit, TaskQueue
from tests.helpers import wait_for_async

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
    task,
)

ClaimsWaiting = Callable[[], Awaitable[int]]
Start = Callable[[Coroutine[Any, Any, Any]], Awaitable[asyncio.Task[Any]]]

WAIT = 2.0  # bound on every wait for something that should happen
LEASE = LEASE_SECONDS


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def on(partition: str, built: Task) -> Task:
    """The task ``built`` on another partition."""
    return dataclasses.replace(built, options=dataclasses.replace(built.options, partition_id=partition))


def tasks_of(session_id: str, count: int, *, priority: int = 1, first: int = 0) -> list[Task]:
    """Tasks ``<session>-<n>`` of a session, ready to run."""
    return [task(f"{session_id}-{n:03d}", session_id, priority=priority) for n in range(first, first + count)]


async def waiting_claim(
    dispatch: Dispatch, partition: str = PARTITION, *, agent_id: str = AGENT, timeout: float = WAIT
) -> list[Claim]:
    """A claim that waits up to ``timeout`` for a task (bounded by the test's WAIT)."""
    return await asyncio.wait_for(
        dispatch.claim(
            partition, agent_id=agent_id, hostname=HOST, lease_seconds=LEASE, count=1, start_first=True,
            timeout=timeout,
        ),
        WAIT + timeout,
    )  # fmt: skip


def run_ids(found: list[Claim]) -> list[str]:
    return [c.task_id for c in found if c.admission is Admission.RUN]


def starter(claims_waiting: ClaimsWaiting) -> Start:
    """Starts a claim and returns its task once the queue counts it waiting."""

    async def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        before = await claims_waiting()
        running = asyncio.ensure_future(coro)

        async def claim_is_waiting() -> bool:
            assert not running.done(), "the claim ended instead of waiting"
            return await claims_waiting() > before

        await wait_for_async(claim_is_waiting, WAIT)
        return running

    return start


class TaskQueueContract:
    @pytest.fixture
    def started(self, claims_waiting: ClaimsWaiting) -> Start:
        return starter(claims_waiting)

    # -- order --------------------------------------------------------------------
    async def test_higher_priority_tasks_are_claimed_first(self, store: StateStore, dispatch: Dispatch) -> None:
        await open_session(store)
        await store.create_tasks(
            "s", [task("low", priority=1), task("high", priority=9), task("mid", priority=5)], at=AT
        )
        await store.create_tasks("s", [task("highest", priority=10)], at=AT)
        assert await claimed_ids(dispatch, 5) == ["highest", "high", "mid", "low"]

    async def test_a_higher_priority_task_of_another_session_is_claimed_first_whenever_it_came(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store, "early")
        await open_session(store, "late")
        await store.create_tasks("early", tasks_of("early", 3), at=AT)
        assert await claimed_ids(dispatch, 1) == ["early-000"]
        await store.create_tasks("late", tasks_of("late", 2, priority=2), at=AT)
        assert await claimed_ids(dispatch, 5) == ["late-000", "late-001", "early-001", "early-002"]

    async def test_tasks_of_one_session_and_priority_are_claimed_in_the_order_they_became_ready(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store, created=["dep"])
        await store.create_tasks("s", [task("a"), task("waits", dependencies=["dep"]), task("b")], at=AT)
        await store.create_tasks("s", [task("c")], at=AT)
        await store.complete_results("s", [completion("dep")], completed_by="s", at=AT)
        await store.create_tasks("s", [task("d")], at=AT)
        assert await claimed_ids(dispatch, 6) == ["a", "b", "c", "waits", "d"]

    async def test_sessions_of_one_priority_are_served_in_turn(self, store: StateStore, dispatch: Dispatch) -> None:
        await open_session(store, "a")
        await open_session(store, "b")
        await store.create_tasks("a", tasks_of("a", 5), at=AT)
        await store.create_tasks("b", tasks_of("b", 2), at=AT)
        taken = await claimed_ids(dispatch, 8)
        assert [set(taken[i : i + 2]) for i in (0, 2)] == [{"a-000", "b-000"}, {"a-001", "b-001"}]
        assert taken[4:] == ["a-002", "a-003", "a-004"]

    async def test_a_small_session_is_served_within_a_round_of_a_flooded_one(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store, "flood")
        await open_session(store, "small")
        await store.create_tasks("flood", tasks_of("flood", 100), at=AT)
        assert await claimed_ids(dispatch, 10) == [f"flood-{n:03d}" for n in range(10)]
        await store.create_tasks("small", tasks_of("small", 3), at=AT)
        taken = await claimed_ids(dispatch, 6)
        assert "small-000" in taken[:2]
        assert [t for t in taken if t.startswith("small")] == ["small-000", "small-001", "small-002"]
        assert [t for t in taken if t.startswith("flood")] == ["flood-010", "flood-011", "flood-012"]

    async def test_a_session_joining_a_priority_takes_no_run_of_turns_ahead_of_those_waiting(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store, "first")
        await open_session(store, "joiner")
        await store.create_tasks("first", tasks_of("first", 20), at=AT)
        assert len(await claimed_ids(dispatch, 10)) == 10
        await store.create_tasks("joiner", tasks_of("joiner", 10), at=AT)
        taken = await claimed_ids(dispatch, 10)
        for pair in range(0, 10, 2):
            assert {t.split("-")[0] for t in taken[pair : pair + 2]} == {"first", "joiner"}, taken

    async def test_partitions_are_independent_queues(self, store: StateStore, dispatch: Dispatch) -> None:
        await open_session(store)
        await store.create_tasks("s", [on("p1", task("one", priority=1)), on("p2", task("two", priority=9))], at=AT)
        assert await claimed_ids(dispatch, 2, partition="p1") == ["one"]
        assert await claimed_ids(dispatch, 2, partition="p2") == ["two"]

    async def test_a_released_task_is_served_before_the_later_tasks_of_its_session(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("a"), task("b")], at=AT)
        first = await held(dispatch, "a")
        await store.create_tasks("s", [task("c")], at=AT)
        await dispatch.release(first.task, first.lease, agent_id=AGENT, at=AT)
        assert await claimed_ids(dispatch, 4) == ["a", "b", "c"]

    async def test_a_released_task_still_yields_to_higher_priorities(
        self, store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("low", priority=1)], at=AT)
        first = await held(dispatch, "low")
        await store.create_tasks("s", [task("high", priority=2)], at=AT)
        await dispatch.release(first.task, first.lease, agent_id=AGENT, at=AT)
        assert await claimed_ids(dispatch, 3) == ["high", "low"]

    # -- runnable depth -------------------------------------------------------------
    async def test_depth_counts_the_submitted_tasks_of_the_partition_not_the_pending_or_claimed_ones(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue
    ) -> None:
        assert await queue.depth(PARTITION) == 0
        await open_session(store, created=["dep"])
        await store.create_tasks("s", [task("a"), task("b"), task("c"), task("w", dependencies=["dep"])], at=AT)
        await store.create_tasks("s", [on("other", task("x"))], at=AT)
        assert (await queue.depth(PARTITION), await queue.depth("other")) == (3, 1)
        await held(dispatch, "a")
        assert await queue.depth(PARTITION) == 2
        await store.complete_results("s", [completion("dep")], completed_by="s", at=AT)
        assert await queue.depth(PARTITION) == 3
        assert await queue.depth("nowhere") == 0

    async def test_cancelled_tasks_stop_counting_at_once(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("a"), task("b"), task("c")], at=AT)
        await store.cancel_tasks(["a", "c"], at=AT, reason="stop")
        assert await queue.depth(PARTITION) == 1
        assert await claimed_ids(dispatch, 3) == ["b"]
        assert await queue.depth(PARTITION) == 0

    @pytest.mark.parametrize(
        "status", [SessionStatus.PAUSED, SessionStatus.CLOSED, SessionStatus.CANCELLED], ids=lambda s: s.name
    )
    async def test_the_tasks_of_a_session_that_stops_running_leave_the_queue_and_the_depth(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, status: SessionStatus
    ) -> None:
        await open_session(store, "stopped")
        await open_session(store, "running")
        await store.create_tasks("stopped", tasks_of("stopped", 3), at=AT)
        await store.create_tasks("running", tasks_of("running", 1), at=AT)
        await store.update_session("stopped", allowed_from=frozenset(SessionStatus), status=status, at=AT)
        # Then the session's tasks, as the lifecycle's pause, close and cancel do.
        if status is SessionStatus.PAUSED:
            await store.pause_session_tasks("stopped", at=AT)
        elif status is SessionStatus.CLOSED:
            await store.cancel_queued_tasks("stopped", at=AT)
        else:
            await store.cancel_session("stopped", at=AT)
        assert await queue.depth(PARTITION) == 1
        assert await claimed_ids(dispatch, 4) == ["running-000"]

    async def test_a_resumed_session_is_queued_again(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("a"), task("b")], at=AT)
        await store.update_session("s", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=AT)
        await store.pause_session_tasks("s", at=AT)
        assert await queue.depth(PARTITION) == 0
        await store.update_session("s", allowed_from=frozenset(SessionStatus), status=SessionStatus.RUNNING, at=AT)
        await store.resume_session_tasks("s", at=LATER)
        assert await queue.depth(PARTITION) == 2
        assert await claimed_ids(dispatch, 3) == ["a", "b"]

    # -- leases ---------------------------------------------------------------------
    async def test_leased_counts_the_tasks_claimed_until_their_outcome_is_written_or_their_lease_reaped(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        assert await queue.leased(PARTITION) == 0
        await open_session(store)
        await store.create_tasks("s", [task("done"), task("back"), task("lost"), on("other", task("x"))], at=AT)
        done, back, _ = [await held(dispatch, t, f"agent-{t}") for t in ("done", "back", "lost")]
        assert run_ids(await claims(dispatch, partition="other")) == ["x"]
        assert (await queue.leased(PARTITION), await queue.leased("other")) == (3, 1)
        await dispatch.commit(done.task, done.lease, agent_id=done.agent_id, commit=TaskCommit(), at=AT)
        await dispatch.release(back.task, back.lease, agent_id=back.agent_id, at=AT)
        assert (await queue.depth(PARTITION), await queue.leased(PARTITION)) == (1, 1)
        clock.advance(LEASE)
        await queue.reap_expired(now=clock())
        assert (await queue.leased(PARTITION), await queue.leased("other")) == (0, 0)

    async def test_renewing_leases_extends_them_and_says_each_is_held(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("a"), task("b")], at=AT)
        a, b = await held(dispatch, "a"), await held(dispatch, "b", start=False)
        clock.advance(LEASE - 1)
        states = await queue.renew(PARTITION, agent_id=AGENT, leases=[a.lease, b.lease], lease_seconds=LEASE)
        assert states == [LeaseState.HELD, LeaseState.HELD]
        assert await queue.reap_expired(now=a.lease.expires_at) == []
        assert [lease.item.task_id for lease in await queue.reap_expired(now=clock() + LEASE)] == ["a", "b"]

    async def test_renewing_no_lease_is_harmless(self, queue: TaskQueue) -> None:
        assert await queue.renew(PARTITION, agent_id=AGENT, leases=[], lease_seconds=LEASE) == []

    async def test_a_renewal_says_cancelling_for_a_task_cancelled_while_held_and_keeps_its_lease(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("t")], at=AT)
        running = await held(dispatch, "t")
        await store.cancel_tasks(["t"], at=AT, reason="stop")
        clock.advance(LEASE - 1)
        assert await queue.renew(PARTITION, agent_id=AGENT, leases=[running.lease], lease_seconds=LEASE) == [
            LeaseState.CANCELLING
        ]
        assert await queue.reap_expired(now=running.lease.expires_at) == []

    async def test_a_renewal_says_lost_for_a_lease_reaped_acked_or_taken_over(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("reaped"), task("done"), task("taken")], at=AT)
        reaped = await held(dispatch, "reaped")
        clock.advance(LEASE)
        assert len(await queue.reap_expired(now=clock())) == 1
        done = await held(dispatch, "done")
        await dispatch.commit(done.task, done.lease, agent_id=AGENT, commit=TaskCommit(), at=AT)
        taken = await held(dispatch, "taken", start=False)
        await dispatch.release(taken.task, taken.lease, agent_id=AGENT, at=AT)
        await held(dispatch, "taken", "successor")
        leases = [reaped.lease, done.lease, taken.lease]
        assert await queue.renew(PARTITION, agent_id=AGENT, leases=leases, lease_seconds=LEASE) == [LeaseState.LOST] * 3
        assert await queue.leased(PARTITION) == 1  # the successor's, untouched

    async def test_an_unexpired_lease_is_not_reaped(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("t")], at=AT)
        running = await held(dispatch, "t")
        assert await queue.reap_expired(now=clock() + LEASE - 1) == []
        assert await queue.renew(PARTITION, agent_id=AGENT, leases=[running.lease], lease_seconds=LEASE) == [
            LeaseState.HELD
        ]

    async def test_an_expired_lease_is_reaped_once_naming_its_task_and_agent_and_its_task_is_not_queued_again(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("expiring"), task("kept")], at=AT)
        expiring = await held(dispatch, "expiring", "a1")
        clock.advance(LEASE / 2)
        kept = await held(dispatch, "kept", "a2")
        clock.advance(LEASE / 2)
        reaped = await queue.reap_expired(now=clock())
        assert [
            (lease.item.task_id, lease.item.session_id, lease.agent_id, lease.partition_id) for lease in reaped
        ] == [("expiring", "s", "a1", PARTITION)]
        assert await queue.reap_expired(now=clock()) == []
        assert await queue.renew(PARTITION, agent_id="a1", leases=[expiring.lease], lease_seconds=LEASE) == [
            LeaseState.LOST
        ]
        assert await queue.renew(PARTITION, agent_id="a2", leases=[kept.lease], lease_seconds=LEASE) == [
            LeaseState.HELD
        ]
        assert await queue.depth(PARTITION) == 0  # what the task becomes is the reaper's to decide

    async def test_a_reaped_lease_not_settled_in_time_is_reaped_again_and_a_settled_one_is_not(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, clock: FakeClock
    ) -> None:
        """A reaper that stops between taking leases and settling their
        tasks must not leave those tasks without a lease for ever."""
        await open_session(store)
        await store.create_tasks("s", [task("forgotten"), task("settled")], at=AT)
        for name in ("forgotten", "settled"):
            await held(dispatch, name)
        clock.advance(LEASE)
        reaped = await queue.reap_expired(now=clock(), retry_after=30)
        assert sorted(lease.item.task_id for lease in reaped) == ["forgotten", "settled"]
        await queue.forget_reaped([lease for lease in reaped if lease.item.task_id == "settled"])
        assert await queue.reap_expired(now=clock() + 29) == []
        [again] = await queue.reap_expired(now=clock() + 30)
        assert (again.item.task_id, again.agent_id) == ("forgotten", AGENT)
        await queue.forget_reaped([again])
        assert await queue.reap_expired(now=clock() + 10_000) == []

    # -- waiting for a task -----------------------------------------------------------
    async def test_a_waiting_claim_is_woken_by_a_task_created_ready(
        self, store: StateStore, dispatch: Dispatch, started: Start
    ) -> None:
        await open_session(store)
        waiting = await started(waiting_claim(dispatch))
        await store.create_tasks("s", [task("t")], at=AT)
        assert run_ids(await asyncio.wait_for(waiting, WAIT)) == ["t"]

    async def test_a_waiting_claim_is_woken_by_a_completion_that_makes_a_task_ready(
        self, store: StateStore, dispatch: Dispatch, started: Start
    ) -> None:
        await open_session(store, created=["dep"])
        await store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        waiting = await started(waiting_claim(dispatch))
        await store.complete_results("s", [completion("dep")], completed_by="s", at=AT)
        assert run_ids(await asyncio.wait_for(waiting, WAIT)) == ["t"]

    async def test_a_waiting_claim_is_woken_by_a_release(
        self, store: StateStore, dispatch: Dispatch, started: Start
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("t")], at=AT)
        first = await held(dispatch, "t", "first")
        waiting = await started(waiting_claim(dispatch, agent_id="second"))
        await dispatch.release(first.task, first.lease, agent_id="first", at=AT)
        [again] = await asyncio.wait_for(waiting, WAIT)
        assert (again.task_id, again.lease and again.lease.agent_id) == ("t", "second")

    async def test_a_waiting_claim_is_woken_by_a_resume(
        self, store: StateStore, dispatch: Dispatch, started: Start
    ) -> None:
        await open_session(store)
        await store.create_tasks("s", [task("t")], at=AT)
        await store.update_session("s", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=AT)
        await store.pause_session_tasks("s", at=AT)
        waiting = await started(waiting_claim(dispatch))
        await store.update_session("s", allowed_from=frozenset(SessionStatus), status=SessionStatus.RUNNING, at=AT)
        await store.resume_session_tasks("s", at=AT)
        assert run_ids(await asyncio.wait_for(waiting, WAIT)) == ["t"]

    async def test_a_waiting_claim_is_not_woken_by_a_task_of_another_partition(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, started: Start
    ) -> None:
        await open_session(store)
        waiting = await started(waiting_claim(dispatch, "p1", timeout=0.2))
        await store.create_tasks("s", [on("p2", task("t"))], at=AT)
        assert await asyncio.wait_for(waiting, WAIT) == []
        assert await queue.depth("p2") == 1

    async def test_two_waiting_claims_each_get_one_of_two_tasks(
        self, store: StateStore, dispatch: Dispatch, started: Start
    ) -> None:
        await open_session(store)
        first = await started(waiting_claim(dispatch, agent_id="a1"))
        second = await started(waiting_claim(dispatch, agent_id="a2"))
        await store.create_tasks("s", [task("x"), task("y")], at=AT)
        found = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
        assert sorted(t for claim in found for t in run_ids(claim)) == ["x", "y"]

    async def test_a_cancelled_waiting_claim_loses_no_later_task(
        self, store: StateStore, dispatch: Dispatch, queue: TaskQueue, started: Start
    ) -> None:
        await open_session(store)
        waiting = await started(waiting_claim(dispatch))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await store.create_tasks("s", [task("t")], at=AT)
        assert await queue.depth(PARTITION) == 1
        assert await claimed_ids(dispatch, 1) == ["t"]
