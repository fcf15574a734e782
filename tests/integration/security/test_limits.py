"""Every limit of the client API refuses with a clear status whose message
names the setting that raises it, and leaves nothing half-done."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Callable, Iterator

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Result, ResultStatus, Task, TaskDefinition
from armonik.protogen.client.events_service_pb2_grpc import EventsStub
from armonik.protogen.client.results_service_pb2_grpc import ResultsStub
from armonik.protogen.common import events_common_pb2, results_common_pb2

from tests.helpers import wait_for

from ..conftest import default_options
from .conftest import Pki, SecureGrid, start

MESSAGE = 64 * 1024
DATA = 1000
OPTIONS = 200
IDLE = 5.0  # long enough that a busy machine never looks like an idle client


@pytest.fixture(scope="module")
def limited_grid(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureGrid]:
    grid = start(
        tmp_path_factory.mktemp("limited-grid"),
        pki,
        max_message_size=MESSAGE,
        data_chunk_max_size=16 * 1024,
        max_tasks_per_request=3,
        max_results_per_request=3,
        max_result_data_size=DATA,
        max_event_streams_per_client=2,
        max_id_length=64,
        max_task_options_size=OPTIONS,
        max_upload_idle_seconds=IDLE,
    )
    try:
        yield grid
    finally:
        grid.stop()


@pytest.fixture(scope="module")
def channel(limited_grid: SecureGrid) -> Iterator[grpc.Channel]:
    with limited_grid.connect() as opened:
        yield opened


@pytest.fixture
def session_id(channel: grpc.Channel) -> str:
    return ArmoniKSessions(channel).create_session(default_options(), partition_ids=["default"])


def refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details()  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded; a refusal was expected")


def test_a_message_above_the_limit_is_refused_naming_the_setting(channel: grpc.Channel, session_id: str) -> None:
    code, message = refusal(lambda: ArmoniKResults(channel).create_results({"big": b"x" * (MESSAGE + 10)}, session_id))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-message-size" in message and "PYARMONIK_MAX_MESSAGE_SIZE" in message


def test_a_message_far_above_the_limit_is_refused_by_grpc_itself(channel: grpc.Channel, session_id: str) -> None:
    code, _ = refusal(lambda: ArmoniKResults(channel).create_results({"huge": b"x" * (3 * MESSAGE)}, session_id))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_too_many_tasks_in_one_request_are_refused_and_none_created(channel: grpc.Channel, session_id: str) -> None:
    results = ArmoniKResults(channel)
    payload = results.create_results({"p": b"p"}, session_id)["p"].result_id
    outputs = results.create_results_metadata(["a", "b"], session_id)
    more = results.create_results_metadata(["c", "d"], session_id)
    definitions = [
        TaskDefinition(payload_id=payload, expected_output_ids=[r.result_id])
        for r in [*outputs.values(), *more.values()]
    ]

    code, message = refusal(lambda: ArmoniKTasks(channel).submit_tasks(session_id, definitions, chunk_size=10))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "4 tasks" in message and "--max-tasks-per-request" in message
    assert ArmoniKTasks(channel).list_tasks(Task.session_id == session_id)[0] == 0


def test_too_many_results_in_one_request_are_refused(channel: grpc.Channel, session_id: str) -> None:
    names = ["a", "b", "c", "d"]

    code, message = refusal(lambda: ArmoniKResults(channel).create_results_metadata(names, session_id, batch_size=10))

    assert code == grpc.StatusCode.INVALID_ARGUMENT and "--max-results-per-request" in message
    assert ArmoniKResults(channel).list_results(Result.session_id == session_id)[0] == 0


def test_result_data_above_the_limit_is_refused_and_the_result_keeps_waiting(
    channel: grpc.Channel, session_id: str, limited_grid: SecureGrid
) -> None:
    results = ArmoniKResults(channel)
    result = results.create_results_metadata(["r"], session_id)["r"]

    code, message = refusal(lambda: results.upload_result_data(result.result_id, session_id, b"x" * (DATA + 1)))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-result-data-size" in message
    assert results.get_result(result.result_id).status == ResultStatus.CREATED
    assert not [path for path in (limited_grid.options.data_dir / "objects").rglob(f"{result.result_id}*")]
    assert refusal(lambda: results.create_results({"inline": b"x" * (DATA + 1)}, session_id))[0] == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )


def test_an_endless_upload_is_refused_once_past_the_limit_without_being_read_to_its_end(
    channel: grpc.Channel, session_id: str
) -> None:
    result = ArmoniKResults(channel).create_results_metadata(["r"], session_id)["r"]
    sent = 0

    def endless() -> Iterator[results_common_pb2.UploadResultDataRequest]:
        nonlocal sent
        identifier = results_common_pb2.UploadResultDataRequest.ResultIdentifier
        yield results_common_pb2.UploadResultDataRequest(
            id=identifier(session_id=session_id, result_id=result.result_id)
        )
        while True:
            sent += 1
            yield results_common_pb2.UploadResultDataRequest(data_chunk=b"x" * 400)

    code, message = refusal(lambda: ResultsStub(channel).UploadResultData(endless(), timeout=30))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-result-data-size" in message
    assert sent < 10_000  # read up to the limit (and gRPC's flow-control window), not forever


def test_event_streams_beyond_the_limit_per_client_are_refused(channel: grpc.Channel, session_id: str) -> None:
    stub = EventsStub(channel)
    ArmoniKResults(channel).create_results({"replayed": b"x"}, session_id)  # a stream's first event: it is open
    request = events_common_pb2.EventSubscriptionRequest(session_id=session_id)

    def opened() -> Iterator[object] | None:
        stream = stub.GetEvents(request)
        try:
            next(stream)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
            return None
        return stream

    open_streams = [opened(), opened()]
    try:
        assert None not in open_streams
        code, message = refusal(lambda: next(stub.GetEvents(request)))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-event-streams-per-client" in message and "host" in message

        open_streams.pop().cancel()  # type: ignore[union-attr]
        # The control plane, another process, frees the place once it sees the cancel.
        open_streams.append(wait_for(opened, timeout=40))  # type: ignore[arg-type]
    finally:
        for stream in open_streams:
            if stream is not None:
                stream.cancel()  # type: ignore[attr-defined]


def test_an_idle_upload_is_refused_naming_the_setting_and_stores_nothing(
    channel: grpc.Channel, session_id: str, limited_grid: SecureGrid
) -> None:
    """An upload holds a temporary file or one of S3's few upload threads
    for as long as its client keeps it open."""
    result = ArmoniKResults(channel).create_results_metadata(["r"], session_id)["r"]
    release = threading.Event()

    def stalled() -> Iterator[results_common_pb2.UploadResultDataRequest]:
        identifier = results_common_pb2.UploadResultDataRequest.ResultIdentifier
        yield results_common_pb2.UploadResultDataRequest(
            id=identifier(session_id=session_id, result_id=result.result_id)
        )
        yield results_common_pb2.UploadResultDataRequest(data_chunk=b"x" * 10)
        release.wait(30)  # then nothing: a client gone silent

    try:
        code, message = refusal(lambda: ResultsStub(channel).UploadResultData(stalled(), timeout=30))
    finally:
        release.set()

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-upload-idle-seconds" in message
    assert ArmoniKResults(channel).get_result(result.result_id).status == ResultStatus.CREATED
    assert not [path for path in (limited_grid.options.data_dir / "objects").rglob(f"{result.result_id}*")]


def test_task_options_above_the_size_limit_are_refused_naming_the_setting(
    channel: grpc.Channel, session_id: str
) -> None:
    """Option values were capped by the message size alone, and a session's
    defaults are copied into each of its tasks."""
    big = {"options": {"k": "v" * OPTIONS}}
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    payload = results.create_results({"p": b"p"}, session_id)["p"].result_id
    output = results.create_results_metadata(["o"], session_id)["o"].result_id
    task = TaskDefinition(payload_id=payload, expected_output_ids=[output], options=default_options(**big))

    code, message = refusal(lambda: ArmoniKSessions(channel).create_session(default_options(**big), ["default"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "--max-task-options-size" in message

    code, message = refusal(lambda: tasks.submit_tasks(session_id, [task]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "--max-task-options-size" in message
    assert tasks.list_tasks(Task.session_id == session_id)[0] == 0

    small = default_options(options={"k": "v"})
    small_task = TaskDefinition(payload_id=payload, expected_output_ids=[output], options=small)
    assert len(tasks.submit_tasks(session_id, [small_task])) == 1


@pytest.mark.parametrize("where", ["result name", "payload id", "partition id"])
def test_an_id_or_name_above_the_length_limit_is_refused(channel: grpc.Channel, session_id: str, where: str) -> None:
    long = "n" * 65
    calls: dict[str, Callable[[], object]] = {
        "result name": lambda: ArmoniKResults(channel).create_results_metadata([long], session_id),
        "payload id": lambda: ArmoniKTasks(channel).submit_tasks(
            session_id, [TaskDefinition(payload_id=long, expected_output_ids=["out"])]
        ),
        "partition id": lambda: ArmoniKSessions(channel).create_session(default_options(), partition_ids=[long]),
    }

    code, message = refusal(calls[where])

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "65 characters" in message and "--max-id-length" in message


def test_the_chunk_size_must_fit_the_message_size(tmp_path: pathlib.Path, pki: Pki) -> None:
    with pytest.raises(ValueError, match="--data-chunk-max-size"):
        start(tmp_path, pki, max_message_size=MESSAGE, data_chunk_max_size=MESSAGE)
