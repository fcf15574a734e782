"""The ``Worker`` adapter for ArmoniK's official protocol: a worker process
(written with the ``armonik.worker`` SDK or any other) reached over gRPC.

It owns both gRPC sides of that protocol: the client of the worker's Worker
service, and the Agent service the worker calls back during Process, which
sees the task only while this adapter's Process call runs. Every protobuf
and status-code conversion of the protocol happens here, so the pollster
deals in ``TaskContext`` and ``WorkerReply`` only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from armonik.protogen.common import objects_pb2, worker_common_pb2

from pyarmonik.agent import agent_servicer, deadline
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker import WorkerReply
from pyarmonik.agent.worker_client import WorkerClient
from pyarmonik.lifecycle.outcomes import Outcome
from pyarmonik.metrics import Metrics
from pyarmonik.protocol.options import task_options_to_pb

log = logging.getLogger(__name__)


class GrpcWorker:
    def __init__(
        self,
        *,
        agent_address: str,
        worker_address: str,
        restart: Callable[[], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Addresses as gRPC takes them (``unix:///path`` or ``host:port``).
        ``restart`` kills the worker process so that its supervisor starts a
        fresh one: the official SDK serves one call at a time, so a worker
        still busy with an abandoned call would refuse the next task.
        ``metrics`` times the Agent service's calls."""
        self.agent_address = agent_address
        self._metrics = metrics
        self.servicer = agent_servicer.AgentServicer()
        self.client = WorkerClient(worker_address)
        self._restart = restart
        self._ready = False
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        """Serves the Agent service (before the worker needs it)."""
        self._server = await agent_servicer.serve(self.servicer, self.agent_address, metrics=self._metrics)

    async def wait_ready(self, stop: asyncio.Event) -> bool:
        if not self._ready:
            self._ready = await self.client.wait_healthy(stop)
        return self._ready

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        request = process_request(ctx)
        with self.servicer.serving(ctx):
            try:
                reply = await self.client.process(request, timeout=deadline.deadline_seconds(timeout))
            except grpc.aio.AioRpcError as exc:
                return failed_call(exc, timeout=timeout)
        return worker_reply(reply)

    async def recover(self) -> None:
        self._ready = False  # health is checked again before the next task
        if self._restart is not None:
            await self._restart()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1)
            self._server = None
        await self.client.close()


def process_request(ctx: TaskContext) -> worker_common_pb2.ProcessRequest:
    task = ctx.task
    return worker_common_pb2.ProcessRequest(
        communication_token=ctx.token,
        session_id=task.session_id,
        task_id=task.task_id,
        task_options=task_options_to_pb(task.options),
        expected_output_keys=task.expected_output_ids,
        payload_id=task.payload_id,
        data_dependencies=task.data_dependencies,
        data_folder=str(ctx.data_folder),
        configuration=objects_pb2.Configuration(data_chunk_max_size=ctx.grid.data_chunk_max_size),
    )


def worker_reply(reply: worker_common_pb2.ProcessReply) -> WorkerReply:
    if not reply.HasField("output"):
        return WorkerReply(Outcome.CRASH, "worker returned no output")
    if reply.output.WhichOneof("type") == "error":
        return WorkerReply(Outcome.ERROR, reply.output.error.details or "the worker returned an error")
    return WorkerReply(Outcome.OK)


def failed_call(exc: grpc.aio.AioRpcError, *, timeout: float | None) -> WorkerReply:
    """The deadline is the task's ``max_duration``: exceeding it is TIMEOUT;
    any other failure of the call (worker died, refused, crashed) is CRASH."""
    if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
        return WorkerReply(Outcome.TIMEOUT, f"task exceeded its max_duration of {timeout} s")
    return WorkerReply(Outcome.CRASH, f"worker call failed: {exc.code().name}: {exc.details()}")
