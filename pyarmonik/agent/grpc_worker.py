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
from pathlib import Path

import grpc
from armonik.protogen.common import objects_pb2, worker_common_pb2

from pyarmonik.agent import agent_servicer, deadline, worker_log
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
        restart: Callable[[str], Awaitable[object]] | None = None,
        metrics: Metrics | None = None,
        worker_command: str | None = None,
        worker_log: Path | None = None,
    ) -> None:
        """Addresses as gRPC takes them (``unix:///path`` or ``host:port``).
        ``restart(reason)`` asks the worker's supervisor for a fresh worker
        process (``worker_restart``): the official SDK serves one call at a
        time, so a worker still busy with an abandoned call would refuse the
        next task; without it, such a worker is waited for. ``metrics`` times
        the Agent service's calls. The worker's command and log, when known
        (``pyarmonik local`` tells them), are named in what is reported of it."""
        self.agent_address = agent_address
        self._metrics = metrics
        self.servicer = agent_servicer.AgentServicer()
        self.client = WorkerClient(worker_address, command=worker_command, log_file=worker_log)
        self._restart = restart
        self._log = worker_log
        self._abandoned: str | None = None  # why the last call may still run in the worker
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
        logged = worker_log.size_of(self._log)  # this call's lines of the worker's log start here
        with self.servicer.serving(ctx):
            try:
                reply = await self.client.process(request, timeout=deadline.deadline_seconds(timeout))
            except grpc.aio.AioRpcError as exc:
                failed = failed_call(exc, timeout=timeout, raised=self._raised(since=logged), log_file=self._log)
                if failed.outcome is Outcome.TIMEOUT:
                    self._abandoned = f"task {ctx.task.task_id} timed out ({failed.message})"
                return failed
            except asyncio.CancelledError:
                self._abandoned = f"task {ctx.task.task_id} was interrupted (cancelled, lease lost or agent stopping)"
                raise
        return worker_reply(reply)

    async def recover(self) -> None:
        """A worker that answered the call (even with an error) is free: only
        one that may still run an abandoned call is restarted."""
        self._ready = False  # health is checked again before the next task
        abandoned, self._abandoned = self._abandoned, None
        if abandoned is not None and self._restart is not None:
            await self._restart(abandoned)

    def _raised(self, *, since: int) -> str | None:
        """What the worker logged it raised during the call, when its log is known."""
        return worker_log.last_exception(worker_log.tail(self._log, since=since)) if self._log is not None else None

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


#: What the official SDK's Worker.Process answers when the processing
#: function raises (it logs the exception and returns no reply), and what a
#: gRPC servicer that lets an exception out answers.
_SDK_RAISED = (grpc.StatusCode.INTERNAL, "Failed to serialize response!")
_SERVICER_RAISED = "Exception calling application: "  # UNKNOWN


def failed_call(
    exc: grpc.aio.AioRpcError, *, timeout: float | None, raised: str | None = None, log_file: Path | None = None
) -> WorkerReply:
    """The deadline is the task's ``max_duration``: exceeding it is TIMEOUT;
    any other failure of the call (worker died, refused, raised) is CRASH,
    said as a worker author reads it: what the processing function raised
    (``raised``, from the worker's log) and where its log is."""
    code, details = exc.code(), exc.details() or ""
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return WorkerReply(Outcome.TIMEOUT, f"task exceeded its max_duration of {timeout} s")
    where = f"log: {log_file}" if log_file is not None else "see the worker's log"
    if (code, details) == _SDK_RAISED:
        what = raised
    elif code is grpc.StatusCode.UNKNOWN and details.startswith(_SERVICER_RAISED):
        what = raised or details.removeprefix(_SERVICER_RAISED)
    else:
        return WorkerReply(Outcome.CRASH, f"worker call failed: {code.name}: {details}; {where}")
    return WorkerReply(Outcome.CRASH, f"the worker's processing function raised: {what or 'an exception'}; {where}")
