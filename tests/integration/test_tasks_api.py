"""The Tasks service, driven by the official client.

No agent runs here: ready tasks stay SUBMITTED in their partition queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Direction, ResultStatus, Task, TaskDefinition, TaskStatus
from armonik.protogen.client.tasks_service_pb2_grpc import TasksStub
from armonik.protogen.common import tasks_common_pb2 as pb

from tests.helpers import grpc_code

from .conftest import RunningGrid, default_options


class Batch:
    """Results and task definitions of one session, by name."""

    def __init__(self, results: ArmoniKResults, session_id: str) -> None:
        self.results = results
        self.session_id = session_id
        self.ids: dict[str, str] = {}

    def with_data(self, *names: str) -> Batch:
        created = self.results.create_results({n: n.encode() for n in names}, self.session_id, batch_size=len(names))
        self.ids.update({n: r.result_id for n, r in created.items()})
        return self

    def without_data(self, *names: str) -> Batch:
        created = self.results.create_results_metadata(list(names), self.session_id)
        self.ids.update({n: r.result_id for n, r in created.items()})
        return self

    def task(
        self, payload: str, outputs: Sequence[str], dependencies: Sequence[str] = (), **options: object
    ) -> TaskDefinition:
        return TaskDefinition(
            payload_id=self.ids[payload],
            expected_output_ids=[self.ids[o] for o in outputs],
            data_dependencies=[self.ids[d] for d in dependencies],
            options=default_options(**options) if options else None,
        )


@pytest.fixture
def batch(results: ArmoniKResults, session_id: str) -> Batch:
    return Batch(results, session_id)


def session_tasks(tasks: ArmoniKTasks, session_id: str) -> list[Task]:
    return tasks.list_tasks(Task.session_id == session_id)[1]


def test_a_task_with_its_payload_ready_is_submitted_and_queued(
    running_grid: RunningGrid, tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.with_data("payload").without_data("out")

    [submitted] = tasks.submit_tasks(batch.session_id, [batch.task("payload", ["out"])])
    task = tasks.get_task(submitted.id)

    assert task.status == TaskStatus.SUBMITTED
    assert task.payload_id == batch.ids["payload"] and task.expected_output_ids == [batch.ids["out"]]
    assert task.options.partition_id == "default" and task.options.max_duration == timedelta(seconds=60)
    assert task.initial_task_id == task.id and task.submitted_at is not None
    assert running_grid.run(running_grid.grid.queue.depth("default")) == 1  # type: ignore[union-attr]
    # ArmoniK.Core's root tasks descend from their session (the Admin GUI's
    # session graph links each payload to its last parent).
    assert task.parent_task_ids == [batch.session_id]


def test_task_options_take_the_priority_from_the_task_and_the_rest_from_defaults(
    tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.with_data("payload").without_data("out")

    [submitted] = tasks.submit_tasks(
        batch.session_id, [batch.task("payload", ["out"], priority=7, partition_id="other", max_retries=0)]
    )

    task = tasks.get_task(submitted.id)
    assert task.options.priority == 7 and task.options.partition_id == "other" and task.options.max_retries == 2


def test_a_missing_dependency_is_not_found_and_creates_nothing(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.with_data("payload").without_data("out")
    good = batch.task("payload", ["out"])
    bad = TaskDefinition(
        payload_id=batch.ids["payload"], expected_output_ids=[batch.ids["out"]], data_dependencies=["ghost"]
    )

    assert grpc_code(lambda: tasks.submit_tasks(batch.session_id, [good, bad])) == grpc.StatusCode.NOT_FOUND
    assert session_tasks(tasks, batch.session_id) == []


def test_an_aborted_dependency_is_a_failed_precondition(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.with_data("payload").without_data("aborted", "out")
    [producer] = tasks.submit_tasks(batch.session_id, [batch.task("payload", ["aborted"])])
    tasks.cancel_tasks([producer.id])

    code = grpc_code(lambda: tasks.submit_tasks(batch.session_id, [batch.task("payload", ["out"], ["aborted"])]))

    assert code == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("partition_id", ["nowhere", ""])
def test_a_partition_outside_the_session_is_an_invalid_argument(
    sessions: ArmoniKSessions, results: ArmoniKResults, tasks: ArmoniKTasks, partition_id: str
) -> None:
    session_id = sessions.create_session(default_options())  # on "default" only
    batch = Batch(results, session_id).with_data("payload").without_data("out")
    target = partition_id or "other"

    code = grpc_code(lambda: tasks.submit_tasks(session_id, [batch.task("payload", ["out"], partition_id=target)]))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert session_tasks(tasks, session_id) == []


def test_a_partition_deleted_since_the_session_was_created_is_refused_at_submission(
    running_grid: RunningGrid, sessions: ArmoniKSessions, results: ArmoniKResults, tasks: ArmoniKTasks
) -> None:
    session_id = sessions.create_session(default_options(partition_id="other"), partition_ids=["other"])
    batch = Batch(results, session_id).with_data("payload").without_data("out")
    assert running_grid.run(running_grid.grid.state.delete_partition("other"))

    code = grpc_code(lambda: tasks.submit_tasks(session_id, [batch.task("payload", ["out"])]))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert session_tasks(tasks, session_id) == []


def test_submitting_to_a_closed_session_is_a_failed_precondition(
    sessions: ArmoniKSessions, tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.with_data("payload").without_data("out")
    sessions.close_session(batch.session_id)

    code = grpc_code(lambda: tasks.submit_tasks(batch.session_id, [batch.task("payload", ["out"])]))

    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_task_waits_pending_until_its_payload_is_uploaded(
    results: ArmoniKResults, tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.without_data("payload", "out")
    [submitted] = tasks.submit_tasks(batch.session_id, [batch.task("payload", ["out"])])
    assert tasks.get_task(submitted.id).status == TaskStatus.PENDING

    results.upload_result_data(batch.ids["payload"], batch.session_id, b"late payload")

    assert tasks.get_task(submitted.id).status == TaskStatus.SUBMITTED


def test_an_unknown_task_is_not_found(tasks: ArmoniKTasks) -> None:
    assert grpc_code(lambda: tasks.get_task("no-such-task")) == grpc.StatusCode.NOT_FOUND


def test_tasks_are_listed_with_filters_sort_pages_and_summaries(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.with_data("ready").without_data("late", "o1", "o2", "o3")
    first, second, third = tasks.submit_tasks(
        batch.session_id,
        [
            batch.task("ready", ["o1"], priority=1),
            batch.task("late", ["o2"], priority=5),
            batch.task("ready", ["o3"], ["late"], priority=3),
        ],
    )
    in_session = Task.session_id == batch.session_id

    total, pending = tasks.list_tasks(in_session & (Task.status == TaskStatus.PENDING))
    assert (total, sorted(t.id for t in pending)) == (2, sorted([second.id, third.id]))

    _, by_priority = tasks.list_tasks(in_session, sort_field=Task.options.priority, sort_direction=Direction.DESC)
    assert [t.id for t in by_priority] == [second.id, third.id, first.id]

    total, page = tasks.list_tasks(in_session, page=1, page_size=2, sort_field=Task.options.priority)
    assert (total, [t.id for t in page]) == (3, [second.id])

    assert tasks.list_tasks(in_session, page_size=0) == (3, [])

    _, [summary] = tasks.list_tasks(Task.id == third.id, detailed=False)
    assert summary.count_data_dependencies == 1 and summary.count_expected_output_ids == 1
    assert summary.status == TaskStatus.PENDING and summary.data_dependencies is None

    _, [detailed] = tasks.list_tasks(Task.id == third.id, detailed=True)
    assert detailed.data_dependencies == [batch.ids["late"]]


def test_tasks_are_counted_by_status(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.with_data("ready").without_data("late", "o1", "o2", "o3")
    tasks.submit_tasks(
        batch.session_id,
        [batch.task("ready", ["o1"]), batch.task("ready", ["o2"]), batch.task("late", ["o3"])],
    )

    counts = tasks.count_tasks_by_status(Task.session_id == batch.session_id)

    assert counts == {TaskStatus.SUBMITTED: 2, TaskStatus.PENDING: 1}


def test_cancelling_a_task_aborts_its_outputs_and_fails_its_dependents(
    results: ArmoniKResults, tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.with_data("payload").without_data("middle", "end")
    producer, consumer = tasks.submit_tasks(
        batch.session_id,
        [batch.task("payload", ["middle"]), batch.task("payload", ["end"], ["middle"])],
    )

    tasks.cancel_tasks([producer.id])

    assert tasks.get_task(producer.id).status == TaskStatus.CANCELLED
    assert results.get_result(batch.ids["middle"]).status == ResultStatus.ABORTED
    assert tasks.get_task(consumer.id).status == TaskStatus.ERROR
    assert results.get_result(batch.ids["end"]).status == ResultStatus.ABORTED


def test_cancelling_an_unknown_task_is_not_found(tasks: ArmoniKTasks) -> None:
    assert grpc_code(lambda: tasks.cancel_tasks(["no-such-task"])) == grpc.StatusCode.NOT_FOUND


def test_result_ids_map_each_task_to_its_expected_outputs(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.with_data("payload").without_data("a", "b", "c")
    one, two = tasks.submit_tasks(batch.session_id, [batch.task("payload", ["a", "b"]), batch.task("payload", ["c"])])

    assert tasks.get_result_ids([one.id, two.id]) == {
        one.id: [batch.ids["a"], batch.ids["b"]],
        two.id: [batch.ids["c"]],
    }


def test_malformed_task_requests_are_invalid_arguments(channel: grpc.Channel, session_id: str) -> None:
    stub = TasksStub(channel)
    creation = pb.SubmitTasksRequest.TaskCreation

    for call in (
        lambda: stub.SubmitTasks(pb.SubmitTasksRequest(task_creations=[creation(payload_id="p")])),
        lambda: stub.SubmitTasks(pb.SubmitTasksRequest(session_id=session_id)),
        lambda: stub.SubmitTasks(pb.SubmitTasksRequest(session_id=session_id, task_creations=[creation()])),
        lambda: stub.CancelTasks(pb.CancelTasksRequest()),
        lambda: stub.GetResultIds(pb.GetResultIdsRequest(task_id=[""])),
        lambda: stub.GetTask(pb.GetTaskRequest()),
    ):
        assert grpc_code(call) == grpc.StatusCode.INVALID_ARGUMENT


def test_submitting_to_an_unknown_session_is_not_found(channel: grpc.Channel) -> None:
    request = pb.SubmitTasksRequest(
        session_id="ghost", task_creations=[pb.SubmitTasksRequest.TaskCreation(payload_id="p")]
    )

    assert grpc_code(lambda: TasksStub(channel).SubmitTasks(request)) == grpc.StatusCode.NOT_FOUND


def test_a_retried_identical_submission_returns_the_earlier_tasks_instead_of_duplicates(
    tasks: ArmoniKTasks, batch: Batch
) -> None:
    batch.without_data("payload", "a", "b")
    definitions = [batch.task("payload", ["a"]), batch.task("payload", ["b"])]
    first = tasks.submit_tasks(batch.session_id, definitions)
    again = tasks.submit_tasks(batch.session_id, definitions)  # a client retrying a call it saw fail
    assert [t.id for t in again] == [t.id for t in first]
    assert len(session_tasks(tasks, batch.session_id)) == 2


def test_a_different_task_on_an_owned_output_is_still_created(tasks: ArmoniKTasks, batch: Batch) -> None:
    batch.without_data("payload", "other-payload", "out")
    [first] = tasks.submit_tasks(batch.session_id, [batch.task("payload", ["out"])])
    [second] = tasks.submit_tasks(batch.session_id, [batch.task("other-payload", ["out"])])
    assert second.id != first.id
    assert len(session_tasks(tasks, batch.session_id)) == 2
