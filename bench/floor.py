"""The floor: the official ``armonik.worker`` SDK worker (``bench/worker.py``)
driven by an agent that does nothing else, the best any ArmoniK grid driving
that worker could do on this machine.

One asyncio loop serves, per worker process, the one Agent RPC the worker
calls (``NotifyResultData``) and calls the worker's ``Process`` back to back
with data folders prepared before the clock starts. Submission is queueing
the tasks, processing the ``Process`` calls, retrieval reading the
result files the worker wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from armonik.protogen.common import agent_common_pb2, objects_pb2, worker_common_pb2
from armonik.protogen.worker import agent_service_pb2_grpc, worker_service_pb2_grpc

from bench import servers, targets
from bench.workload import Advance, BenchError, Run, Tracker, Workload


class NotifyOnly(agent_service_pb2_grpc.AgentServicer):
    """The worker's one call back: the result is already in the folder."""

    async def NotifyResultData(
        self, request: agent_common_pb2.NotifyResultDataRequest, context: grpc.aio.ServicerContext
    ) -> agent_common_pb2.NotifyResultDataResponse:
        return agent_common_pb2.NotifyResultDataResponse(result_ids=[i.result_id for i in request.ids])


def run(workload: Workload, progress: Tracker) -> Run:
    return asyncio.run(_run(workload, progress))


async def _run(workload: Workload, progress: Tracker) -> Run:
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as root:
        async with _workers(Path(root), workload) as stubs:
            # Data folders are ready before the clock starts (an agent writes
            # them while the previous task runs): submission is queueing.
            folders = _prepare(Path(root) / "tasks", workload)
            measured = Run("floor", workload.tasks)
            advance = progress("submission", workload.tasks)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for index in range(workload.tasks):
                measured.submitted.append(time.perf_counter())
                queue.put_nowait(index)
            measured.submission_end = time.perf_counter()
            advance(workload.tasks)
            measured.available = [0.0] * workload.tasks
            advance = progress("processing", workload.tasks)
            await asyncio.gather(*(_drive(stub, queue, folders, measured, advance) for stub in stubs))
            measured.processing_end = max(measured.available)
            advance = progress("retrieval", workload.tasks)
            for folder in folders:
                if len((folder / "out").read_bytes()) != workload.result_bytes:
                    raise BenchError(f"floor: the worker's result in {folder} has the wrong size")
                advance(1)
            measured.retrieval_end = time.perf_counter()
            return measured


def _prepare(root: Path, workload: Workload) -> list[Path]:
    folders = []
    for index in range(workload.tasks):
        folder = root / str(index)
        folder.mkdir(parents=True)
        (folder / "payload").write_bytes(workload.payload)
        folders.append(folder)
    return folders


async def _drive(
    stub: worker_service_pb2_grpc.WorkerStub,
    queue: asyncio.Queue[int],
    folders: list[Path],
    measured: Run,
    advance: Advance,
) -> None:
    while not queue.empty():
        index = queue.get_nowait()
        request = worker_common_pb2.ProcessRequest(
            communication_token=f"t{index}",
            session_id="floor",
            task_id=str(index),
            payload_id="payload",
            expected_output_keys=["out"],
            data_folder=str(folders[index]),
            configuration=objects_pb2.Configuration(data_chunk_max_size=2 * 1024 * 1024),
        )
        reply = await stub.Process(request, timeout=60)
        if reply.output.WhichOneof("type") != "ok":
            raise BenchError(f"floor: task {index} failed in the worker: {reply.output.error.details}")
        measured.available[index] = time.perf_counter()
        advance(1)


@contextlib.asynccontextmanager
async def _workers(root: Path, workload: Workload) -> AsyncIterator[list[worker_service_pb2_grpc.WorkerStub]]:
    """``workers`` worker processes, each with its own Agent server; yields
    their Worker stubs once every one answers its health check."""
    async with contextlib.AsyncExitStack() as stack:
        stubs = []
        for index in range(workload.workers):
            sockets = root / f"w{index}"
            sockets.mkdir()
            server = grpc.aio.server()
            agent_service_pb2_grpc.add_AgentServicer_to_server(NotifyOnly(), server)
            server.add_insecure_port(f"unix://{sockets / 'agent.sock'}")
            await server.start()
            stack.push_async_callback(server.stop, None)
            env = targets.environment() | {
                "ComputePlane__AgentChannel__Address": str(sockets / "agent.sock"),
                "ComputePlane__WorkerChannel__Address": str(sockets / "worker.sock"),
            }
            process = servers.spawn(targets.worker_command(workload), root / f"worker-{index}.log", env)
            stack.callback(servers.stop, process)
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"unix://{sockets / 'worker.sock'}"))
            stubs.append(worker_service_pb2_grpc.WorkerStub(channel))
        for index, stub in enumerate(stubs):
            await _healthy(stub, index, root)
        yield stubs


async def _healthy(stub: worker_service_pb2_grpc.WorkerStub, index: int, root: Path) -> None:
    deadline = time.monotonic() + servers.START_TIMEOUT
    while True:
        with contextlib.suppress(grpc.aio.AioRpcError):
            await stub.HealthCheck(objects_pb2.Empty(), timeout=1)
            return
        if time.monotonic() > deadline:
            raise BenchError(f"floor: worker {index} never answered (log: {root / f'worker-{index}.log'})")
        await asyncio.sleep(0.1)
