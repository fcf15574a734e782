"""Inputs ArmoniK.Core accepts loosely, and what PyArmoniK decided for each
(docs/security.md, "Hostile input: decisions")."""

from __future__ import annotations

from typing import Any

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKTasks
from armonik.common import EventTypes, Result, Task, TaskDefinition, TaskStatus
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.client.tasks_service_pb2_grpc import TasksStub
from armonik.protogen.common import results_common_pb2, sessions_common_pb2, tasks_common_pb2

from tests.helpers import wait_for


def refusal(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code(), error.details()  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded; a refusal was expected")


def _task(results: ArmoniKResults, session_id: str, output_id: str) -> TaskDefinition:
    payload = results.create_results({"payload": b"p"}, session_id)["payload"].result_id
    return TaskDefinition(payload_id=payload, expected_output_ids=[output_id])


def test_a_task_whose_expected_output_is_aborted_is_refused(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    output = results.create_results_metadata(["out"], session_id)["out"].result_id
    [first] = tasks.submit_tasks(session_id, [_task(results, session_id, output)])
    tasks.cancel_tasks([first.id])
    wait_for(lambda: tasks.get_task(first.id).status == TaskStatus.CANCELLED)

    code, message = refusal(lambda: tasks.submit_tasks(session_id, [_task(results, session_id, output)]))

    assert code == grpc.StatusCode.FAILED_PRECONDITION and output in message
    assert tasks.list_tasks(Task.session_id == session_id)[0] == 1


def test_a_task_whose_expected_output_is_already_completed_is_refused(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    completed = results.create_results({"done": b"d"}, session_id)["done"].result_id

    code, message = refusal(lambda: tasks.submit_tasks(session_id, [_task(results, session_id, completed)]))

    assert code == grpc.StatusCode.FAILED_PRECONDITION and completed in message


def test_an_output_another_pending_task_owns_keeps_its_owner_as_in_armonik(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    output = results.create_results_metadata(["out"], session_id)["out"].result_id
    [first] = tasks.submit_tasks(session_id, [_task(results, session_id, output)])
    [second] = tasks.submit_tasks(session_id, [_task(results, session_id, output)])

    assert second.id != first.id
    assert results.get_result(output).owner_task_id == first.id


def test_event_streams_refuse_filters_armonik_refuses(events: ArmoniKEvents, session_id: str) -> None:
    for where in (dict(task_filter=Task.status == TaskStatus.COMPLETED), dict(result_filter=Result.size > 3)):
        call = lambda: events.get_events(session_id, [EventTypes.NEW_TASK], [lambda *_: True], **where)  # noqa: B023, E731

        code, message = refusal(call)

        assert code == grpc.StatusCode.INVALID_ARGUMENT and "event streams cannot filter" in message


def test_event_streams_accept_id_and_task_option_filters(
    events: ArmoniKEvents, results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    output = results.create_results_metadata(["out"], session_id)["out"].result_id
    [task] = tasks.submit_tasks(session_id, [_task(results, session_id, output)])
    seen: list[object] = []

    def first(_session: str, _kind: EventTypes, event: object) -> bool:
        seen.append(event)
        return True

    events.get_events(
        session_id,
        [EventTypes.NEW_TASK],
        [first],
        task_filter=(Task.id == task.id) & (Task.options.partition_id == "default"),
    )
    events.get_events(session_id, [EventTypes.NEW_RESULT], [first], result_filter=Result.name == "out")

    assert len(seen) == 2


def test_list_flags_for_options_and_errors_are_accepted_and_change_nothing(
    channel: grpc.Channel, session_id: str
) -> None:
    sessions = [
        SessionsStub(channel).ListSessions(
            sessions_common_pb2.ListSessionsRequest(page_size=10, with_task_options=flag)
        )
        for flag in (False, True)
    ]
    listed = [
        TasksStub(channel).ListTasks(tasks_common_pb2.ListTasksRequest(page_size=10, with_errors=flag))
        for flag in (False, True)
    ]

    assert sessions[0] == sessions[1] and sessions[0].sessions[0].options.max_retries == 2
    assert listed[0] == listed[1]


def _raw(channel: grpc.Channel, path: str, *, streaming: bool = False) -> Any:
    shape = channel.stream_unary if streaming else channel.unary_unary
    return shape(path, request_serializer=None, response_deserializer=None)


def test_a_body_that_is_not_protobuf_is_invalid_argument(channel: grpc.Channel) -> None:
    """It was UNKNOWN (INTERNAL in a stream): gRPC's parser raised before any handler."""
    get_session = _raw(channel, "/armonik.api.grpc.v1.sessions.Sessions/GetSession")
    bad_utf8 = b"\x0a\x03a\xffc"  # session_id = "a\xffc"

    for body in (b"\xff\xff\xff", bad_utf8):
        code, details = refusal(lambda body=body: get_session(body, timeout=10))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "GetSession" in details


def test_a_stream_message_that_is_not_protobuf_is_invalid_argument(
    channel: grpc.Channel, results: ArmoniKResults, session_id: str
) -> None:
    upload = _raw(channel, "/armonik.api.grpc.v1.results.Results/UploadResultData", streaming=True)
    result_id = results.create_results_metadata(["r"], session_id)["r"].result_id
    first = results_common_pb2.UploadResultDataRequest(
        id=results_common_pb2.UploadResultDataRequest.ResultIdentifier(session_id=session_id, result_id=result_id)
    ).SerializeToString()

    code, details = refusal(lambda: upload(iter([first, b"\x12\x05ab"]), timeout=10))  # data cut short

    assert code is grpc.StatusCode.INVALID_ARGUMENT and "UploadResultData" in details
    assert results.get_result(result_id).status.name == "CREATED"
