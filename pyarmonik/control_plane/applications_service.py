"""Applications service: the applications named in task options."""

from __future__ import annotations

from armonik.protogen.client import applications_service_pb2_grpc
from armonik.protogen.common import applications_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert_partitions
from pyarmonik.lifecycle import tasks
from pyarmonik.lifecycle.grid import Grid


class ApplicationsServicer(applications_service_pb2_grpc.ApplicationsServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def ListApplications(
        self, request: pb.ListApplicationsRequest, context: aio.ServicerContext
    ) -> pb.ListApplicationsResponse:
        page = await tasks.list_applications(self._grid, convert_partitions.application_query(request))
        return convert_partitions.applications_response(request, page)
