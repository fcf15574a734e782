"""Real entities on the fuzzed grid, and a valid request for each RPC of the
client API built from them: the starting points of mutations.

The world holds a RUNNING session with a CREATED result, a COMPLETED one and
a submitted task, plus ids that are wrong in instructive ways (another
session's result, a deleted session). Requests whose success destroys what
they name (cancel, purge, delete, upload...) get fresh entities of their own,
so that the shared ones stay usable; ``ensure`` rebuilds the world when a
mutated request (an id swapped for the shared session's) consumed it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Partition, Result, ResultStatus, Session, SessionStatus, Task, TaskDefinition, TaskStatus
from armonik.protogen.common import (
    applications_common_pb2,
    applications_fields_pb2,
    events_common_pb2,
    objects_pb2,
    partitions_common_pb2,
    result_status_pb2,
    results_common_pb2,
    sessions_common_pb2,
    sort_direction_pb2,
    tasks_common_pb2,
)
from armonik.protogen.common.applications_filters_pb2 import FilterField as AppFilterField
from armonik.protogen.common.applications_filters_pb2 import Filters as AppFilters
from armonik.protogen.common.applications_filters_pb2 import FiltersAnd as AppFiltersAnd
from armonik.protogen.common.filters_common_pb2 import FILTER_STRING_OPERATOR_STARTS_WITH, FilterString
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from tests.integration.conftest import PARTITIONS, default_options

EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
DESC = sort_direction_pb2.SORT_DIRECTION_DESC
#: Result data larger than what the grid keeps with its record (small_object_bytes, 4 KiB by
#: default): it goes to the object store, where ImportResultsData finds objects.
STORED_BYTES = 8192


def pb_options() -> objects_pb2.TaskOptions:
    return objects_pb2.TaskOptions(
        max_duration=Duration(seconds=60), max_retries=2, priority=1, partition_id="default", options={"k": "v"}
    )


class World:
    def __init__(self, channel: grpc.Channel) -> None:
        self.sessions, self.results, self.tasks = (
            ArmoniKSessions(channel),
            ArmoniKResults(channel),
            ArmoniKTasks(channel),
        )
        self.build()

    # -- entities ---------------------------------------------------------------
    def new_session(self) -> str:
        return self.sessions.create_session(default_options(options={"k": "v"}), partition_ids=list(PARTITIONS))

    def new_result(self, session_id: str, data: bytes | None = None) -> str:
        if data is None:
            return self.results.create_results_metadata(["r"], session_id)["r"].result_id
        return self.results.create_results({"r": data}, session_id)["r"].result_id

    def new_task(self, session_id: str) -> tuple[str, str]:
        """A submitted task of the session and its expected output."""
        output = self.new_result(session_id)
        definition = TaskDefinition(payload_id=self.new_result(session_id, b"p"), expected_output_ids=[output])
        [task] = self.tasks.submit_tasks(session_id, [definition])
        return task.id, output

    def build(self) -> None:
        self.session = self.new_session()
        self.created = self.new_result(self.session)
        self.completed = self.new_result(self.session, b"42")
        self.task, self.output = self.new_task(self.session)
        # An object in the object store, to import: larger than the data kept with result records.
        self.opaque_id = self.results.get_result(self.new_result(self.session, b"x" * STORED_BYTES)).opaque_id
        self.other_session = self.new_session()
        self.foreign_result = self.new_result(self.other_session, b"x")
        self.foreign_task, _ = self.new_task(self.other_session)
        self.deleted_session = self.new_session()
        self.sessions.delete_session(self.deleted_session)

    def ensure(self) -> None:
        """Rebuilds the world when a mutated request changed what it relies on."""
        try:
            session = self.sessions.get_session(self.session)
            fine = session.status == SessionStatus.RUNNING and session.client_submission
            fine = fine and self.results.get_result(self.created).status == ResultStatus.CREATED
        except grpc.RpcError:  # deleted
            fine = False
        if not fine:
            self.build()

    def ids(self) -> list[str]:
        """Real ids, each of them wrong somewhere."""
        return [
            self.session,
            self.created,
            self.completed,
            self.task,
            self.output,
            self.other_session,
            self.foreign_result,
            self.foreign_task,
            self.deleted_session,
            *PARTITIONS,
        ]

    # -- fresh entities for requests that consume them ---------------------------
    def closed_session(self) -> str:
        session_id = self.new_session()
        self.sessions.close_session(session_id)
        return session_id


def _list(
    request_type: type[Message], where: object, sort_field: object, **extra: object
) -> Callable[[World], list[Message]]:
    def build(world: World) -> list[Message]:
        return [
            request_type(
                page=0,
                page_size=10,
                filters=where(world).to_message(),  # type: ignore[operator]
                sort=request_type.Sort(field=sort_field.field, direction=DESC),  # type: ignore[attr-defined]
                **extra,
            )
        ]

    return build


def _task_filter(world: World) -> object:
    return ((Task.session_id == world.session) & (Task.status != TaskStatus.CANCELLED)) | (
        (Task.created_at > EPOCH_2000)
        & (Task.options.max_duration > timedelta(0))
        & (Task.options.max_retries >= 0)
        & (Task.options["k"] == "v")
    )


def _session_filter(world: World) -> object:
    return ((Session.session_id == world.session) & (Session.status == SessionStatus.RUNNING)) | (
        (Session.created_at > EPOCH_2000)
        & Session.partition_ids.contains("default")
        & (Session.client_submission == True)  # noqa: E712
    )


def _result_filter(world: World) -> object:
    return ((Result.session_id == world.session) & (Result.status != ResultStatus.ABORTED)) | (
        (Result.size >= 0) & (Result.created_at > EPOCH_2000) & Result.name.startswith("r")
    )


def _application_request(world: World) -> list[Message]:
    name = applications_fields_pb2.ApplicationField(
        application_field=applications_fields_pb2.ApplicationRawField(
            field=applications_fields_pb2.APPLICATION_RAW_ENUM_FIELD_NAME
        )
    )
    condition = AppFilterField(
        field=name, filter_string=FilterString(value="a", operator=FILTER_STRING_OPERATOR_STARTS_WITH)
    )
    where = AppFilters(**{"or": [AppFiltersAnd(**{"and": [condition]})]})
    sort = applications_common_pb2.ListApplicationsRequest.Sort(fields=[name], direction=DESC)
    return [applications_common_pb2.ListApplicationsRequest(page=0, page_size=10, filters=where, sort=sort)]


def _upload(world: World) -> list[Message]:
    ident = results_common_pb2.UploadResultDataRequest.ResultIdentifier(
        session_id=world.session, result_id=world.new_result(world.session)
    )
    return [
        results_common_pb2.UploadResultDataRequest(id=ident),
        results_common_pb2.UploadResultDataRequest(data_chunk=b"a" * 100),
        results_common_pb2.UploadResultDataRequest(data_chunk=b"b"),
    ]


def _submit(world: World) -> list[Message]:
    creation = tasks_common_pb2.SubmitTasksRequest.TaskCreation(
        payload_id=world.completed,
        expected_output_keys=[world.new_result(world.session)],
        data_dependencies=[world.completed],
        task_options=pb_options(),
    )
    return [
        tasks_common_pb2.SubmitTasksRequest(
            session_id=world.session, task_creations=[creation], task_options=pb_options()
        )
    ]


def _session_call(request_type: type[Message], fresh: Callable[[World], str]) -> Callable[[World], list[Message]]:
    return lambda world: [request_type(session_id=fresh(world))]


_SHARED: Callable[[World], str] = lambda world: world.session  # noqa: E731
_FRESH: Callable[[World], str] = World.new_session

_R = results_common_pb2
_S = sessions_common_pb2
_RS = result_status_pb2

#: RPC name -> valid request(s) of the client API, built on the world.
VALID: dict[str, Callable[[World], list[Message]]] = {
    "Sessions.ListSessions": _list(_S.ListSessionsRequest, _session_filter, Session.created_at),
    "Sessions.GetSession": _session_call(_S.GetSessionRequest, _SHARED),
    "Sessions.CancelSession": _session_call(_S.CancelSessionRequest, _FRESH),
    "Sessions.CreateSession": lambda w: [
        _S.CreateSessionRequest(default_task_option=pb_options(), partition_ids=list(PARTITIONS))
    ],
    "Sessions.PauseSession": _session_call(_S.PauseSessionRequest, _FRESH),
    "Sessions.ResumeSession": _session_call(_S.ResumeSessionRequest, _SHARED),
    "Sessions.CloseSession": _session_call(_S.CloseSessionRequest, _FRESH),
    "Sessions.PurgeSession": _session_call(_S.PurgeSessionRequest, World.closed_session),
    "Sessions.DeleteSession": _session_call(_S.DeleteSessionRequest, _FRESH),
    "Sessions.StopSubmission": lambda w: [
        _S.StopSubmissionRequest(session_id=w.new_session(), client=True, worker=True)
    ],
    "Results.ListResults": _list(_R.ListResultsRequest, _result_filter, Result.created_at),
    "Results.GetResult": lambda w: [_R.GetResultRequest(result_id=w.completed)],
    "Results.GetOwnerTaskId": lambda w: [
        _R.GetOwnerTaskIdRequest(session_id=w.session, result_id=[w.output, w.completed])
    ],
    "Results.CreateResultsMetaData": lambda w: [
        _R.CreateResultsMetaDataRequest(
            session_id=w.session,
            results=[_R.CreateResultsMetaDataRequest.ResultCreate(name="a", manual_deletion=True)] * 2,
        )
    ],
    "Results.CreateResults": lambda w: [
        _R.CreateResultsRequest(
            session_id=w.session, results=[_R.CreateResultsRequest.ResultCreate(name="a", data=b"d")] * 2
        )
    ],
    "Results.UploadResultData": _upload,
    "Results.DownloadResultData": lambda w: [_R.DownloadResultDataRequest(session_id=w.session, result_id=w.completed)],
    "Results.DeleteResultsData": lambda w: [
        _R.DeleteResultsDataRequest(session_id=w.session, result_id=[w.new_result(w.session, b"gone")])
    ],
    "Results.ImportResultsData": lambda w: [
        _R.ImportResultsDataRequest(
            session_id=w.session,
            results=[
                _R.ImportResultsDataRequest.ResultOpaqueId(result_id=w.new_result(w.session), opaque_id=w.opaque_id)
            ],
        )
    ],
    "Results.GetServiceConfiguration": lambda w: [objects_pb2.Empty()],
    "Results.WatchResults": lambda w: [
        _R.WatchResultRequest(
            result_ids=[w.created, w.completed],
            fetch_statuses=[_RS.RESULT_STATUS_COMPLETED],
            watch_statuses=[_RS.RESULT_STATUS_COMPLETED, _RS.RESULT_STATUS_ABORTED],
        )
    ],
    "Tasks.ListTasks": _list(tasks_common_pb2.ListTasksRequest, _task_filter, Task.created_at),
    "Tasks.ListTasksDetailed": _list(tasks_common_pb2.ListTasksRequest, _task_filter, Task.created_at),
    "Tasks.GetTask": lambda w: [tasks_common_pb2.GetTaskRequest(task_id=w.task)],
    "Tasks.CancelTasks": lambda w: [tasks_common_pb2.CancelTasksRequest(task_ids=[w.new_task(w.session)[0]])],
    "Tasks.GetResultIds": lambda w: [tasks_common_pb2.GetResultIdsRequest(task_id=[w.task])],
    "Tasks.CountTasksByStatus": lambda w: [
        tasks_common_pb2.CountTasksByStatusRequest(filters=_task_filter(w).to_message())  # type: ignore[attr-defined]
    ],
    "Tasks.SubmitTasks": _submit,
    "Events.GetEvents": lambda w: [
        events_common_pb2.EventSubscriptionRequest(
            session_id=w.session,
            tasks_filters=((Task.id == w.task) | (Task.options["k"] == "v")).to_message(),
            results_filters=((Result.result_id == w.completed) | Result.name.startswith("r")).to_message(),
            returned_events=[events_common_pb2.EVENTS_ENUM_NEW_TASK, events_common_pb2.EVENTS_ENUM_NEW_RESULT],
        )
    ],
    "Partitions.ListPartitions": _list(
        partitions_common_pb2.ListPartitionsRequest,
        lambda w: (
            (Partition.id == "default") | (Partition.priority >= 0) | Partition.parent_partition_ids.contains("x")
        ),
        Partition.priority,
    ),
    "Partitions.GetPartition": lambda w: [partitions_common_pb2.GetPartitionRequest(id="default")],
    "Applications.ListApplications": _application_request,
}
