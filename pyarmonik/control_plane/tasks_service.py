"""Tasks service: submission, reads, lists, counts and cancellation."""

from __future__ import annotations

from armonik.protogen.client import tasks_service_pb2_grpc
from armonik.protogen.common import tasks_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert, convert_tasks, filter_conversion
from pyarmonik.lifecycle import tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol import options
from pyarmonik.protocol import tasks as protocol_tasks


class TasksServicer(tasks_service_pb2_grpc.TasksServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def ListTasks(self, request: pb.ListTasksRequest, context: aio.ServicerContext) -> pb.ListTasksResponse:
        page = await tasks.list_tasks(self._grid, convert_tasks.list_query(request))
        return convert_tasks.list_response(request, page)

    async def ListTasksDetailed(
        self, request: pb.ListTasksRequest, context: aio.ServicerContext
    ) -> pb.ListTasksDetailedResponse:
        page = await tasks.list_tasks(self._grid, convert_tasks.list_query(request))
        return convert_tasks.list_detailed_response(request, page)

    async def GetTask(self, request: pb.GetTaskRequest, context: aio.ServicerContext) -> pb.GetTaskResponse:
        task = await tasks.get(self._grid, convert.required(request.task_id, "task_id"))
        return pb.GetTaskResponse(task=convert_tasks.task_detailed(task))

    async def CancelTasks(self, request: pb.CancelTasksRequest, context: aio.ServicerContext) -> pb.CancelTasksResponse:
        cancelled = await tasks.cancel(self._grid, convert.required_ids(request.task_ids, "task_ids"))
        return pb.CancelTasksResponse(tasks=[convert_tasks.task_summary(t) for t in cancelled])

    async def GetResultIds(
        self, request: pb.GetResultIdsRequest, context: aio.ServicerContext
    ) -> pb.GetResultIdsResponse:
        by_task = await tasks.result_ids(self._grid, convert.required_ids(request.task_id, "task_id"))
        return convert_tasks.result_ids_response(by_task)

    async def CountTasksByStatus(
        self, request: pb.CountTasksByStatusRequest, context: aio.ServicerContext
    ) -> pb.CountTasksByStatusResponse:
        counts = await tasks.count_by_status(self._grid, filter_conversion.task_filters(request.filters))
        return convert_tasks.count_response(counts)

    async def SubmitTasks(self, request: pb.SubmitTasksRequest, context: aio.ServicerContext) -> pb.SubmitTasksResponse:
        session_id = convert.required(request.session_id, "session_id")
        submitted = await tasks.submit(
            self._grid,
            session_id,
            protocol_tasks.new_tasks(request),
            batch_options=options.optional_task_options(request, "task_options"),
        )
        return protocol_tasks.submit_response(pb.SubmitTasksResponse, submitted)
