"""The Agent service a worker calls back, and every error status it answers.

A real grpc.aio server on a unix socket (the gRPC worker adapter's), called
through the official stub; the running task is set up through the
lifecycle on Redis and made visible the way the adapter's
Process call makes it visible (``AgentServicer.serving``).
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.protogen.common import agent_common_pb2 as pb
from armonik.protogen.common import objects_pb2
from armonik.protogen.worker.agent_service_pb2_grpc import AgentStub

from pyarmonik.agent import legacy_create_task, task_context
from pyarmonik.agent.grpc_worker import GrpcWorker
from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import ResultStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import StorageSettings


@dataclass
class Agent:
    runtime: AgentRuntime
    worker: GrpcWorker
    stub: AgentStub


@dataclass
class Running:
    """The task the agent runs, and the ids of the results set up around it."""

    ctx: task_context.TaskContext
    known: dict[str, str]


@pytest.fixture
async def grid(tmp_path: pathlib.Path, redis_url: str) -> AsyncIterator[Grid]:
    async with open_grid(StorageSettings(data_dir=tmp_path, redis_url=redis_url)) as grid:
        await grid.state.put_partitions([Partition("default")])
        yield grid


@pytest.fixture
async def agent(grid: Grid, tmp_path: pathlib.Path) -> AsyncIterator[Agent]:
    sockets = pathlib.Path(tempfile.mkdtemp(prefix="pyak-"))
    address = grpc_address(str(sockets / "agent.sock"))
    worker = GrpcWorker(agent_address=address, worker_address=grpc_address(str(sockets / "worker.sock")))
    runtime = AgentRuntime(
        grid,
        AgentConfig(partition_id="default", data_root=tmp_path / "data"),
        agent_address=address,
        worker_address=worker.client.address,
        worker=worker,
    )
    await runtime.start()
    async with grpc.aio.insecure_channel(address) as channel:
        yield Agent(runtime, worker, AgentStub(channel))
    await runtime.close()


@pytest.fixture
async def running(agent: Agent, grid: Grid, tmp_path: pathlib.Path) -> AsyncIterator[Running]:
    """A PROCESSING-ready task whose context the Agent service serves, as
    during the adapter's Process call."""
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
    known = {"done": done.result_id, "unfinished": unfinished.result_id, "output": output.result_id}
    with (
        task_context.attempt(grid, task, folders=task_context.DataFolders(tmp_path / "data")) as ctx,
        agent.worker.servicer.serving(ctx),
    ):
        yield Running(ctx, known)


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    raise AssertionError("the call succeeded; an error status was expected")


async def test_every_agent_call_without_a_running_task_is_unavailable(agent: Agent) -> None:
    stub = agent.stub
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


async def test_a_call_with_the_token_of_a_task_that_ended_is_unavailable(agent: Agent, running: Running) -> None:
    ended = running.ctx
    with task_context.attempt(ended.grid, ended.task, folders=task_context.DataFolders(ended.data_root)) as later:
        assert later.token != ended.token and later.data_folder == ended.data_root / later.token
    request = pb.CreateResultsMetaDataRequest(communication_token=later.token)
    assert await _code(agent.stub.CreateResultsMetaData(request)) is grpc.StatusCode.INVALID_ARGUMENT
    with agent.worker.servicer.serving(later):
        pass
    assert await _code(agent.stub.CreateResultsMetaData(request)) is grpc.StatusCode.UNAVAILABLE


async def test_missing_or_wrong_token_is_invalid_argument(agent: Agent, running: Running) -> None:
    stub = agent.stub
    for token in ("", "not-the-token"):
        assert await _code(stub.CreateResultsMetaData(pb.CreateResultsMetaDataRequest(communication_token=token))) is (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        assert await _code(stub.GetResourceData(pb.DataRequest(communication_token=token, result_id="x"))) is (
            grpc.StatusCode.INVALID_ARGUMENT
        )


async def test_common_and_direct_data_are_unimplemented(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    request = pb.DataRequest(communication_token=ctx.token, result_id="x")
    assert await _code(stub.GetCommonData(request)) is grpc.StatusCode.UNIMPLEMENTED
    assert await _code(stub.GetDirectData(request)) is grpc.StatusCode.UNIMPLEMENTED


async def test_get_resource_data_writes_the_result_into_the_data_folder(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    done = running.known["done"]
    reply = await stub.GetResourceData(pb.DataRequest(communication_token=ctx.token, result_id=done))
    assert reply.result_id == done
    assert (ctx.data_folder / done).read_bytes() == b"42"


async def test_get_resource_data_of_unknown_or_unfinished_result_fails_precisely(
    agent: Agent, running: Running
) -> None:
    stub, ctx = agent.stub, running.ctx
    unknown = pb.DataRequest(communication_token=ctx.token, result_id="no-such-result")
    assert await _code(stub.GetResourceData(unknown)) is grpc.StatusCode.NOT_FOUND
    unfinished = pb.DataRequest(communication_token=ctx.token, result_id=running.known["unfinished"])
    assert await _code(stub.GetResourceData(unfinished)) is grpc.StatusCode.FAILED_PRECONDITION


async def test_notify_of_a_result_without_its_file_is_not_found(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    output = running.known["output"]
    request = pb.NotifyResultDataRequest(
        communication_token=ctx.token,
        ids=[pb.NotifyResultDataRequest.ResultIdentifier(session_id=ctx.session_id, result_id=output)],
    )
    assert await _code(stub.NotifyResultData(request)) is grpc.StatusCode.NOT_FOUND
    assert ctx.files == {}


async def test_calls_naming_another_session_are_invalid_argument(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    request = pb.CreateResultsMetaDataRequest(
        communication_token=ctx.token,
        session_id="another-session",
        results=[pb.CreateResultsMetaDataRequest.ResultCreate(name="r")],
    )
    assert await _code(stub.CreateResultsMetaData(request)) is grpc.StatusCode.INVALID_ARGUMENT


async def test_submit_tasks_with_unknown_dependency_is_not_found_and_buffers_nothing(
    agent: Agent, running: Running
) -> None:
    stub, ctx = agent.stub, running.ctx
    request = pb.SubmitTasksRequest(
        communication_token=ctx.token,
        session_id=ctx.session_id,
        task_creations=[
            pb.SubmitTasksRequest.TaskCreation(payload_id=running.known["done"], data_dependencies=["missing"])
        ],
    )
    assert await _code(stub.SubmitTasks(request)) is grpc.StatusCode.NOT_FOUND
    assert ctx.children == []


async def test_agent_calls_are_buffered_until_the_task_commits(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    created = await stub.CreateResults(
        pb.CreateResultsRequest(
            communication_token=ctx.token,
            session_id=ctx.session_id,
            results=[pb.CreateResultsRequest.ResultCreate(name="r", data=b"d")],
        )
    )
    [result] = created.results
    assert result.status == int(ResultStatus.COMPLETED)
    page = await ctx.grid.state.session_results(ctx.session_id)
    assert result.result_id not in {r.result_id for r in page}


async def test_legacy_create_task_stream_submits_children_with_inline_payloads(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    output = running.known["output"]
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
    assert child.expected_output_ids == [output]
    assert child.parent_task_ids == [*ctx.task.parent_task_ids, ctx.task.task_id]
    assert (ctx.data_folder / child.payload_id).read_bytes() == b"part1-part2"


async def test_legacy_create_task_with_chunk_before_header_is_invalid_argument(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    messages = [pb.CreateTaskRequest(communication_token=ctx.token, task_payload=objects_pb2.DataChunk(data=b"x"))]
    assert await _code(stub.CreateTask(iter(messages))) is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_legacy_create_task_stream_cut_before_its_end_submits_nothing(
    agent: Agent, running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cut stream ends the server's request iterator like a complete one
    (found by tests/fuzz): a task whose payload was complete when the
    worker's call was cancelled must not be submitted."""
    stub, ctx, token = agent.stub, running.ctx, running.ctx.token
    header = objects_pb2.TaskRequestHeader(expected_output_keys=[running.known["output"]])
    messages = [
        pb.CreateTaskRequest(communication_token=token, init_request=pb.CreateTaskRequest.InitRequest()),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(header=header)),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data=b"payload")),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data_complete=True)),
    ]
    read, handled, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    handle = legacy_create_task.handle

    async def counting(requests: AsyncIterator[pb.CreateTaskRequest]) -> AsyncIterator[pb.CreateTaskRequest]:
        count = 0
        async for message in requests:
            yield message
            count += 1
            if count == len(messages):
                read.set()

    async def observed(context_for: Any, requests: AsyncIterator[pb.CreateTaskRequest]) -> pb.CreateTaskReply:
        try:
            return await handle(context_for, counting(requests))
        finally:
            handled.set()

    monkeypatch.setattr(legacy_create_task, "handle", observed)

    async def cut_stream() -> AsyncIterator[pb.CreateTaskRequest]:
        for message in messages:
            yield message
        await release.wait()  # no last_task, no end: the worker's call is cancelled instead

    call = stub.CreateTask(cut_stream())
    await asyncio.wait_for(read.wait(), 10)
    call.cancel()
    await asyncio.wait_for(handled.wait(), 10)
    release.set()

    assert ctx.children == [] and ctx.new_results == {}


async def test_a_legacy_create_task_refused_at_submission_buffers_no_payload(agent: Agent, running: Running) -> None:
    """The payloads were buffered before the batch was checked: a refused
    batch (here a partition " ", found by tests/fuzz) left them behind, to be
    committed with the task."""
    stub, ctx, token = agent.stub, running.ctx, running.ctx.token
    header = objects_pb2.TaskRequestHeader(expected_output_keys=[running.known["output"]])
    bad_options = objects_pb2.TaskOptions(partition_id=" ")
    messages = [
        pb.CreateTaskRequest(
            communication_token=token, init_request=pb.CreateTaskRequest.InitRequest(task_options=bad_options)
        ),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(header=header)),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data=b"payload")),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data_complete=True)),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(last_task=True)),
    ]

    assert await _code(stub.CreateTask(iter(messages))) is grpc.StatusCode.INVALID_ARGUMENT
    assert ctx.new_results == {} and ctx.files == {} and ctx.children == []
    assert list(ctx.data_folder.iterdir()) == []


async def test_notify_naming_one_result_without_its_file_notifies_none(agent: Agent, running: Running) -> None:
    stub, ctx = agent.stub, running.ctx
    written = running.known["output"]
    (ctx.data_folder / written).write_bytes(b"written by the worker")
    request = pb.NotifyResultDataRequest(
        communication_token=ctx.token,
        ids=[
            pb.NotifyResultDataRequest.ResultIdentifier(session_id=ctx.session_id, result_id=written),
            pb.NotifyResultDataRequest.ResultIdentifier(
                session_id=ctx.session_id, result_id=running.known["unfinished"]
            ),
        ],
    )

    assert await _code(stub.NotifyResultData(request)) is grpc.StatusCode.NOT_FOUND
    assert ctx.files == {}


async def test_submit_tasks_with_a_priority_out_of_range_is_invalid_argument_and_buffers_nothing(
    agent: Agent, running: Running
) -> None:
    """The queue orders priorities in -4095..4095 only (core/ranges.py):
    a child out of it would be committed and never queued."""
    stub, ctx = agent.stub, running.ctx
    request = pb.SubmitTasksRequest(
        communication_token=ctx.token,
        session_id=ctx.session_id,
        task_creations=[
            pb.SubmitTasksRequest.TaskCreation(
                payload_id=running.known["done"],
                expected_output_keys=[running.known["output"]],
                task_options=objects_pb2.TaskOptions(priority=4096),
            )
        ],
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.SubmitTasks(request)

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "task_creations[0].task_options.priority is 4096" in str(refused.value.details())
    assert ctx.children == []


async def test_a_legacy_create_task_with_negative_retries_is_invalid_argument_and_buffers_nothing(
    agent: Agent, running: Running
) -> None:
    stub, ctx, token = agent.stub, running.ctx, running.ctx.token
    header = objects_pb2.TaskRequestHeader(expected_output_keys=[running.known["output"]])
    init = pb.CreateTaskRequest.InitRequest(task_options=objects_pb2.TaskOptions(max_retries=-3))
    messages = [
        pb.CreateTaskRequest(communication_token=token, init_request=init),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(header=header)),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data_complete=True)),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(last_task=True)),
    ]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateTask(iter(messages))

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "task_options.max_retries is -3" in str(refused.value.details())
    assert ctx.new_results == {} and ctx.files == {} and ctx.children == []
