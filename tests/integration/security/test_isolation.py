"""Session isolation: alice and bob (same role, every service) never reach
each other's sessions, tasks, results or events; an admin (``*``, which
includes ``General:AllSessions``) reaches them all. Someone else's id is
NOT_FOUND, like an id that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import EventTypes, Result, Session, Task, TaskDefinition
from armonik.protogen.client.results_service_pb2_grpc import ResultsStub
from armonik.protogen.common import results_common_pb2

from tests.helpers import grpc_code

from ..conftest import default_options


@dataclass(frozen=True)
class Work:
    session_id: str
    task_id: str
    payload_id: str
    output_id: str


def run_work(channel: grpc.Channel) -> Work:
    session_id = ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])
    results = ArmoniKResults(channel)
    payload = results.create_results({"payload": b"data"}, session_id)["payload"]
    output = results.create_results_metadata(["out"], session_id)["out"]
    definition = TaskDefinition(payload_id=payload.result_id, expected_output_ids=[output.result_id])
    [task] = ArmoniKTasks(channel).submit_tasks(session_id, [definition])
    return Work(session_id, task.id, payload.result_id, output.result_id)


@pytest.fixture(scope="module")
def alice_work(channels: dict[str, grpc.Channel]) -> Work:
    return run_work(channels["alice"])


@pytest.fixture(scope="module")
def bob_work(channels: dict[str, grpc.Channel]) -> Work:
    return run_work(channels["bob"])


@pytest.fixture
def bob(channels: dict[str, grpc.Channel], alice_work: Work, bob_work: Work) -> grpc.Channel:
    return channels["bob"]


def test_sessions_are_listed_to_their_owner_only(bob: grpc.Channel, alice_work: Work, bob_work: Work) -> None:
    total, listed = ArmoniKSessions(bob).list_sessions()

    assert [s.session_id for s in listed] == [bob_work.session_id] and total == 1
    assert ArmoniKSessions(bob).list_sessions(Session.session_id == alice_work.session_id)[0] == 0


def test_tasks_and_results_of_other_sessions_are_not_listed(bob: grpc.Channel, alice_work: Work) -> None:
    tasks, results = ArmoniKTasks(bob), ArmoniKResults(bob)

    assert {t.session_id for t in tasks.list_tasks()[1]} == {
        s.session_id for s in ArmoniKSessions(bob).list_sessions()[1]
    }
    assert tasks.list_tasks(Task.session_id == alice_work.session_id)[0] == 0
    assert results.list_results(Result.session_id == alice_work.session_id)[0] == 0
    assert alice_work.output_id not in {r.result_id for r in results.list_results()[1]}
    assert tasks.count_tasks_by_status(Task.session_id == alice_work.session_id) == {}


def test_an_owners_own_lists_are_whole(channels: dict[str, grpc.Channel], alice_work: Work) -> None:
    alice = channels["alice"]

    assert ArmoniKTasks(alice).list_tasks(Task.session_id == alice_work.session_id)[0] == 1
    assert ArmoniKResults(alice).list_results(Result.session_id == alice_work.session_id)[0] == 2


def test_other_users_ids_are_not_found(bob: grpc.Channel, alice_work: Work) -> None:
    sessions, tasks, results = ArmoniKSessions(bob), ArmoniKTasks(bob), ArmoniKResults(bob)
    s, not_found = alice_work.session_id, grpc.StatusCode.NOT_FOUND

    assert grpc_code(lambda: sessions.get_session(s)) == not_found
    assert grpc_code(lambda: tasks.get_task(alice_work.task_id)) == not_found
    assert grpc_code(lambda: results.get_result(alice_work.output_id)) == not_found
    assert grpc_code(lambda: results.download_result_data(alice_work.payload_id, s)) == not_found
    assert grpc_code(lambda: results.get_owner_task_id([alice_work.output_id], s)) == not_found


def test_other_users_sessions_cannot_be_changed(
    bob: grpc.Channel, alice_work: Work, channels: dict[str, grpc.Channel]
) -> None:
    sessions, tasks, results = ArmoniKSessions(bob), ArmoniKTasks(bob), ArmoniKResults(bob)
    s, not_found = alice_work.session_id, grpc.StatusCode.NOT_FOUND
    definition = TaskDefinition(payload_id=alice_work.payload_id, expected_output_ids=[alice_work.output_id])

    assert grpc_code(lambda: sessions.cancel_session(s)) == not_found
    assert grpc_code(lambda: sessions.pause_session(s)) == not_found
    assert grpc_code(lambda: sessions.delete_session(s)) == not_found
    assert grpc_code(lambda: tasks.cancel_tasks([alice_work.task_id])) == not_found
    assert grpc_code(lambda: tasks.submit_tasks(s, [definition])) == not_found
    assert grpc_code(lambda: results.create_results_metadata(["sneaky"], s)) == not_found
    assert grpc_code(lambda: results.upload_result_data(alice_work.output_id, s, b"forged")) == not_found
    assert ArmoniKSessions(channels["alice"]).get_session(s).status.name == "RUNNING"


def test_other_users_events_are_not_streamed(bob: grpc.Channel, alice_work: Work) -> None:
    events = ArmoniKEvents(bob)

    call = lambda: events.get_events(alice_work.session_id, [EventTypes.NEW_RESULT], [lambda *_: True])  # noqa: E731
    assert grpc_code(call) == grpc.StatusCode.NOT_FOUND


def test_other_users_results_cannot_be_watched(bob: grpc.Channel, alice_work: Work) -> None:
    request = results_common_pb2.WatchResultRequest(result_ids=[alice_work.output_id], fetch_statuses=[1])

    assert grpc_code(lambda: list(ResultsStub(bob).WatchResults(iter([request])))) == grpc.StatusCode.NOT_FOUND


def test_an_admin_reaches_every_session(channels: dict[str, grpc.Channel], alice_work: Work, bob_work: Work) -> None:
    admin = channels["admin"]
    listed = {s.session_id for s in ArmoniKSessions(admin).list_sessions()[1]}

    assert {alice_work.session_id, bob_work.session_id} <= listed
    assert ArmoniKTasks(admin).get_task(alice_work.task_id).session_id == alice_work.session_id
    assert ArmoniKResults(admin).download_result_data(alice_work.payload_id, alice_work.session_id) == b"data"
