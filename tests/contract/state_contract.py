"""Contract of ``StateStore``, and the records and set-ups the agent's
side (``Dispatch``, tests/contract/test_dispatch_*.py) shares with it.

An adapter's test module subclasses ``StateStoreContract`` and defines an
``event_bus`` fixture, a ``RecordingEventBus`` (defined here) that keeps
every event the store publishes so that tests can check what each
transition announced, a ``state_store(self, event_bus)`` fixture returning
a fresh, empty store whose events ``event_bus`` records, and a ``dispatch``
fixture: the agent's side of that store, through which tasks are held
(claimed, started) as agents hold them.

The port's docstrings are the contract; where they are silent the tests
follow ArmoniK.Core (``/work/shared/reference/armonik-core-behaviour.md``).
Events of one transition are compared as a sorted list: the order inside a
transition is not part of the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pyarmonik.core import errors, filters
from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind, in_session
from pyarmonik.core.models import Event, Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage.ports import Admission, Claim, Completion, Dispatch, Lease, ResultData, StateStore, TaskCommit

T0 = 1_000.0  # creation time of every record
AT = 2_000.0  # time of the transitions under test
LATER = 3_000.0
AGENT = "agent-1"
HOST = "host-1"
PARTITION = "p"  # every task's, unless a test moves it
LEASE_SECONDS = 30.0

# -- records ------------------------------------------------------------------


def session(session_id: str = "s", status: SessionStatus = SessionStatus.RUNNING, *, created_at: float = T0) -> Session:
    return Session(
        session_id=session_id,
        status=status,
        options=TaskOptions(max_duration=60.0, max_retries=2, priority=1, partition_id="p"),
        partition_ids=["p"],
        created_at=created_at,
    )


def result(
    result_id: str,
    session_id: str = "s",
    *,
    status: ResultStatus = ResultStatus.CREATED,
    owner: str = "",
    manual_deletion: bool = False,
    size: int = 0,
) -> Result:
    return Result(
        session_id=session_id,
        result_id=result_id,
        name=f"name-{result_id}",
        status=status,
        created_at=T0,
        owner_task_id=owner,
        completed_at=T0 if status is ResultStatus.COMPLETED else None,
        size=size,
        manual_deletion=manual_deletion,
    )


def payload_of(session_id: str) -> str:
    return f"payload-{session_id}"


def task(
    task_id: str,
    session_id: str = "s",
    *,
    payload: str | None = None,
    dependencies: Sequence[str] = (),
    outputs: Sequence[str] = (),
    priority: int = 1,
    created_by: str = "",
    application: tuple[str, str] = ("", ""),
) -> Task:
    """A task as submission builds it: CREATING, its own initial task."""
    return Task(
        task_id=task_id,
        session_id=session_id,
        status=TaskStatus.CREATING,
        options=TaskOptions(
            max_duration=60.0,
            max_retries=2,
            priority=priority,
            partition_id="p",
            application_name=application[0],
            application_version=application[1],
        ),
        created_at=T0,
        payload_id=payload or payload_of(session_id),
        data_dependencies=list(dependencies),
        expected_output_ids=list(outputs),
        parent_task_ids=[created_by] if created_by else [],
        initial_task_id=task_id,
        created_by=created_by,
    )


def completion(result_id: str, size: int = 8, data: bytes | None = None) -> Completion:
    """A completion; with ``data``, small data kept with the record."""
    return Completion(result_id=result_id, size=size, opaque_id=f"key-{result_id}".encode(), data=data)


# -- events -------------------------------------------------------------------


class RecordingEventBus:
    """The events the store under test published, in ``published``: an
    adapter's fixture returns a subclass that records them from wherever
    that store publishes."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    def take(self) -> list[tuple[str, str, str]]:
        """The events published since the last take, described and sorted."""
        taken, self.published = self.published, []
        return described(taken)


def described(events: Sequence[Event]) -> list[tuple[str, str, str]]:
    """(kind, record id, status or owner move) of each event, sorted."""
    rows = []
    for e in events:
        if e.kind is EventKind.RESULT_OWNER_UPDATE:
            assert e.result is not None
            rows.append((e.kind.name, e.result.result_id, f"{e.previous_owner_id}->{e.current_owner_id}"))
        elif e.task is not None:
            rows.append((e.kind.name, e.task.task_id, e.task.status.name))
        else:
            assert e.result is not None
            rows.append((e.kind.name, e.result.result_id, e.result.status.name))
    return sorted(rows)


def new_task(task_id: str, status: TaskStatus) -> tuple[str, str, str]:
    return ("NEW_TASK", task_id, status.name)


def task_update(task_id: str, status: TaskStatus) -> tuple[str, str, str]:
    return ("TASK_STATUS_UPDATE", task_id, status.name)


def new_result(result_id: str, status: ResultStatus = ResultStatus.CREATED) -> tuple[str, str, str]:
    return ("NEW_RESULT", result_id, status.name)


def result_update(result_id: str, status: ResultStatus) -> tuple[str, str, str]:
    return ("RESULT_STATUS_UPDATE", result_id, status.name)


def owner_update(result_id: str, previous: str, current: str) -> tuple[str, str, str]:
    return ("RESULT_OWNER_UPDATE", result_id, f"{previous}->{current}")


# -- set-ups ------------------------------------------------------------------


async def to_status(store: StateStore, session_id: str, status: SessionStatus) -> None:
    """The session's change alone: the steps on its tasks are the test's."""
    await store.update_session(session_id, allowed_from=frozenset(SessionStatus), status=status, at=AT)


async def open_session(
    store: StateStore,
    session_id: str = "s",
    *,
    created: Sequence[str] = (),
    completed: Sequence[str] = (),
    status: SessionStatus = SessionStatus.RUNNING,
) -> None:
    """A session with its payload COMPLETED and the given results."""
    await store.create_session(session(session_id, status))
    await store.create_results(
        [result(payload_of(session_id), session_id, status=ResultStatus.COMPLETED)]
        + [result(r, session_id) for r in created]
        + [result(r, session_id, status=ResultStatus.COMPLETED) for r in completed]
    )


async def status_of(store: StateStore, task_id: str) -> TaskStatus:
    [found] = await store.get_tasks([task_id])
    return found.status


async def statuses_of(store: StateStore, *task_ids: str) -> list[TaskStatus]:
    return [t.status for t in await store.get_tasks(task_ids)]


async def result_statuses(store: StateStore, *result_ids: str) -> list[ResultStatus]:
    return [r.status for r in await store.get_results(result_ids)]


async def claims(
    dispatch: Dispatch, count: int = 1, agent_id: str = AGENT, *, start: bool = True, partition: str = PARTITION
) -> list[Claim]:
    """What one claim of up to ``count`` tasks returns, waiting for none."""
    return await dispatch.claim(
        partition, agent_id=agent_id, hostname=HOST, lease_seconds=LEASE_SECONDS, count=count, start_first=start,
        timeout=0,
    )  # fmt: skip


async def claimed_ids(
    dispatch: Dispatch, count: int, agent_id: str = AGENT, *, partition: str = PARTITION
) -> list[str]:
    """The ids of the tasks claims of one task each take, in order, until
    ``count`` are run or the queue is empty (the entries dropped unrun left out)."""
    taken: list[str] = []
    for _ in range(count):
        run = [
            c.task_id for c in await claims(dispatch, 1, agent_id, partition=partition) if c.admission is Admission.RUN
        ]
        if not run:
            break
        taken += run
    return taken


@dataclass(frozen=True, slots=True)
class Hold:
    """A task an agent claimed, and its lease: what the finishes take."""

    task: Task
    lease: Lease
    agent_id: str


async def held(dispatch: Dispatch, task_id: str, agent_id: str = AGENT, *, start: bool = True) -> Hold:
    """Claims the next queued task, which must be ``task_id``: held by
    ``agent_id``, PROCESSING (DISPATCHED unless ``start``), leased."""
    [claim] = await claims(dispatch, 1, agent_id, start=start)
    assert (claim.admission, claim.task_id) == (Admission.RUN, task_id), f"{claim.task_id} was next, not {task_id}"
    assert claim.task is not None and claim.lease is not None
    return Hold(claim.task, claim.lease, agent_id)


def ids_of(records: Sequence[Task]) -> list[str]:
    return sorted(t.task_id for t in records)


class StateStoreContract:
    # == partitions ==========================================================
    async def test_a_stored_partition_is_returned_as_a_copy(self, state_store: StateStore) -> None:
        stored = Partition("p", parent_partition_ids=["root"], pod_max=4, priority=2, pod_configuration={"k": "v"})
        await state_store.put_partitions([stored])
        stored.pod_max = 99
        got = await state_store.get_partition("p")
        assert got == Partition("p", parent_partition_ids=["root"], pod_max=4, priority=2, pod_configuration={"k": "v"})
        got.parent_partition_ids.append("mutated")
        assert (await state_store.get_partition("p")).parent_partition_ids == ["root"]

    async def test_putting_a_partition_again_replaces_it(self, state_store: StateStore) -> None:
        await state_store.put_partitions([Partition("p", pod_max=1)])
        await state_store.put_partitions([Partition("p", pod_max=7)])
        assert (await state_store.get_partition("p")).pod_max == 7
        assert (await state_store.list_partitions(query=ListQuery())).total == 1

    async def test_a_deleted_partition_is_gone_and_deleting_it_again_says_so(self, state_store: StateStore) -> None:
        await state_store.put_partitions([Partition("p"), Partition("q")])
        assert await state_store.delete_partition("p") is True
        assert await state_store.delete_partition("p") is False
        with pytest.raises(errors.NotFound):
            await state_store.get_partition("p")
        assert [p.partition_id for p in (await state_store.list_partitions(query=ListQuery())).items] == ["q"]

    async def test_getting_an_unknown_partition_raises_not_found(self, state_store: StateStore) -> None:
        await state_store.put_partitions([Partition("p")])
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.get_partition("nope")

    async def test_list_partitions_filters_sorts_and_pages(self, state_store: StateStore) -> None:
        await state_store.put_partitions(
            [Partition("p1", priority=3), Partition("p2", priority=1), Partition("p3", priority=2), Partition("x")]
        )
        where = ((Condition("partition_id", ValueKind.STRING, Op.STARTS_WITH, "p"),),)
        sort = Sort("priority", descending=True)
        first = await state_store.list_partitions(query=ListQuery(where, sort, page=0, page_size=2))
        second = await state_store.list_partitions(query=ListQuery(where, sort, page=1, page_size=2))
        assert ([p.partition_id for p in first.items], first.total) == (["p1", "p3"], 3)
        assert ([p.partition_id for p in second.items], second.total) == (["p2"], 3)

    # == sessions ============================================================
    async def test_a_created_session_is_stored_as_a_copy_of_the_record(self, state_store: StateStore) -> None:
        record = session("s")
        await state_store.create_session(record)
        record.status = SessionStatus.CANCELLED
        record.partition_ids.append("mutated")
        assert await state_store.get_session("s") == session("s")

    async def test_a_returned_session_is_a_copy(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        got = await state_store.get_session("s")
        got.status = SessionStatus.CLOSED
        got.options.options["mutated"] = "yes"
        assert await state_store.get_session("s") == session("s")

    async def test_creating_a_session_twice_raises_already_exists_and_keeps_the_first(
        self, state_store: StateStore
    ) -> None:
        await state_store.create_session(session("s", created_at=1.0))
        with pytest.raises(errors.AlreadyExists):
            await state_store.create_session(session("s", SessionStatus.PAUSED, created_at=2.0))
        assert await state_store.get_session("s") == session("s", created_at=1.0)

    async def test_getting_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.get_session("nope")

    @pytest.mark.parametrize(
        ("status", "stamp"),
        [
            (SessionStatus.CANCELLED, "cancelled_at"),
            (SessionStatus.CLOSED, "closed_at"),
            (SessionStatus.PURGED, "purged_at"),
            (SessionStatus.DELETED, "deleted_at"),
        ],
    )
    async def test_an_allowed_session_update_sets_the_status_and_its_timestamp(
        self, state_store: StateStore, status: SessionStatus, stamp: str
    ) -> None:
        await state_store.create_session(session("s"))
        allowed = frozenset({SessionStatus.RUNNING, SessionStatus.PAUSED})
        updated = await state_store.update_session("s", allowed_from=allowed, status=status, at=AT)
        stored = await state_store.get_session("s")
        assert updated == stored
        assert stored.status is status
        assert getattr(stored, stamp) == AT
        others = {"cancelled_at", "closed_at", "purged_at", "deleted_at"} - {stamp}
        assert all(getattr(stored, other) is None for other in others)

    async def test_the_session_returned_by_an_update_is_a_copy(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        updated = await state_store.update_session(
            "s", allowed_from=frozenset({SessionStatus.RUNNING}), status=SessionStatus.PAUSED, at=AT
        )
        updated.status = SessionStatus.DELETED
        updated.client_submission = False
        assert await state_store.get_session("s") == session("s", SessionStatus.PAUSED)

    async def test_pausing_and_resuming_a_session_changes_only_its_status(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        running = frozenset({SessionStatus.RUNNING})
        paused = await state_store.update_session("s", allowed_from=running, status=SessionStatus.PAUSED, at=AT)
        assert paused == session("s", SessionStatus.PAUSED)
        resumed = await state_store.update_session(
            "s", allowed_from=frozenset({SessionStatus.PAUSED}), status=SessionStatus.RUNNING, at=LATER
        )
        assert resumed == session("s") == await state_store.get_session("s")

    async def test_a_session_update_from_a_status_not_allowed_raises_failed_precondition_and_changes_nothing(
        self, state_store: StateStore
    ) -> None:
        await state_store.create_session(session("s", SessionStatus.CANCELLED))
        with pytest.raises(errors.FailedPrecondition):
            await state_store.update_session(
                "s",
                allowed_from=frozenset({SessionStatus.RUNNING, SessionStatus.PAUSED}),
                status=SessionStatus.CLOSED,
                client_submission=False,
                worker_submission=False,
                at=AT,
            )
        assert await state_store.get_session("s") == session("s", SessionStatus.CANCELLED)

    async def test_updating_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.update_session(
                "nope", allowed_from=frozenset(SessionStatus), status=SessionStatus.CLOSED, at=AT
            )

    async def test_a_session_update_sets_only_the_submission_flags_it_is_given(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        every = frozenset(SessionStatus)
        after_client = await state_store.update_session("s", allowed_from=every, client_submission=False, at=AT)
        assert (after_client.status, after_client.client_submission, after_client.worker_submission) == (
            SessionStatus.RUNNING,
            False,
            True,
        )
        await state_store.update_session("s", allowed_from=every, worker_submission=False, at=AT)
        stored = await state_store.get_session("s")
        assert (stored.status, stored.client_submission, stored.worker_submission) == (
            SessionStatus.RUNNING,
            False,
            False,
        )
        assert stored.closed_at is None and stored.cancelled_at is None

    async def test_list_sessions_filters_sorts_and_pages(self, state_store: StateStore) -> None:
        for session_id, status, created_at in [
            ("a", SessionStatus.RUNNING, 3.0),
            ("b", SessionStatus.PAUSED, 1.0),
            ("c", SessionStatus.RUNNING, 2.0),
            ("d", SessionStatus.CANCELLED, 0.5),
        ]:
            await state_store.create_session(session(session_id, status, created_at=created_at))
        where = (
            (Condition("status", ValueKind.STATUS, Op.EQ, SessionStatus.RUNNING),),
            (Condition("status", ValueKind.STATUS, Op.EQ, SessionStatus.PAUSED),),
        )
        sort = Sort("created_at")
        first = await state_store.list_sessions(query=ListQuery(where, sort, page=0, page_size=2))
        second = await state_store.list_sessions(query=ListQuery(where, sort, page=1, page_size=2))
        assert ([s.session_id for s in first.items], first.total) == (["b", "c"], 3)
        assert ([s.session_id for s in second.items], second.total) == (["a"], 3)

    async def test_list_sessions_with_a_page_size_of_zero_returns_only_the_total(self, state_store: StateStore) -> None:
        for session_id in ("a", "b", "c"):
            await state_store.create_session(session(session_id))
        page = await state_store.list_sessions(query=ListQuery(page_size=0))
        assert (page.items, page.total) == ([], 3)

    async def test_listed_sessions_are_copies(self, state_store: StateStore) -> None:
        await state_store.create_session(session("s"))
        [listed] = (await state_store.list_sessions(query=ListQuery())).items
        listed.status = SessionStatus.DELETED
        assert (await state_store.get_session("s")).status is SessionStatus.RUNNING

    async def test_a_sessions_owner_is_kept_through_updates_and_can_be_listed_by(self, state_store: StateStore) -> None:
        owned = session("mine")
        owned.owner = "alice"
        await state_store.create_session(owned)
        await state_store.create_session(session("theirs"))
        await state_store.update_session(
            "mine", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=AT
        )
        by_alice = ((Condition("owner", ValueKind.STRING, Op.EQ, "alice"),),)
        [listed] = (await state_store.list_sessions(query=ListQuery(by_alice))).items
        assert (listed.session_id, listed.owner, (await state_store.get_session("theirs")).owner) == (
            "mine",
            "alice",
            "",
        )

    async def test_deleting_a_session_removes_it_with_its_tasks_and_results(self, state_store: StateStore) -> None:
        await open_session(state_store, "s", created=["r"])
        await state_store.create_tasks("s", [task("t", outputs=["r"])], at=AT)
        await state_store.delete_session("s")
        with pytest.raises(errors.NotFound):
            await state_store.get_session("s")
        with pytest.raises(errors.NotFound):
            await state_store.get_tasks(["t"])
        with pytest.raises(errors.NotFound):
            await state_store.get_results(["r"])
        assert (await state_store.list_tasks(query=ListQuery())).total == 0
        assert (await state_store.list_results(query=ListQuery())).total == 0

    async def test_deleting_a_session_leaves_the_other_sessions_untouched(self, state_store: StateStore) -> None:
        await open_session(state_store, "s", created=["r"])
        await open_session(state_store, "other", created=["other-r"])
        await state_store.create_tasks("s", [task("t", outputs=["r"])], at=AT)
        await state_store.create_tasks("other", [task("other-t", "other", outputs=["other-r"])], at=AT)
        await state_store.delete_session("s")
        assert (await state_store.get_session("other")).status is SessionStatus.RUNNING
        assert await status_of(state_store, "other-t") is TaskStatus.SUBMITTED
        assert await result_statuses(state_store, "other-r") == [ResultStatus.CREATED]
        assert (await state_store.list_sessions(query=ListQuery())).total == 1

    async def test_deleting_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.delete_session("nope")

    # == results =============================================================
    async def test_created_results_are_stored_and_announced_by_new_result_events(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await state_store.create_session(session("s"))
        await state_store.create_results([result("a"), result("b", status=ResultStatus.COMPLETED, size=3)])
        assert await state_store.get_results(["a", "b"]) == [
            result("a"),
            result("b", status=ResultStatus.COMPLETED, size=3),
        ]
        assert event_bus.take() == [new_result("a"), new_result("b", ResultStatus.COMPLETED)]

    async def test_a_new_result_event_belongs_to_its_session_and_names_the_result_and_its_owner(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await state_store.create_session(session("s"))
        await state_store.create_results([result("a", owner="t")])
        [event] = event_bus.published
        assert event.session_id == "s" and event.result is not None
        assert (event.result.result_id, event.result.name, event.result.owner_task_id, event.result.status) == (
            "a",
            "name-a",
            "t",
            ResultStatus.CREATED,
        )

    async def test_creating_results_in_an_unknown_session_raises_not_found_and_creates_nothing(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await state_store.create_session(session("s"))
        event_bus.take()
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.create_results([result("a", "nope"), result("b", "nope")])
        with pytest.raises(errors.NotFound):
            await state_store.get_results(["a"])
        assert (await state_store.list_results(query=ListQuery())).total == 0
        assert event_bus.take() == []

    async def test_small_data_given_with_completed_results_is_kept_with_their_records(
        self, state_store: StateStore
    ) -> None:
        await state_store.create_session(session("s"))
        small, large = (
            result("small", status=ResultStatus.COMPLETED, size=5),
            result("large", status=ResultStatus.COMPLETED, size=9),
        )
        small.opaque_id, large.opaque_id = b"key-small", b"key-large"
        await state_store.create_results([small, large, result("later")], data={"small": b"tiny!"})
        assert await state_store.result_data("s", "small") == ResultData(
            ResultStatus.COMPLETED, 5, b"key-small", b"tiny!"
        )
        assert await state_store.result_data("s", "large") == ResultData(ResultStatus.COMPLETED, 9, b"key-large", None)
        assert await state_store.result_data("s", "later") == ResultData(ResultStatus.CREATED, 0, b"", None)
        [listed] = await state_store.get_results(["small"])
        assert (listed.status, listed.size, listed.opaque_id) == (ResultStatus.COMPLETED, 5, b"key-small")

    async def test_reading_the_data_of_an_unknown_result_or_of_another_session_raises_not_found(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", completed=["a"])
        await open_session(state_store, "other")
        for session_id, result_id in (("s", "nope"), ("other", "a"), ("nope", "a")):
            with pytest.raises(errors.NotFound, match=result_id):
                await state_store.result_data(session_id, result_id)

    async def test_results_are_returned_in_the_order_asked(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["a", "b", "c"])
        assert [r.result_id for r in await state_store.get_results(["c", "a", "b"])] == ["c", "a", "b"]
        assert [r.result_id for r in await state_store.get_results(["b"], session_id="s")] == ["b"]

    async def test_getting_unknown_results_raises_not_found_naming_each_missing_id(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["a"])
        with pytest.raises(errors.NotFound) as raised:
            await state_store.get_results(["a", "missing-1", "missing-2"])
        assert "missing-1" in raised.value.message and "missing-2" in raised.value.message

    async def test_getting_a_result_with_another_session_raises_not_found_naming_it(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", created=["a"])
        await open_session(state_store, "other", created=["b"])
        with pytest.raises(errors.NotFound, match="a"):
            await state_store.get_results(["a"], session_id="other")

    async def test_a_returned_result_is_a_copy(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["a"])
        [got] = await state_store.get_results(["a"])
        got.status = ResultStatus.DELETED
        assert await result_statuses(state_store, "a") == [ResultStatus.CREATED]

    async def test_completing_results_stores_their_data_and_announces_it(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["a", "b"])
        event_bus.take()
        await state_store.complete_results("s", [completion("a", 5), completion("b", 7)], completed_by="s", at=AT)
        a, b = await state_store.get_results(["a", "b"])
        assert (a.status, a.size, a.opaque_id, a.completed_at) == (ResultStatus.COMPLETED, 5, b"key-a", AT)
        assert (b.status, b.size, b.opaque_id, b.completed_at) == (ResultStatus.COMPLETED, 7, b"key-b", AT)
        assert event_bus.take() == [
            result_update("a", ResultStatus.COMPLETED),
            result_update("b", ResultStatus.COMPLETED),
        ]

    async def test_small_data_given_with_a_completion_is_kept_with_the_record_and_read_with_it(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["small", "large"])
        await state_store.complete_results(
            "s", [completion("small", 3, data=b"abc"), completion("large", 10)], completed_by="s", at=AT
        )
        assert await state_store.result_data("s", "small") == ResultData(
            ResultStatus.COMPLETED, 3, b"key-small", b"abc"
        )
        assert await state_store.result_data("s", "large") == ResultData(ResultStatus.COMPLETED, 10, b"key-large", None)

    async def test_a_result_without_a_creator_gets_the_completer_as_creator(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["a"])
        await state_store.complete_results("s", [completion("a")], completed_by="client", at=AT)
        assert (await state_store.get_results(["a"]))[0].created_by == "client"

    @pytest.mark.parametrize("status", [ResultStatus.COMPLETED, ResultStatus.ABORTED, ResultStatus.DELETED])
    async def test_completing_a_result_that_is_not_created_raises_failed_precondition_and_completes_none_of_the_batch(
        self, state_store: StateStore, event_bus: RecordingEventBus, status: ResultStatus
    ) -> None:
        await open_session(state_store, created=["a", "c"])
        await state_store.create_results([result("b", status=status)])
        await state_store.create_tasks("s", [task("t", dependencies=["a"])], at=AT)
        event_bus.take()
        with pytest.raises(errors.FailedPrecondition, match="b"):
            await state_store.complete_results(
                "s", [completion("a"), completion("b"), completion("c")], completed_by="s", at=AT
            )
        assert await result_statuses(state_store, "a", "b", "c") == [ResultStatus.CREATED, status, ResultStatus.CREATED]
        assert (await state_store.get_results(["a"]))[0].size == 0
        assert await status_of(state_store, "t") is TaskStatus.PENDING
        assert event_bus.take() == []

    async def test_completing_a_result_of_another_session_raises_not_found_and_completes_nothing(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", created=["a"])
        await open_session(state_store, "other", created=["b"])
        with pytest.raises(errors.NotFound, match="b"):
            await state_store.complete_results("s", [completion("a"), completion("b")], completed_by="s", at=AT)
        assert await result_statuses(state_store, "a", "b") == [ResultStatus.CREATED, ResultStatus.CREATED]

    async def test_deleting_results_data_sets_them_deleted_except_manual_deletion_ones(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, completed=["a"])
        await state_store.create_results(
            [result("b", status=ResultStatus.COMPLETED, manual_deletion=True), result("c")]
        )
        event_bus.take()
        deleted = await state_store.delete_results_data("s", ["a", "b", "c"], at=AT)
        assert deleted == {"a": b"", "c": b""}
        assert await result_statuses(state_store, "a", "b", "c") == [
            ResultStatus.DELETED,
            ResultStatus.COMPLETED,
            ResultStatus.DELETED,
        ]
        assert event_bus.take() == [result_update("a", ResultStatus.DELETED), result_update("c", ResultStatus.DELETED)]

    async def test_deleting_results_data_returns_the_object_key_of_each_and_drops_the_small_data_kept(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["small", "large"])
        await state_store.complete_results(
            "s", [completion("small", 3, data=b"abc"), completion("large", 10)], completed_by="s", at=AT
        )
        deleted = await state_store.delete_results_data("s", ["small", "large"], at=LATER)
        assert deleted == {"small": b"key-small", "large": b"key-large"}
        assert await state_store.result_data("s", "small") == ResultData(ResultStatus.DELETED, 3, b"key-small", None)
        assert await state_store.delete_results_data("s", ["small"], at=LATER) == {}

    async def test_deleting_results_data_of_another_session_raises_not_found_and_deletes_nothing(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", completed=["a"])
        await open_session(state_store, "other", completed=["b"])
        with pytest.raises(errors.NotFound, match="b"):
            await state_store.delete_results_data("s", ["a", "b"], at=AT)
        assert await result_statuses(state_store, "a", "b") == [ResultStatus.COMPLETED, ResultStatus.COMPLETED]

    async def test_session_results_lists_every_result_of_the_session_and_no_other(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", created=["a"], completed=["b"])
        await open_session(state_store, "other", created=["c"])
        listed = await state_store.session_results("s")
        assert sorted(r.result_id for r in listed) == sorted(["a", "b", payload_of("s")])

    async def test_session_results_of_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.session_results("nope")

    async def test_owners_of_maps_each_result_to_its_owner_task(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["owned", "free"])
        await state_store.create_tasks("s", [task("t", outputs=["owned"])], at=AT)
        assert await state_store.owners_of("s", ["owned", "free"]) == {"owned": "t", "free": ""}

    async def test_owners_of_an_unknown_or_foreign_result_raises_not_found(self, state_store: StateStore) -> None:
        await open_session(state_store, "s", created=["a"])
        await open_session(state_store, "other", created=["b"])
        with pytest.raises(errors.NotFound, match="b"):
            await state_store.owners_of("s", ["a", "b"])
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.owners_of("s", ["nope"])

    async def test_list_results_filters_sorts_and_pages(self, state_store: StateStore) -> None:
        await open_session(state_store, "s", created=["a", "b", "c"], completed=["d"])
        await open_session(state_store, "other", created=["e"])
        where = (
            (
                Condition("session_id", ValueKind.STRING, Op.EQ, "s"),
                Condition("status", ValueKind.STATUS, Op.EQ, ResultStatus.CREATED),
            ),
        )
        sort = Sort("name", descending=True)
        first = await state_store.list_results(query=ListQuery(where, sort, page=0, page_size=2))
        second = await state_store.list_results(query=ListQuery(where, sort, page=1, page_size=2))
        assert ([r.result_id for r in first.items], first.total) == (["c", "b"], 3)
        assert ([r.result_id for r in second.items], second.total) == (["a"], 3)

    async def test_list_results_with_a_page_size_of_zero_returns_only_the_total(self, state_store: StateStore) -> None:
        await open_session(state_store, "s", created=["a", "b"])
        page = await state_store.list_results(query=ListQuery(in_session("s"), page_size=0))
        assert (page.items, page.total) == ([], 3)

    # == task creation =======================================================
    async def test_a_task_whose_dependencies_are_completed_is_returned_submitted(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["out"], completed=["dep"])
        ready = await state_store.create_tasks("s", [task("t", dependencies=["dep"], outputs=["out"])], at=AT)
        assert [(t.task_id, t.status, t.submitted_at) for t in ready] == [("t", TaskStatus.SUBMITTED, AT)]
        [stored] = await state_store.get_tasks(["t"])
        assert (stored.status, stored.submitted_at) == (TaskStatus.SUBMITTED, AT)

    async def test_a_returned_created_task_is_a_copy(self, state_store: StateStore) -> None:
        await open_session(state_store)
        [ready] = await state_store.create_tasks("s", [task("t")], at=AT)
        ready.status = TaskStatus.ERROR
        assert await status_of(state_store, "t") is TaskStatus.SUBMITTED

    async def test_a_task_with_a_dependency_not_completed_is_returned_pending(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["dep"])
        [created] = await state_store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        assert (created.status, created.submitted_at) == (TaskStatus.PENDING, None)
        assert await status_of(state_store, "t") is TaskStatus.PENDING

    async def test_completing_the_dependency_submits_the_waiting_task_and_counts_it(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["dep"])
        await state_store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        event_bus.take()
        assert await state_store.complete_results("s", [completion("dep")], completed_by="s", at=LATER) == 1
        [ready] = await state_store.get_tasks(["t"])
        assert (ready.status, ready.submitted_at) == (TaskStatus.SUBMITTED, LATER)
        assert event_bus.take() == [
            result_update("dep", ResultStatus.COMPLETED),
            task_update("t", TaskStatus.SUBMITTED),
        ]

    async def test_the_payload_counts_as_a_dependency(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["late-payload"])
        await state_store.create_tasks("s", [task("t", payload="late-payload")], at=AT)
        assert await status_of(state_store, "t") is TaskStatus.PENDING
        assert await state_store.complete_results("s", [completion("late-payload")], completed_by="s", at=AT) == 1
        assert await status_of(state_store, "t") is TaskStatus.SUBMITTED

    async def test_a_task_depending_on_two_results_is_released_only_once_both_are_completed(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["d1", "d2"])
        await state_store.create_tasks("s", [task("t", dependencies=["d1", "d2"])], at=AT)
        assert await state_store.complete_results("s", [completion("d1")], completed_by="s", at=AT) == 0
        assert await status_of(state_store, "t") is TaskStatus.PENDING
        assert await state_store.complete_results("s", [completion("d2")], completed_by="s", at=AT) == 1
        assert await status_of(state_store, "t") is TaskStatus.SUBMITTED

    async def test_completing_a_result_releases_every_task_waiting_on_it(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["dep", "other"])
        await state_store.create_tasks(
            "s",
            [task("t1", dependencies=["dep"]), task("t2", dependencies=["dep"]), task("t3", dependencies=["other"])],
            at=AT,
        )
        assert await state_store.complete_results("s", [completion("dep")], completed_by="s", at=AT) == 2
        assert await statuses_of(state_store, "t1", "t2", "t3") == [
            TaskStatus.SUBMITTED,
            TaskStatus.SUBMITTED,
            TaskStatus.PENDING,
        ]

    async def test_ready_tasks_of_a_paused_session_are_created_paused(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["dep"], status=SessionStatus.PAUSED)
        created = await state_store.create_tasks("s", [task("now"), task("later", dependencies=["dep"])], at=AT)
        assert [t.status for t in created] == [TaskStatus.PAUSED, TaskStatus.PENDING]
        assert await statuses_of(state_store, "now", "later") == [TaskStatus.PAUSED, TaskStatus.PENDING]

    async def test_a_task_made_ready_in_a_paused_session_becomes_paused_and_is_not_counted_queued(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["dep"], status=SessionStatus.PAUSED)
        await state_store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        assert await state_store.complete_results("s", [completion("dep")], completed_by="s", at=AT) == 0
        assert await status_of(state_store, "t") is TaskStatus.PAUSED

    @pytest.mark.parametrize("ended", [SessionStatus.CLOSED, SessionStatus.CANCELLED], ids=lambda s: s.name)
    async def test_a_task_made_ready_in_an_ended_session_is_cancelled_and_its_outputs_aborted(
        self, state_store: StateStore, event_bus: RecordingEventBus, ended: SessionStatus
    ) -> None:
        await open_session(state_store, created=["dep", "out"])
        await state_store.create_tasks("s", [task("t", dependencies=["dep"], outputs=["out"])], at=AT)
        await state_store.update_session("s", allowed_from=frozenset(SessionStatus), status=ended, at=AT)
        event_bus.take()
        assert await state_store.complete_results("s", [completion("dep")], completed_by="s", at=LATER) == 0
        [cancelled] = await state_store.get_tasks(["t"])
        assert (cancelled.status, cancelled.ended_at) == (TaskStatus.CANCELLED, LATER)
        assert await result_statuses(state_store, "out") == [ResultStatus.ABORTED]
        assert event_bus.take() == [
            result_update("dep", ResultStatus.COMPLETED),
            result_update("out", ResultStatus.ABORTED),
            task_update("t", TaskStatus.CANCELLED),
        ]

    @pytest.mark.parametrize("ended", [SessionStatus.CLOSED, SessionStatus.CANCELLED], ids=lambda s: s.name)
    async def test_a_ready_task_created_in_an_ended_session_is_cancelled_at_once(
        self, state_store: StateStore, ended: SessionStatus
    ) -> None:
        await open_session(state_store, created=["out"], status=ended)
        [created] = await state_store.create_tasks("s", [task("t", outputs=["out"])], at=AT)
        assert created.status is TaskStatus.CANCELLED
        assert await status_of(state_store, "t") is TaskStatus.CANCELLED
        assert await result_statuses(state_store, "out") == [ResultStatus.ABORTED]

    async def test_a_missing_dependency_raises_not_found_and_creates_no_task_of_the_batch(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["out"])
        event_bus.take()
        batch = [task("fine", outputs=["out"]), task("broken", dependencies=["missing"])]
        with pytest.raises(errors.NotFound, match="missing"):
            await state_store.create_tasks("s", batch, at=AT)
        for task_id in ("fine", "broken"):
            with pytest.raises(errors.NotFound):
                await state_store.get_tasks([task_id])
        assert await state_store.owners_of("s", ["out"]) == {"out": ""}
        assert event_bus.take() == []

    async def test_a_missing_expected_output_raises_not_found_and_creates_nothing(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store)
        with pytest.raises(errors.NotFound, match="missing"):
            await state_store.create_tasks("s", [task("fine"), task("broken", outputs=["missing"])], at=AT)
        assert (await state_store.list_tasks(query=ListQuery())).total == 0

    async def test_a_dependency_of_another_session_raises_not_found(self, state_store: StateStore) -> None:
        await open_session(state_store, "s")
        await open_session(state_store, "other", completed=["foreign"])
        with pytest.raises(errors.NotFound, match="foreign"):
            await state_store.create_tasks("s", [task("t", dependencies=["foreign"])], at=AT)
        assert (await state_store.list_tasks(query=ListQuery())).total == 0

    async def test_creating_tasks_in_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        await open_session(state_store, "s")
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.create_tasks("nope", [task("t", "nope", payload=payload_of("s"))], at=AT)
        assert (await state_store.list_tasks(query=ListQuery())).total == 0

    @pytest.mark.parametrize("status", [ResultStatus.ABORTED, ResultStatus.DELETED])
    async def test_an_unusable_dependency_raises_failed_precondition_and_creates_nothing(
        self, state_store: StateStore, event_bus: RecordingEventBus, status: ResultStatus
    ) -> None:
        await open_session(state_store, created=["out"])
        await state_store.create_results([result("gone", status=status)])
        event_bus.take()
        with pytest.raises(errors.FailedPrecondition, match="gone"):
            await state_store.create_tasks(
                "s", [task("fine", outputs=["out"]), task("t", dependencies=["gone"])], at=AT
            )
        assert (await state_store.list_tasks(query=ListQuery())).total == 0
        assert await state_store.owners_of("s", ["out"]) == {"out": ""}
        assert event_bus.take() == []

    @pytest.mark.parametrize("status", [ResultStatus.COMPLETED, ResultStatus.ABORTED, ResultStatus.DELETED])
    async def test_an_expected_output_that_is_no_longer_created_raises_failed_precondition_and_creates_nothing(
        self, state_store: StateStore, status: ResultStatus
    ) -> None:
        await open_session(state_store)
        await state_store.create_results([result("done", status=status)])
        with pytest.raises(errors.FailedPrecondition, match="done"):
            await state_store.create_tasks("s", [task("fine"), task("t", outputs=["done"])], at=AT)
        assert (await state_store.list_tasks(query=ListQuery())).total == 0

    async def test_outputs_without_an_owner_get_the_task_as_owner(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["o1", "o2"])
        event_bus.take()
        await state_store.create_tasks("s", [task("t", outputs=["o1", "o2"])], at=AT)
        assert await state_store.owners_of("s", ["o1", "o2"]) == {"o1": "t", "o2": "t"}
        assert event_bus.take() == [
            new_task("t", TaskStatus.SUBMITTED),
            owner_update("o1", "", "t"),
            owner_update("o2", "", "t"),
        ]

    async def test_an_output_owned_by_another_task_keeps_its_owner(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["o"])
        await state_store.create_tasks("s", [task("first", outputs=["o"])], at=AT)
        event_bus.take()
        await state_store.create_tasks("s", [task("second", outputs=["o"])], at=AT)
        assert await state_store.owners_of("s", ["o"]) == {"o": "first"}
        assert event_bus.take() == [new_task("second", TaskStatus.SUBMITTED)]

    async def test_each_new_task_is_announced_once_with_its_first_status(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["dep"])
        event_bus.take()
        await state_store.create_tasks("s", [task("ready"), task("waiting", dependencies=["dep"])], at=AT)
        assert event_bus.take() == [new_task("ready", TaskStatus.SUBMITTED), new_task("waiting", TaskStatus.PENDING)]
        assert {e.session_id for e in event_bus.published} <= {"s"}

    # == reading tasks =======================================================
    async def test_tasks_are_returned_in_the_order_asked(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("a"), task("b"), task("c")], at=AT)
        assert [t.task_id for t in await state_store.get_tasks(["c", "a", "b"])] == ["c", "a", "b"]

    async def test_getting_unknown_tasks_raises_not_found_naming_each_missing_id(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("a")], at=AT)
        with pytest.raises(errors.NotFound) as raised:
            await state_store.get_tasks(["a", "missing-1", "missing-2"])
        assert "missing-1" in raised.value.message and "missing-2" in raised.value.message

    async def test_a_returned_task_is_a_copy(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("t")], at=AT)
        [got] = await state_store.get_tasks(["t"])
        got.status = TaskStatus.ERROR
        got.expected_output_ids.append("mutated")
        [again] = await state_store.get_tasks(["t"])
        assert (again.status, again.expected_output_ids) == (TaskStatus.SUBMITTED, [])

    async def test_a_stored_task_keeps_every_field_it_was_created_with(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["out"], completed=["dep"])
        created = task("t", dependencies=["dep"], outputs=["out"], priority=7, application=("app", "1"))
        await state_store.create_tasks("s", [created], at=AT)
        [stored] = await state_store.get_tasks(["t"])
        created.status, created.submitted_at = TaskStatus.SUBMITTED, AT
        assert stored == created

    async def test_list_tasks_filters_by_session(self, state_store: StateStore) -> None:
        await open_session(state_store, "s")
        await open_session(state_store, "other")
        await state_store.create_tasks("s", [task("a"), task("b")], at=AT)
        await state_store.create_tasks("other", [task("c", "other")], at=AT)
        page = await state_store.list_tasks(query=ListQuery(in_session("s")))
        assert (sorted(t.task_id for t in page.items), page.total) == (["a", "b"], 2)

    async def test_list_tasks_and_results_filter_by_a_set_of_sessions(self, state_store: StateStore) -> None:
        for session_id in ("a", "b", "c"):
            await open_session(state_store, session_id, created=[f"{session_id}-r"])
            await state_store.create_tasks(session_id, [task(f"{session_id}-t", session_id)], at=AT)
        two = ((filters.in_sessions(frozenset({"a", "c"})),),)
        tasks = await state_store.list_tasks(query=ListQuery(two))
        results = await state_store.list_results(query=ListQuery(two))
        counts = await state_store.count_tasks_by_status(where=two)
        assert sorted(t.task_id for t in tasks.items) == ["a-t", "c-t"]
        assert {r.session_id for r in results.items} == {"a", "c"} and sum(counts.values()) == 2
        none = ((filters.in_sessions(frozenset()),),)
        assert (await state_store.list_tasks(query=ListQuery(none))).total == 0

    async def test_list_tasks_filters_by_status_sorts_and_pages(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["dep"])
        await state_store.create_tasks(
            "s",
            [task("p2", priority=2), task("p9", priority=9), task("p5", priority=5), task("w", dependencies=["dep"])],
            at=AT,
        )
        where = (
            (
                Condition("session_id", ValueKind.STRING, Op.EQ, "s"),
                Condition("status", ValueKind.STATUS, Op.EQ, TaskStatus.SUBMITTED),
            ),
        )
        sort = Sort("options.priority", descending=True)
        first = await state_store.list_tasks(query=ListQuery(where, sort, page=0, page_size=2))
        second = await state_store.list_tasks(query=ListQuery(where, sort, page=1, page_size=2))
        assert ([t.task_id for t in first.items], first.total) == (["p9", "p5"], 3)
        assert ([t.task_id for t in second.items], second.total) == (["p2"], 3)

    @pytest.mark.parametrize("descending", [False, True])
    async def test_a_session_listed_by_task_id_pages_in_id_order(
        self, state_store: StateStore, descending: bool
    ) -> None:
        await open_session(state_store, "s")
        await open_session(state_store, "other")
        await state_store.create_tasks("s", [task(t) for t in ("d", "a", "e", "c", "b")], at=AT)
        await state_store.create_tasks("other", [task("aa", "other")], at=AT)
        sort = Sort("task_id", descending=descending)
        pages = [
            await state_store.list_tasks(query=ListQuery(in_session("s"), sort, page=p, page_size=2)) for p in range(3)
        ]
        listed = [t.task_id for page in pages for t in page.items]
        assert listed == sorted("abcde", reverse=descending)
        assert {page.total for page in pages} == {5}

    @pytest.mark.parametrize("descending", [False, True])
    async def test_a_session_listed_by_result_id_pages_in_id_order(
        self, state_store: StateStore, descending: bool
    ) -> None:
        await open_session(state_store, "s", created=["r3", "r1", "r4", "r2"])
        await open_session(state_store, "other", created=["r0"])
        sort = Sort("result_id", descending=descending)
        pages = [
            await state_store.list_results(query=ListQuery(in_session("s"), sort, page=p, page_size=3))
            for p in range(2)
        ]
        everything = sorted((r.result_id for r in await state_store.session_results("s")), reverse=descending)
        assert {"r1", "r2", "r3", "r4"} <= set(everything) and "r0" not in everything
        assert [r.result_id for page in pages for r in page.items] == everything[:6]
        assert {page.total for page in pages} == {len(everything)}

    async def test_list_tasks_with_a_page_size_of_zero_returns_only_the_total(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("a"), task("b")], at=AT)
        page = await state_store.list_tasks(query=ListQuery(in_session("s"), page_size=0))
        assert (page.items, page.total) == ([], 2)

    async def test_listed_tasks_are_copies(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("t")], at=AT)
        [listed] = (await state_store.list_tasks(query=ListQuery())).items
        listed.status = TaskStatus.ERROR
        assert await status_of(state_store, "t") is TaskStatus.SUBMITTED

    async def test_count_tasks_by_status_counts_the_matching_tasks_of_each_status(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, "s", created=["dep"])
        await open_session(state_store, "other")
        await state_store.create_tasks("s", [task("a"), task("b"), task("w", dependencies=["dep"])], at=AT)
        await state_store.create_tasks("other", [task("c", "other")], at=AT)
        counts = await state_store.count_tasks_by_status(where=in_session("s"))
        assert {status: n for status, n in counts.items() if n} == {TaskStatus.SUBMITTED: 2, TaskStatus.PENDING: 1}
        everything = await state_store.count_tasks_by_status(where=filters.EVERYTHING)
        assert everything.get(TaskStatus.SUBMITTED) == 3

    async def test_count_tasks_by_status_applies_every_condition_of_the_filter(self, state_store: StateStore) -> None:
        await open_session(state_store, "s")
        await open_session(state_store, "other")
        await state_store.create_tasks("s", [task("low", priority=1), task("high", priority=9)], at=AT)
        await state_store.create_tasks("other", [task("other-high", "other", priority=9)], at=AT)
        high = (Condition("options.priority", ValueKind.NUMBER, Op.GE, 5),)
        in_s = await state_store.count_tasks_by_status(where=((*in_session("s")[0], *high),))
        assert {status: n for status, n in in_s.items() if n} == {TaskStatus.SUBMITTED: 1}
        anywhere = await state_store.count_tasks_by_status(where=(high,))
        assert {status: n for status, n in anywhere.items() if n} == {TaskStatus.SUBMITTED: 2}

    async def test_list_applications_lists_each_application_of_the_tasks_once(self, state_store: StateStore) -> None:
        await open_session(state_store, "s")
        await open_session(state_store, "other")
        await state_store.create_tasks(
            "s", [task("a", application=("app", "1")), task("b", application=("app", "2")), task("none")], at=AT
        )
        await state_store.create_tasks("other", [task("c", "other", application=("app", "1"))], at=AT)
        page = await state_store.list_applications(query=ListQuery(sort=Sort("version", descending=True)))
        assert ([(a.name, a.version) for a in page.items], page.total) == ([("app", "2"), ("app", "1")], 2)
        where = ((Condition("version", ValueKind.STRING, Op.EQ, "1"),),)
        only = await state_store.list_applications(query=ListQuery(where))
        assert [(a.name, a.version) for a in only.items] == [("app", "1")]

    # == cancellation ========================================================
    async def test_cancelling_tasks_cancels_unheld_tasks_at_once_and_held_ones_become_cancelling(
        self, state_store: StateStore, dispatch: Dispatch, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["dep"])
        await state_store.create_tasks("s", [task("taken"), task("running")], at=AT)
        await held(dispatch, "taken", start=False)
        await held(dispatch, "running", "agent-2")
        await state_store.create_tasks("s", [task("queued"), task("pending", dependencies=["dep"])], at=AT)
        event_bus.take()
        now = await state_store.cancel_tasks(["queued", "pending", "taken", "running"], at=LATER, reason="stop")
        expected = [TaskStatus.CANCELLED, TaskStatus.CANCELLED, TaskStatus.CANCELLING, TaskStatus.CANCELLING]
        assert [(t.task_id, t.status) for t in now] == list(zip(["queued", "pending", "taken", "running"], expected))
        assert await statuses_of(state_store, "queued", "pending", "taken", "running") == expected
        assert event_bus.take() == sorted(
            task_update(t, s) for t, s in zip(["queued", "pending", "taken", "running"], expected)
        )

    async def test_a_cancelled_task_ends_with_the_reason_as_its_message(self, state_store: StateStore) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("t")], at=AT)
        [cancelled] = await state_store.cancel_tasks(["t"], at=LATER, reason="no longer needed")
        assert (cancelled.ended_at, cancelled.status_message) == (LATER, "no longer needed")

    async def test_a_paused_task_is_cancelled_at_once(self, state_store: StateStore) -> None:
        await open_session(state_store, status=SessionStatus.PAUSED)
        await state_store.create_tasks("s", [task("t")], at=AT)
        [cancelled] = await state_store.cancel_tasks(["t"], at=AT, reason="stop")
        assert cancelled.status is TaskStatus.CANCELLED

    async def test_cancelling_leaves_final_and_cancelling_tasks_unchanged(
        self, state_store: StateStore, dispatch: Dispatch, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["out"])
        await state_store.create_tasks("s", [task("done", outputs=["out"]), task("failed"), task("stopping")], at=AT)
        done = await held(dispatch, "done")
        await dispatch.commit(
            done.task, done.lease, agent_id=AGENT, commit=TaskCommit(completions=[completion("out")]), at=AT
        )
        failed = await held(dispatch, "failed")
        await dispatch.fail(failed.task, failed.lease, agent_id=AGENT, status=TaskStatus.ERROR, message="boom", at=AT)
        await held(dispatch, "stopping")
        await state_store.cancel_tasks(["stopping"], at=AT, reason="first")
        event_bus.take()
        now = await state_store.cancel_tasks(["done", "failed", "stopping"], at=LATER, reason="second")
        assert [t.status for t in now] == [TaskStatus.COMPLETED, TaskStatus.ERROR, TaskStatus.CANCELLING]
        [stopping] = await state_store.get_tasks(["stopping"])
        assert stopping.status_message == "first"
        assert await result_statuses(state_store, "out") == [ResultStatus.COMPLETED]
        assert event_bus.take() == []

    async def test_cancelling_a_task_aborts_its_outputs_and_fails_the_tasks_waiting_on_them_recursively(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["r1", "r2", "r3", "r4"])
        await state_store.create_tasks(
            "s",
            [
                task("a", outputs=["r1"]),
                task("b", dependencies=["r1"], outputs=["r2"]),
                task("c", dependencies=["r2"], outputs=["r3"]),
                task("d", dependencies=["r3"], outputs=["r4"]),
            ],
            at=AT,
        )
        event_bus.take()
        await state_store.cancel_tasks(["a"], at=LATER, reason="stop")
        assert await statuses_of(state_store, "a", "b", "c", "d") == [
            TaskStatus.CANCELLED,
            TaskStatus.ERROR,
            TaskStatus.ERROR,
            TaskStatus.ERROR,
        ]
        assert await result_statuses(state_store, "r1", "r2", "r3", "r4") == [ResultStatus.ABORTED] * 4
        assert event_bus.take() == sorted(
            [
                task_update("a", TaskStatus.CANCELLED),
                *(task_update(t, TaskStatus.ERROR) for t in "bcd"),
                *(result_update(r, ResultStatus.ABORTED) for r in ("r1", "r2", "r3", "r4")),
            ]
        )

    async def test_cancelling_a_running_task_aborts_its_outputs_at_once(
        self, state_store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(state_store, created=["out"])
        await state_store.create_tasks("s", [task("t", outputs=["out"]), task("w", dependencies=["out"])], at=AT)
        await held(dispatch, "t")
        await state_store.cancel_tasks(["t"], at=AT, reason="stop")
        assert await result_statuses(state_store, "out") == [ResultStatus.ABORTED]
        assert await statuses_of(state_store, "t", "w") == [TaskStatus.CANCELLING, TaskStatus.ERROR]

    async def test_cancelling_a_task_leaves_the_outputs_it_does_not_own(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["o"])
        await state_store.create_tasks("s", [task("owner", outputs=["o"]), task("other", outputs=["o"])], at=AT)
        await state_store.cancel_tasks(["other"], at=AT, reason="stop")
        assert await result_statuses(state_store, "o") == [ResultStatus.CREATED]
        assert await status_of(state_store, "owner") is TaskStatus.SUBMITTED

    async def test_a_cancelled_pending_task_is_not_released_when_its_dependency_completes(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["dep"])
        await state_store.create_tasks("s", [task("t", dependencies=["dep"])], at=AT)
        await state_store.cancel_tasks(["t"], at=AT, reason="stop")
        assert await state_store.complete_results("s", [completion("dep")], completed_by="s", at=LATER) == 0
        assert await status_of(state_store, "t") is TaskStatus.CANCELLED

    async def test_cancelling_an_unknown_task_raises_not_found_and_cancels_nothing(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store)
        await state_store.create_tasks("s", [task("t")], at=AT)
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.cancel_tasks(["t", "nope"], at=AT, reason="stop")
        assert await status_of(state_store, "t") is TaskStatus.SUBMITTED

    async def test_cancelling_a_session_cancels_its_non_final_tasks_and_aborts_its_created_results(
        self, state_store: StateStore, dispatch: Dispatch
    ) -> None:
        await open_session(state_store, "s", created=["dep", "out", "loose"], completed=["kept"])
        await open_session(state_store, "other", created=["other-r"])
        await state_store.create_tasks("s", [task("taken"), task("running"), task("done")], at=AT)
        await held(dispatch, "taken", start=False)
        await held(dispatch, "running")
        done = await held(dispatch, "done")
        await dispatch.commit(done.task, done.lease, agent_id=AGENT, commit=TaskCommit(), at=AT)
        await state_store.create_tasks("s", [task("pending", dependencies=["dep"]), task("queued")], at=AT)
        await state_store.create_tasks("other", [task("other-t", "other", outputs=["other-r"])], at=AT)
        await state_store.cancel_session("s", at=LATER)
        assert await statuses_of(state_store, "pending", "queued", "taken", "running", "done") == [
            TaskStatus.CANCELLED,
            TaskStatus.CANCELLED,
            TaskStatus.CANCELLING,
            TaskStatus.CANCELLING,
            TaskStatus.COMPLETED,
        ]
        assert await result_statuses(state_store, "dep", "out", "loose", "kept") == [
            ResultStatus.ABORTED,
            ResultStatus.ABORTED,
            ResultStatus.ABORTED,
            ResultStatus.COMPLETED,
        ]
        assert await status_of(state_store, "other-t") is TaskStatus.SUBMITTED
        assert await result_statuses(state_store, "other-r") == [ResultStatus.CREATED]

    async def test_cancelling_a_session_cancels_a_whole_chain_none_of_it_in_error(
        self, state_store: StateStore
    ) -> None:
        await open_session(state_store, created=["r1", "r2", "r3"])
        # The producer first: visiting tasks in insertion order cancels it before its dependents.
        await state_store.create_tasks("s", [task("a", outputs=["r1"])], at=AT)
        await state_store.create_tasks("s", [task("b", dependencies=["r1"], outputs=["r2"])], at=AT)
        await state_store.create_tasks("s", [task("c", dependencies=["r2"], outputs=["r3"])], at=AT)
        await state_store.cancel_session("s", at=LATER)
        assert await statuses_of(state_store, "a", "b", "c") == [TaskStatus.CANCELLED] * 3

    async def test_cancelling_a_producer_and_its_dependent_together_cancels_both(self, state_store: StateStore) -> None:
        await open_session(state_store, created=["r1", "r2"])
        await state_store.create_tasks(
            "s", [task("a", outputs=["r1"]), task("b", dependencies=["r1"], outputs=["r2"])], at=AT
        )
        await state_store.cancel_tasks(["a", "b"], at=LATER, reason="stop")
        assert await statuses_of(state_store, "a", "b") == [TaskStatus.CANCELLED] * 2

    async def test_cancelling_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.cancel_session("nope", at=AT)

    # == pause and resume ====================================================
    async def test_pausing_a_session_pauses_its_submitted_tasks_only(
        self, state_store: StateStore, dispatch: Dispatch, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, "s", created=["dep"])
        await open_session(state_store, "other")
        await state_store.create_tasks("s", [task("taken")], at=AT)
        await held(dispatch, "taken", start=False)
        await state_store.create_tasks("s", [task("queued"), task("pending", dependencies=["dep"])], at=AT)
        await state_store.create_tasks("other", [task("other-t", "other")], at=AT)
        await to_status(state_store, "s", SessionStatus.PAUSED)
        event_bus.take()
        await state_store.pause_session_tasks("s", at=LATER)
        assert await statuses_of(state_store, "queued", "pending", "taken", "other-t") == [
            TaskStatus.PAUSED,
            TaskStatus.PENDING,
            TaskStatus.DISPATCHED,
            TaskStatus.SUBMITTED,
        ]
        assert event_bus.take() == [task_update("queued", TaskStatus.PAUSED)]

    async def test_resuming_a_session_returns_its_paused_tasks_submitted(
        self, state_store: StateStore, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, "s", created=["dep"])
        await state_store.create_tasks("s", [task("a"), task("b"), task("pending", dependencies=["dep"])], at=AT)
        await to_status(state_store, "s", SessionStatus.PAUSED)
        await state_store.pause_session_tasks("s", at=AT)
        await to_status(state_store, "s", SessionStatus.RUNNING)
        event_bus.take()
        await state_store.resume_session_tasks("s", at=LATER)
        assert await statuses_of(state_store, "a", "b", "pending") == [
            TaskStatus.SUBMITTED,
            TaskStatus.SUBMITTED,
            TaskStatus.PENDING,
        ]
        assert event_bus.take() == [task_update("a", TaskStatus.SUBMITTED), task_update("b", TaskStatus.SUBMITTED)]
        await state_store.resume_session_tasks("s", at=LATER)
        assert event_bus.take() == []

    async def test_cancelling_the_queued_tasks_of_a_session_cancels_its_submitted_tasks_only(
        self, state_store: StateStore, dispatch: Dispatch, event_bus: RecordingEventBus
    ) -> None:
        await open_session(state_store, created=["dep", "out", "next-out"])
        await state_store.create_tasks("s", [task("running")], at=AT)
        await held(dispatch, "running")
        await state_store.create_tasks(
            "s",
            [
                task("queued", outputs=["out"]),
                task("pending", dependencies=["dep"]),
                task("next", dependencies=["out"], outputs=["next-out"]),
            ],
            at=AT,
        )
        event_bus.take()
        await state_store.cancel_queued_tasks("s", at=LATER)
        assert await statuses_of(state_store, "running", "queued", "pending", "next") == [
            TaskStatus.PROCESSING,
            TaskStatus.CANCELLED,
            TaskStatus.PENDING,
            TaskStatus.ERROR,
        ]
        assert await result_statuses(state_store, "out", "next-out", "dep") == [
            ResultStatus.ABORTED,
            ResultStatus.ABORTED,
            ResultStatus.CREATED,
        ]
        assert event_bus.take() == sorted(
            [
                task_update("queued", TaskStatus.CANCELLED),
                task_update("next", TaskStatus.ERROR),
                result_update("out", ResultStatus.ABORTED),
                result_update("next-out", ResultStatus.ABORTED),
            ]
        )

    async def test_pausing_or_resuming_an_unknown_session_raises_not_found(self, state_store: StateStore) -> None:
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.pause_session_tasks("nope", at=AT)
        with pytest.raises(errors.NotFound, match="nope"):
            await state_store.resume_session_tasks("nope", at=AT)
