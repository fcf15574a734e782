"""Contract of ``StateStore.status_counts``: the counters metrics read.

Mixed into each adapter's ``StateStoreContract`` test class (it uses the
same ``state_store`` and ``dispatch`` fixtures). The counts are kept by the transitions
themselves, not computed from the records, so every test drives a kind of
transition and then checks the counts against a recount of the records.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pyarmonik.core.filters import ListQuery
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.storage.ports import Dispatch, StateStore, StatusCounts, TaskCommit

from .state_contract import AGENT, AT, LATER, completion, held, open_session, result, task


def on(partition: str, built: Task) -> Task:
    """The task ``built`` on another partition."""
    return dataclasses.replace(built, options=dataclasses.replace(built.options, partition_id=partition))


async def recounted(store: StateStore) -> StatusCounts:
    """The counts a full read of the records gives."""
    everything = ListQuery(page_size=1_000_000)
    tasks = Counter((t.options.partition_id, t.status) for t in (await store.list_tasks(query=everything)).items)
    results = Counter(r.status for r in (await store.list_results(query=everything)).items)
    return StatusCounts(tasks=dict(tasks), results=dict(results))


async def assert_counts_match_the_records(store: StateStore) -> StatusCounts:
    counts = await store.status_counts()
    expected = await recounted(store)
    assert (dict(counts.tasks), dict(counts.results)) == (dict(expected.tasks), dict(expected.results))
    return counts


class StatusCountsContract:
    async def test_an_empty_store_counts_nothing(self, state_store: StateStore) -> None:
        counts = await state_store.status_counts()
        assert (dict(counts.tasks), dict(counts.results)) == ({}, {})

    async def test_new_tasks_are_counted_by_partition_in_their_first_status(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["dep"])
        await state_store.create_tasks(
            "s", [task("a"), on("q", task("b")), on("q", task("c", dependencies=["dep"]))], at=AT
        )
        counts = await assert_counts_match_the_records(state_store)
        assert dict(counts.tasks) == {
            ("p", TaskStatus.SUBMITTED): 1,
            ("q", TaskStatus.SUBMITTED): 1,
            ("q", TaskStatus.PENDING): 1,
        }
        assert dict(counts.results) == {ResultStatus.COMPLETED: 1, ResultStatus.CREATED: 1}

    async def test_counts_follow_the_agent_side_transitions(self, state_store: StateStore, dispatch: Dispatch) -> None:
        await open_session(state_store, created=["out", "child-out", "failed-out"])
        await state_store.create_tasks(
            "s",
            [task("ok", outputs=["out"]), task("bad", outputs=["failed-out"]), task("crash"), task("back")],
            at=AT,
        )
        ok = await held(dispatch, "ok")
        await dispatch.commit(
            ok.task,
            ok.lease,
            agent_id=AGENT,
            commit=TaskCommit(
                new_results=[result("made")],
                completions=[completion("out")],
                children=[task("child", outputs=["child-out"], created_by="ok")],
            ),
            at=LATER,
        )
        bad = await held(dispatch, "bad")
        await dispatch.fail(bad.task, bad.lease, agent_id=AGENT, status=TaskStatus.ERROR, message="no", at=LATER)
        crash = await held(dispatch, "crash")
        await dispatch.retry(crash.task, crash.lease, agent_id=AGENT, message="died", at=LATER)
        back = await held(dispatch, "back", start=False)
        await dispatch.release(back.task, back.lease, agent_id=AGENT, at=LATER)
        counts = await assert_counts_match_the_records(state_store)
        assert dict(counts.tasks) == {
            ("p", TaskStatus.COMPLETED): 1,
            ("p", TaskStatus.ERROR): 1,
            ("p", TaskStatus.RETRIED): 1,
            ("p", TaskStatus.SUBMITTED): 3,  # the child, the retry, the released task
        }
        assert counts.results[ResultStatus.ABORTED] == 1

    async def test_counts_follow_cancels_pauses_and_result_deletions(
        self, state_store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(state_store, created=["r1", "r2"])
        await open_session(state_store, "o", created=["o1"])
        await state_store.create_tasks("o", [task("x", "o"), task("y", "o"), task("z", "o", outputs=["o1"])], at=AT)
        x = await held(dispatch, "x")
        await state_store.create_tasks("s", [task("a", outputs=["r1"]), task("b", dependencies=["r1"])], at=AT)
        await state_store.cancel_tasks(["a"], at=AT, reason="stop")
        await state_store.pause_session_tasks("o", at=AT)
        await assert_counts_match_the_records(state_store)
        await state_store.resume_session_tasks("o", at=AT)
        await state_store.cancel_session("o", at=AT)
        await dispatch.cancelled(x.task, x.lease, agent_id=AGENT, at=LATER)
        await state_store.delete_results_data("s", ["r2"], at=LATER)
        counts = await assert_counts_match_the_records(state_store)
        assert dict(counts.tasks) == {("p", TaskStatus.CANCELLED): 4, ("p", TaskStatus.ERROR): 1}
        assert counts.results[ResultStatus.DELETED] == 1

    async def test_a_deleted_session_takes_its_counts_away(self, state_store: StateStore, dispatch: Dispatch) -> None:
        await open_session(state_store, created=["r"])
        await open_session(state_store, "o")
        await state_store.create_tasks("o", [task("b", "o")], at=AT)
        await held(dispatch, "b")
        await state_store.create_tasks("s", [task("a", outputs=["r"])], at=AT)
        await state_store.delete_session("s")
        counts = await assert_counts_match_the_records(state_store)
        assert dict(counts.tasks) == {("p", TaskStatus.PROCESSING): 1}
        assert dict(counts.results) == {ResultStatus.COMPLETED: 1}
