"""An Agent service serving a task "running" on the fuzzed grid, and a valid
request for each Agent RPC built from that task.

The gRPC worker adapter's Agent server runs on the grid's loop; the task
is made visible the way the adapter's Process call makes it visible
(``AgentServicer.serving``), so calls reach the real TaskContext. ``idle()``
leaves it for a while: calls then hit an agent with no running task.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from armonik.protogen.common import agent_common_pb2 as pb
from armonik.protogen.common import objects_pb2
from google.protobuf.message import Message

from pyarmonik.agent import task_context
from pyarmonik.agent.grpc_worker import GrpcWorker
from pyarmonik.agent.runtime import grpc_address
from tests.fuzz.world import World, pb_options
from tests.grid_thread import GridThread


@dataclass
class RunningTask:
    grid: GridThread
    worker: GrpcWorker
    ctx: task_context.TaskContext
    ended_token: str
    created: str
    completed: str
    world: World
    _serving: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def serve(self) -> None:
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(self.worker.servicer.serving(self.ctx))

    def stop_serving(self) -> None:
        self._serving.close()

    @property
    def token(self) -> str:
        return self.ctx.token

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    def buffers(self) -> tuple[int, int, tuple[str, ...]]:
        """What the task's calls buffered: a failed call must add nothing."""
        return len(self.ctx.new_results), len(self.ctx.children), tuple(sorted(self.ctx.files))

    def ids(self) -> list[str]:
        return [self.token, self.ended_token, self.created, self.completed, *self.world.ids()]

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """No task runs on the agent inside the block."""
        self.stop_serving()
        try:
            yield
        finally:
            self.serve()


async def _started_worker(sockets: pathlib.Path) -> GrpcWorker:
    """Made on the grid's loop: grpc.aio channels belong to the loop they are made on."""
    worker = GrpcWorker(
        agent_address=grpc_address(str(sockets / "agent.sock")),
        worker_address=grpc_address(str(sockets / "worker.sock")),
    )
    await worker.start()
    return worker


@contextlib.contextmanager
def running_task(grid: GridThread, world: World) -> Iterator[RunningTask]:
    sockets = pathlib.Path(tempfile.mkdtemp(prefix="pyak-"))
    worker = grid.run(_started_worker(sockets))
    session = world.new_session()
    task_id, _ = world.new_task(session)
    [task] = grid.run(grid.grid.state.get_tasks([task_id]))
    folders = task_context.DataFolders(sockets / "data")
    try:
        with task_context.attempt(grid.grid, task, folders=folders) as ended:
            ended_token = ended.token
        with task_context.attempt(grid.grid, task, folders=folders) as ctx:
            running = RunningTask(
                grid, worker, ctx, ended_token, world.new_result(session), world.new_result(session, b"42"), world
            )
            running.serve()
            try:
                yield running
            finally:
                running.stop_serving()
    finally:
        grid.run(worker.close())
        shutil.rmtree(sockets, ignore_errors=True)


def _with_file(running: RunningTask) -> str:
    """A CREATED result of the task's session whose data the worker wrote."""
    result_id = running.world.new_result(running.session_id)
    (running.ctx.data_folder / result_id).write_bytes(b"written by the worker")
    return result_id


def _legacy_stream(running: RunningTask) -> list[pb.CreateTaskRequest]:
    token = running.token
    header = objects_pb2.TaskRequestHeader(
        expected_output_keys=[running.world.new_result(running.session_id)], data_dependencies=[running.completed]
    )
    return [
        pb.CreateTaskRequest(
            communication_token=token, init_request=pb.CreateTaskRequest.InitRequest(task_options=pb_options())
        ),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(header=header)),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data=b"part1-")),
        pb.CreateTaskRequest(communication_token=token, task_payload=objects_pb2.DataChunk(data_complete=True)),
        pb.CreateTaskRequest(communication_token=token, init_task=objects_pb2.InitTaskRequest(last_task=True)),
    ]


def _submit(running: RunningTask) -> list[pb.SubmitTasksRequest]:
    creation = pb.SubmitTasksRequest.TaskCreation(
        payload_id=running.completed,
        expected_output_keys=[running.world.new_result(running.session_id)],
        data_dependencies=[running.completed],
        task_options=pb_options(),
    )
    return [
        pb.SubmitTasksRequest(
            communication_token=running.token,
            session_id=running.session_id,
            task_creations=[creation],
            task_options=pb_options(),
        )
    ]


_Id = pb.NotifyResultDataRequest.ResultIdentifier

#: Agent RPC name -> valid request(s) for the running task.
VALID: dict[str, Callable[[RunningTask], list[Message]]] = {
    "Agent.CreateTask": _legacy_stream,
    "Agent.CreateResultsMetaData": lambda r: [
        pb.CreateResultsMetaDataRequest(
            communication_token=r.token,
            session_id=r.session_id,
            results=[pb.CreateResultsMetaDataRequest.ResultCreate(name="a")],
        )
    ],
    "Agent.CreateResults": lambda r: [
        pb.CreateResultsRequest(
            communication_token=r.token,
            session_id=r.session_id,
            results=[pb.CreateResultsRequest.ResultCreate(name="a", data=b"d")],
        )
    ],
    "Agent.NotifyResultData": lambda r: [
        pb.NotifyResultDataRequest(
            communication_token=r.token, ids=[_Id(session_id=r.session_id, result_id=_with_file(r))]
        )
    ],
    "Agent.SubmitTasks": _submit,
    "Agent.GetResourceData": lambda r: [pb.DataRequest(communication_token=r.token, result_id=r.completed)],
    "Agent.GetCommonData": lambda r: [pb.DataRequest(communication_token=r.token, result_id=r.completed)],
    "Agent.GetDirectData": lambda r: [pb.DataRequest(communication_token=r.token, result_id=r.completed)],
}
