"""The Agent gRPC service a worker calls back during Process.

Every call is checked against the task the agent is running: a missing or
wrong communication token is INVALID_ARGUMENT, a call while no task runs is
UNAVAILABLE (ArmoniK's codes). Calls only fill the task's buffer; the
pollster commits it when Process returns ok.

The running task is set only by ``serving``, which the gRPC worker adapter
enters around its Process call: nothing else writes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import grpc
from armonik.protogen.common import agent_common_pb2 as pb
from armonik.protogen.worker import agent_service_pb2_grpc

from pyarmonik.agent import legacy_create_task
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.core import errors
from pyarmonik.core.models import Result
from pyarmonik.metrics import Metrics
from pyarmonik.protocol import client_streams, serving
from pyarmonik.protocol import tasks as protocol_tasks
from pyarmonik.protocol.bodies import BodyInterceptor
from pyarmonik.protocol.interceptor import ErrorInterceptor
from pyarmonik.protocol.options import optional_task_options, timestamp
from pyarmonik.protocol.rpc_metrics import MetricsInterceptor

_MAX_MESSAGE = 64 * 1024 * 1024


async def serve(servicer: AgentServicer, address: str, *, metrics: Metrics | None = None) -> grpc.aio.Server:
    """Serves the Agent service on ``address`` (``unix:///...`` or ``host:port``);
    its calls are timed in ``metrics`` when given."""
    timing = [MetricsInterceptor(metrics)] if metrics is not None else []
    server = grpc.aio.server(
        interceptors=[*timing, ErrorInterceptor(), BodyInterceptor()],
        options=[
            *serving.SERVER_OPTIONS,
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
        ],
    )
    agent_service_pb2_grpc.add_AgentServicer_to_server(servicer, server)
    serving.bind(server, address, what="the Agent service")
    await server.start()
    return server


class AgentServicer(agent_service_pb2_grpc.AgentServicer):
    def __init__(self) -> None:
        self._current: TaskContext | None = None

    @contextlib.contextmanager
    def serving(self, ctx: TaskContext) -> Iterator[TaskContext]:
        """The worker's calls go to ``ctx`` inside the block, and fail
        UNAVAILABLE outside it (a late call of an abandoned task included)."""
        self._current = ctx
        try:
            yield ctx
        finally:
            self._current = None

    def context_for(self, token: str) -> TaskContext:
        if not token:
            raise errors.InvalidArgument("communication_token is required")
        if self._current is None:
            raise errors.Unavailable("no task is running on this agent")
        if token != self._current.token:
            raise errors.InvalidArgument("communication_token does not match the running task")
        return self._current

    async def CreateResultsMetaData(
        self, request: pb.CreateResultsMetaDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateResultsMetaDataResponse:
        ctx = self.context_for(request.communication_token)
        ctx.check_session(request.session_id)
        created = ctx.create_results([r.name for r in request.results])
        return pb.CreateResultsMetaDataResponse(results=[_metadata(r) for r in created])

    async def CreateResults(
        self, request: pb.CreateResultsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateResultsResponse:
        ctx = self.context_for(request.communication_token)
        ctx.check_session(request.session_id)
        created = ctx.create_results_with_data([(r.name, r.data) for r in request.results])
        return pb.CreateResultsResponse(results=[_metadata(r) for r in created])

    async def NotifyResultData(
        self, request: pb.NotifyResultDataRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotifyResultDataResponse:
        ctx = self.context_for(request.communication_token)
        for identifier in request.ids:
            ctx.check_session(identifier.session_id)
        notified = await ctx.notify([i.result_id for i in request.ids])
        return pb.NotifyResultDataResponse(result_ids=notified)

    async def SubmitTasks(
        self, request: pb.SubmitTasksRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitTasksResponse:
        ctx = self.context_for(request.communication_token)
        ctx.check_session(request.session_id)
        new = protocol_tasks.new_tasks(request)
        submitted = await ctx.submit(new, batch_options=optional_task_options(request, "task_options"))
        return protocol_tasks.submit_response(pb.SubmitTasksResponse, submitted)

    async def GetResourceData(self, request: pb.DataRequest, context: grpc.aio.ServicerContext) -> pb.DataResponse:
        ctx = self.context_for(request.communication_token)
        await ctx.fetch(request.result_id)
        return pb.DataResponse(result_id=request.result_id)

    async def GetCommonData(self, request: pb.DataRequest, context: grpc.aio.ServicerContext) -> pb.DataResponse:
        raise errors.Unimplemented("GetCommonData is not implemented (nor in ArmoniK.Core): use GetResourceData")

    async def GetDirectData(self, request: pb.DataRequest, context: grpc.aio.ServicerContext) -> pb.DataResponse:
        raise errors.Unimplemented("GetDirectData is not implemented (nor in ArmoniK.Core): use GetResourceData")

    async def CreateTask(
        self, request_iterator: AsyncIterator[pb.CreateTaskRequest], context: grpc.aio.ServicerContext
    ) -> pb.CreateTaskReply:
        return await legacy_create_task.handle(self.context_for, client_streams.messages(request_iterator, context))


def _metadata(result: Result) -> pb.ResultMetaData:
    return pb.ResultMetaData(
        session_id=result.session_id,
        result_id=result.result_id,
        name=result.name,
        status=int(result.status),  # type: ignore[arg-type]
        created_at=timestamp(result.created_at),
    )
