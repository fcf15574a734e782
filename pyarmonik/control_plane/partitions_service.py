"""Partitions service: the partitions tasks may be submitted to."""

from __future__ import annotations

from armonik.protogen.client import partitions_service_pb2_grpc
from armonik.protogen.common import partitions_common_pb2 as pb
from grpc import aio

from pyarmonik.control_plane import convert_partitions
from pyarmonik.lifecycle import partitions
from pyarmonik.lifecycle.grid import Grid


class PartitionsServicer(partitions_service_pb2_grpc.PartitionsServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def ListPartitions(
        self, request: pb.ListPartitionsRequest, context: aio.ServicerContext
    ) -> pb.ListPartitionsResponse:
        page = await partitions.list_partitions(self._grid, convert_partitions.partition_query(request))
        return convert_partitions.partitions_response(request, page)

    async def GetPartition(
        self, request: pb.GetPartitionRequest, context: aio.ServicerContext
    ) -> pb.GetPartitionResponse:
        partition = await partitions.get(self._grid, request.id)
        return pb.GetPartitionResponse(partition=convert_partitions.partition_to_pb(partition))
