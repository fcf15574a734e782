"""The Agent service a worker calls back, and every error status it answers.

A real grpc.aio server on a unix socket, called through the official stub;
the running task is set up through the lifecycle on embedded storage.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from armonik.protogen.common import agent_common_pb2 as pb
from armonik.protogen.common import objects_pb2
from armonik.protogen.worker.agent_service_pb2_grpc import AgentStub

from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import ResultStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import StorageSettings


@pytest.fixture
async def grid(tmp_path: pathlib.Path) -> AsyncIterator[Grid]:
    async with open_grid(StorageSettings(data_dir=tmp_path)) as grid:
        await grid.state.put_partitions([Partition("default")])
        yield grid


@pytest.fixture
async def agent(grid: Grid, tmp_path: pathlib.Path) -> AsyncIterator[tuple[AgentRuntime, AgentStub]]:
    sockets = pathlib.Path(tempfile.mkdtemp(prefix="pyak-"))
    address = grpc_address(str(sockets / "agent.sock"))
    runtime = AgentRuntime(
        grid,
        AgentConfig(partition_id="default", data_root=tmp_path / "data"),
        agent_address=address,
        worker_address=grpc_address(str(sockets / "worker.sock")),
    )
    await runtime.start()
    async with grpc.aio.insecure_channel(address) as channel:
        yield runtime, AgentStub(channel)
    await runtime.close()


async def _running_task(grid: Grid, runtime: AgentRuntime, tmp_path: pathlib.Path) -> TaskContext:
    session = await sessions.create(
        grid,
        options=TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=1, priority=1),
        partition_ids=[],
    )
    [payload, done] = await results.create(
        grid, session.session_id, [results.NewResult("payload", data=b"p"), results.NewResult("done", data=b"42")]
    )
    [output, unfinished] = await results.create(
        grid, session.session_id, [results.NewResult("output"), results.NewResult("unfinished")]
    )
    [task] = await tasks.submit(
        grid, session.session_id, [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[output.result_id])]
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    context = TaskContext(grid, task, folder)
    context.known = {"done": done.result_id, "unfinished": unfinished.result_id, "output": output.result_id}  # type: ignore[attr-defined]
    runtime.servicer.current = context
    return context


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    raise AssertionError("the call succeeded; an error status was expected")


async def test_every_agent_call_without_a_running_task_is_unavailable(agent) -> None:  # type: ignore[no-untyped-def]
    _, stub = agent
    token = "some-token"
    calls = [
        stub.CreateResultsMetaData(pb.CreateResultsMetaDataRequest(communication_token=token)),
        stub.CreateResults(pb.CreateResultsRequest(communication_token=token)),
        stub.NotifyResultData(pb.NotifyResultDataRequest(communication_token=token)),
        stub.SubmitTasks(pb.SubmitTasksRequest(communication_token=token)),
        stub.GetResourceData(pb.DataRequest(communication_token=token, result_id="x")),
        stub.CreateTask(iter([pb.CreateTaskRequest(communication_token=token)])),
    ]
    for call in calls:
        assert await _code(call) is grpc.StatusCode.UNAVAILABLE


async def test_missing_or_wrong_token_is_invalid_argument(agent, grid: Grid, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    await _running_task(grid, runtime, tmp_path)
    for token in ("", "not-the-token"):
        assert await _code(stub.CreateResultsMetaData(pb.CreateResultsMetaDataRequest(communication_token=token))) is (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        assert await _code(stub.GetResourceData(pb.DataRequest(communication_token=token, result_id="x"))) is (
            grpc.StatusCode.INVALID_ARGUMENT
        )


async def test_common_and_direct_data_are_unimplemented(agent, grid: Grid, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    request = pb.DataRequest(communication_token=ctx.token, result_id="x")
    assert await _code(stub.GetCommonData(request)) is grpc.StatusCode.UNIMPLEMENTED
    assert await _code(stub.GetDirectData(request)) is grpc.StatusCode.UNIMPLEMENTED


async def test_get_resource_data_writes_the_result_into_the_data_folder(
    agent, grid: Grid, tmp_path: pathlib.Path
) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    done = ctx.known["done"]  # type: ignore[attr-defined]
    reply = await stub.GetResourceData(pb.DataRequest(communication_token=ctx.token, result_id=done))
    assert reply.result_id == done
    assert (ctx.data_folder / done).read_bytes() == b"42"


async def test_get_resource_data_of_unknown_or_unfinished_result_fails_precisely(
    agent, grid: Grid, tmp_path: pathlib.Path
) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    unknown = pb.DataRequest(communication_token=ctx.token, result_id="no-such-result")
    assert await _code(stub.GetResourceData(unknown)) is grpc.StatusCode.NOT_FOUND
    unfinished = pb.DataRequest(communication_token=ctx.token, result_id=ctx.known["unfinished"])  # type: ignore[attr-defined]
    assert await _code(stub.GetResourceData(unfinished)) is grpc.StatusCode.FAILED_PRECONDITION


async def test_notify_of_a_result_without_its_file_is_not_found(agent, grid: Grid, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    output = ctx.known["output"]  # type: ignore[attr-defined]
    request = pb.NotifyResultDataRequest(
        communication_token=ctx.token,
        ids=[pb.NotifyResultDataRequest.ResultIdentifier(session_id=ctx.session_id, result_id=output)],
    )
    assert await _code(stub.NotifyResultData(request)) is grpc.StatusCode.NOT_FOUND
    assert ctx.files == {}


async def test_calls_naming_another_session_are_invalid_argument(agent, grid: Grid, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    request = pb.CreateResultsMetaDataRequest(
        communication_token=ctx.token,
        session_id="another-session",
        results=[pb.CreateResultsMetaDataRequest.ResultCreate(name="r")],
    )
    assert await _code(stub.CreateResultsMetaData(request)) is grpc.StatusCode.INVALID_ARGUMENT


async def test_submit_tasks_with_unknown_dependency_is_not_found_and_buffers_nothing(
    agent, grid: Grid, tmp_path: pathlib.Path
) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    request = pb.SubmitTasksRequest(
        communication_token=ctx.token,
        session_id=ctx.session_id,
        task_creations=[
            pb.SubmitTasksRequest.TaskCreation(payload_id=ctx.known["done"], data_dependencies=["missing"])
        ],  # type: ignore[attr-defined]
    )
    assert await _code(stub.SubmitTasks(request)) is grpc.StatusCode.NOT_FOUND
    assert ctx.children == []


async def test_agent_calls_are_buffered_until_the_task_commits(agent, grid: Grid, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    created = await stub.CreateResults(
        pb.CreateResultsRequest(
            communication_token=ctx.token,
            session_id=ctx.session_id,
            results=[pb.CreateResultsRequest.ResultCreate(name="r", data=b"d")],
        )
    )
    [result] = created.results
    assert result.status == int(ResultStatus.COMPLETED)
    page = await grid.state.session_results(ctx.session_id)
    assert result.result_id not in {r.result_id for r in page}


async def test_legacy_create_task_stream_submits_children_with_inline_payloads(
    agent, grid: Grid, tmp_path: pathlib.Path
) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    output = ctx.known["output"]  # type: ignore[attr-defined]
    token = ctx.token
    messages = [
        pb.CreateTaskRequest(communication_token=token, init_request=pb.CreateTaskRequest.InitRequest()),
        pb.CreateTaskRequest(
            communication_token=token,
            init_task=objects_pb2.InitTaskRequest(header=objects_pb2.TaskRequestHeader(expected_output_keys=[output])),
        ),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data=b"part1-")),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data=b"part2")),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data_complete=True)),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(last_task=True)),
    ]
    reply = await stub.CreateTask(iter(messages))
    [status] = reply.creation_status_list.creation_statuses
    assert list(status.task_info.expected_output_keys) == [output]
    [child] = ctx.children
    assert child.expected_output_ids == [output] and child.parent_task_ids == [ctx.task.task_id]
    assert (ctx.data_folder / child.payload_id).read_bytes() == b"part1-part2"


async def test_legacy_create_task_with_chunk_before_header_is_invalid_argument(
    agent, grid: Grid, tmp_path: pathlib.Path
) -> None:  # type: ignore[no-untyped-def]
    runtime, stub = agent
    ctx = await _running_task(grid, runtime, tmp_path)
    messages = [pb.CreateTaskRequest(communication_token=ctx.token, task_payload=objects_pb2.DataChunk(data=b"x"))]
    assert await _code(stub.CreateTask(iter(messages))) is grpc.StatusCode.INVALID_ARGUMENT
