"""The Sessions service, driven by the official client."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Direction, ResultStatus, Session, SessionStatus, TaskDefinition, TaskOptions
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import objects_pb2, sessions_common_pb2
from google.protobuf.duration_pb2 import Duration

from tests.helpers import grpc_code

from .conftest import default_options


def test_a_created_session_is_running_with_its_defaults_and_partitions(sessions: ArmoniKSessions) -> None:
    session_id = sessions.create_session(default_options(priority=3), partition_ids=["default", "other"])

    session = sessions.get_session(session_id)

    assert session.session_id == session_id
    assert session.status == SessionStatus.RUNNING
    assert session.partition_ids == ["default", "other"]
    assert session.options.priority == 3
    assert session.options.max_duration == timedelta(seconds=60)
    assert session.options.partition_id == "default"
    assert session.client_submission and session.worker_submission
    assert session.created_at is not None and session.closed_at is None


def test_a_session_without_partitions_uses_the_default_partition(sessions: ArmoniKSessions) -> None:
    session_id = sessions.create_session(default_options())

    assert sessions.get_session(session_id).partition_ids == ["default"]


def test_sessions_are_listed_filtered_and_sorted(sessions: ArmoniKSessions) -> None:
    first = sessions.create_session(default_options())
    second = sessions.create_session(default_options())
    sessions.pause_session(second)

    total, running = sessions.list_sessions(Session.status == SessionStatus.RUNNING)
    assert (total, [s.session_id for s in running]) == (1, [first])

    total, ordered = sessions.list_sessions(sort_field=Session.created_at, sort_direction=Direction.DESC)
    assert total == 2
    assert [s.session_id for s in ordered] == [second, first]

    total, page = sessions.list_sessions(page=1, page_size=1, sort_field=Session.created_at)
    assert (total, [s.session_id for s in page]) == (2, [second])


def test_a_session_goes_through_its_whole_lifecycle_to_deletion(sessions: ArmoniKSessions) -> None:
    session_id = sessions.create_session(default_options())

    assert sessions.pause_session(session_id).status == SessionStatus.PAUSED
    assert sessions.resume_session(session_id).status == SessionStatus.RUNNING
    closed = sessions.close_session(session_id)
    assert closed.status == SessionStatus.CLOSED
    assert closed.closed_at is not None and not closed.client_submission
    assert sessions.purge_session(session_id).status == SessionStatus.PURGED
    assert sessions.delete_session(session_id).status == SessionStatus.DELETED

    assert grpc_code(lambda: sessions.get_session(session_id)) == grpc.StatusCode.NOT_FOUND


def test_cancelling_a_session_aborts_its_results_and_closes_submission(
    sessions: ArmoniKSessions, results: ArmoniKResults, tasks: ArmoniKTasks
) -> None:
    session_id = sessions.create_session(default_options())
    created = results.create_results_metadata(["payload", "output"], session_id)

    cancelled = sessions.cancel_session(session_id)

    assert cancelled.status == SessionStatus.CANCELLED
    assert cancelled.cancelled_at is not None and not cancelled.client_submission
    assert results.get_result(created["output"].result_id).status == ResultStatus.ABORTED
    task = TaskDefinition(payload_id=created["payload"].result_id, expected_output_ids=[created["output"].result_id])
    assert grpc_code(lambda: tasks.submit_tasks(session_id, [task])) == grpc.StatusCode.FAILED_PRECONDITION


def test_stop_submission_clears_the_flags_it_names(sessions: ArmoniKSessions) -> None:
    session_id = sessions.create_session(default_options())

    session = sessions.stop_submission_session(session_id, client=True, worker=False)

    assert not session.client_submission and session.worker_submission


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], "purge_session"),
        (["pause_session"], "pause_session"),
        (["close_session"], "resume_session"),
        (["close_session"], "pause_session"),
        (["close_session"], "close_session"),
        (["cancel_session"], "cancel_session"),
        (["cancel_session"], "close_session"),
        (["cancel_session"], "resume_session"),
        (["close_session", "purge_session"], "purge_session"),
        (["close_session", "purge_session"], "cancel_session"),
        (["pause_session"], "purge_session"),
    ],
)
def test_an_invalid_session_transition_is_a_failed_precondition(
    sessions: ArmoniKSessions, steps: list[str], refused: str
) -> None:
    session_id = sessions.create_session(default_options())
    for step in steps:
        getattr(sessions, step)(session_id)

    assert grpc_code(lambda: getattr(sessions, refused)(session_id)) == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    "options",
    [
        default_options(max_retries=0),
        default_options(priority=0),
        default_options(priority=100),
        *(default_options(options={"pyarmonik.io/weight": w}) for w in ("heavy", "0", "1000", "nan", "")),
    ],
)
def test_a_session_with_unusable_defaults_is_an_invalid_argument(
    sessions: ArmoniKSessions, options: TaskOptions
) -> None:
    assert grpc_code(lambda: sessions.create_session(options)) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_session_without_max_duration_or_defaults_is_an_invalid_argument(channel: grpc.Channel) -> None:
    stub = SessionsStub(channel)
    no_duration = objects_pb2.TaskOptions(max_retries=1, priority=1)

    for request in (
        sessions_common_pb2.CreateSessionRequest(default_task_option=no_duration),
        sessions_common_pb2.CreateSessionRequest(),
    ):
        assert grpc_code(lambda: stub.CreateSession(request)) == grpc.StatusCode.INVALID_ARGUMENT  # noqa: B023


def test_a_session_whose_max_duration_is_not_a_valid_duration_is_an_invalid_argument(channel: grpc.Channel) -> None:
    stub = SessionsStub(channel)
    for max_duration in (Duration(seconds=2**62), Duration(seconds=60, nanos=-1)):
        options = objects_pb2.TaskOptions(max_retries=1, priority=1, max_duration=max_duration)
        request = sessions_common_pb2.CreateSessionRequest(default_task_option=options)

        assert grpc_code(lambda: stub.CreateSession(request)) == grpc.StatusCode.INVALID_ARGUMENT  # noqa: B023


def test_a_session_on_an_unknown_partition_is_not_found(sessions: ArmoniKSessions) -> None:
    code = grpc_code(lambda: sessions.create_session(default_options(), partition_ids=["nowhere"]))

    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("rpc", ["get_session", "pause_session", "cancel_session", "delete_session"])
def test_an_unknown_session_is_not_found(sessions: ArmoniKSessions, rpc: str) -> None:
    assert grpc_code(lambda: getattr(sessions, rpc)("no-such-session")) == grpc.StatusCode.NOT_FOUND


def test_a_request_without_session_id_is_an_invalid_argument(sessions: ArmoniKSessions) -> None:
    assert grpc_code(lambda: sessions.get_session("")) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_negative_page_is_an_invalid_argument(sessions: ArmoniKSessions) -> None:
    assert grpc_code(lambda: sessions.list_sessions(page=-1)) == grpc.StatusCode.INVALID_ARGUMENT
