"""HealthChecksService: ArmoniK's own health report, one entry per port."""

from __future__ import annotations

from armonik.protogen.client import health_checks_service_pb2_grpc
from armonik.protogen.common import health_checks_common_pb2 as pb
from grpc import aio

from pyarmonik.lifecycle import health
from pyarmonik.lifecycle.grid import Grid

_STATUS = {
    health.Health.HEALTHY: pb.HEALTH_STATUS_ENUM_HEALTHY,
    health.Health.UNHEALTHY: pb.HEALTH_STATUS_ENUM_UNHEALTHY,
}


class HealthChecksServicer(health_checks_service_pb2_grpc.HealthChecksServiceServicer):
    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def CheckHealth(self, request: pb.CheckHealthRequest, context: aio.ServicerContext) -> pb.CheckHealthResponse:
        report = await health.check(self._grid)
        return pb.CheckHealthResponse(
            services=[
                pb.CheckHealthResponse.ServiceHealth(name=c.name, message=c.message, healthy=_STATUS[c.health])
                for c in report
            ]
        )
