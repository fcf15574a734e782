"""The control plane's gRPC server: every ArmoniK service of one grid.

Registers the servicers behind the RPC metrics and error interceptors, plus the standard
``grpc.health.v1`` service (SERVING for "" and each service while up,
NOT_SERVING once a shutdown starts, so load balancers drain it first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from armonik.protogen.client import (
    applications_service_pb2_grpc,
    auth_service_pb2_grpc,
    events_service_pb2_grpc,
    health_checks_service_pb2_grpc,
    partitions_service_pb2_grpc,
    results_service_pb2_grpc,
    sessions_service_pb2_grpc,
    submitter_service_pb2_grpc,
    tasks_service_pb2_grpc,
    versions_service_pb2_grpc,
)
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from pyarmonik.control_plane import (
    api,
    applications_service,
    auth_service,
    events_service,
    health_checks_service,
    partitions_service,
    results_service,
    sessions_service,
    submitter_service,
    tasks_service,
    versions_service,
)
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol import serving
from pyarmonik.protocol.interceptor import ErrorInterceptor
from pyarmonik.protocol.rpc_metrics import MetricsInterceptor

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 8 * 1024 * 1024
DEFAULT_GRACE = 5.0


def _registrations(grid: Grid) -> list[tuple[Callable[[Any, aio.Server], None], Any]]:
    return [
        (sessions_service_pb2_grpc.add_SessionsServicer_to_server, sessions_service.SessionsServicer(grid)),
        (results_service_pb2_grpc.add_ResultsServicer_to_server, results_service.ResultsServicer(grid)),
        (tasks_service_pb2_grpc.add_TasksServicer_to_server, tasks_service.TasksServicer(grid)),
        (events_service_pb2_grpc.add_EventsServicer_to_server, events_service.EventsServicer(grid)),
        (partitions_service_pb2_grpc.add_PartitionsServicer_to_server, partitions_service.PartitionsServicer(grid)),
        (
            applications_service_pb2_grpc.add_ApplicationsServicer_to_server,
            applications_service.ApplicationsServicer(grid),
        ),
        (versions_service_pb2_grpc.add_VersionsServicer_to_server, versions_service.VersionsServicer()),
        (
            health_checks_service_pb2_grpc.add_HealthChecksServiceServicer_to_server,
            health_checks_service.HealthChecksServicer(grid),
        ),
        (auth_service_pb2_grpc.add_AuthenticationServicer_to_server, auth_service.AuthenticationServicer()),
        (submitter_service_pb2_grpc.add_SubmitterServicer_to_server, submitter_service.SubmitterServicer()),
    ]


class ControlPlane:
    """One grpc.aio server for one grid. ``port=0`` binds a free port;
    ``port`` gives the bound one once started."""

    def __init__(
        self,
        grid: Grid,
        *,
        host: str = "0.0.0.0",
        port: int = 5001,
        max_message_size: int = MAX_MESSAGE_SIZE,
        extra_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._grid = grid
        self._address = f"{host}:{port}"
        self._options = [
            *serving.SERVER_OPTIONS,
            ("grpc.max_send_message_length", max_message_size),
            ("grpc.max_receive_message_length", max_message_size),
            *extra_options,
        ]
        self._server: aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._port = 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the control plane is not started")
        return self._port

    async def start(self) -> int:
        # The metrics interceptor comes first (outermost): it sees the status the error interceptor chose.
        interceptors = [MetricsInterceptor(self._grid.metrics), ErrorInterceptor()]
        server = aio.server(interceptors=interceptors, options=self._options)
        for register, servicer in _registrations(self._grid):
            register(servicer, server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        self._port = serving.bind(server, self._address, what="the ArmoniK API")
        await server.start()
        self._server = server
        for name in ["", *api.service_names()]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("control plane listening on port %d (%s)", self._port, self._address)
        return self._port

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Stops accepting calls, lets running ones finish for ``grace`` seconds,
        then cancels them (event streams never end on their own)."""
        if self._server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None
        log.info("control plane stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
