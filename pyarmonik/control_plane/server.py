"""The control plane's gRPC server: every ArmoniK service of one grid.

Registers the servicers behind five interceptors, outermost first: RPC
metrics (it sees the status the error interceptor chose), errors
(every error becomes its status), authentication and authorization (who
calls, and may they), transport limits (message size, open streams),
request bodies that do not parse (INVALID_ARGUMENT, ``protocol.bodies``),
and the open event streams, which a stop ends first (``open_streams``); plus
the standard ``grpc.health.v1`` service (SERVING for "" and each service
while up, NOT_SERVING once a shutdown starts, so load balancers drain it
first). Served over TLS (mTLS with a client CA) when given certificates.

With an HTTP port (``web.http_port``), the same servicer instances are
served through gRPC-Web too (``web_port``), found through the same
interceptor instances: a browser's call is authenticated, limited, counted
and answered with its status exactly as a native one.

The servicers see the grid through this server's view of it: the client
API's limits set and, with authentication on, each caller's reach cut to
its own sessions (``lifecycle.isolation``). Agents and the reaper keep the
grid itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
    auth_config,
    auth_service,
    events_service,
    health_checks_service,
    partitions_service,
    results_service,
    sessions_service,
    submitter_service,
    tasks_service,
    versions_service,
    web_port,
)
from pyarmonik.control_plane import tls as tls_files
from pyarmonik.control_plane.auth_interceptor import AuthInterceptor
from pyarmonik.control_plane.limits_interceptor import LimitsInterceptor, transport_limit
from pyarmonik.control_plane.open_streams import OpenStreams
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.lifecycle.isolation import IsolatedState
from pyarmonik.protocol import handlers, serving
from pyarmonik.protocol.bodies import BodyInterceptor
from pyarmonik.protocol.interceptor import ErrorInterceptor
from pyarmonik.protocol.rpc_metrics import MetricsInterceptor
from pyarmonik.protocol.web.methods import Methods
from pyarmonik.protocol.web.server import HttpServer
from pyarmonik.settings import LimitSettings, SecuritySettings, WebSettings

log = logging.getLogger(__name__)

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


def check(*, host: str, port: int, security: SecuritySettings) -> None:
    """Refuses, in one line, what ``ControlPlane`` would refuse with these
    settings (an address in use, a TLS or auth file missing or wrong), without
    a grid: processes call it before they start or connect to anything."""
    serving.check_address(f"{host}:{port}", what="the ArmoniK API")
    _auth(security)
    files = _tls(security)
    if files is not None:
        tls_files.check(files)


def _auth(security: SecuritySettings) -> auth_config.AuthConfig | None:
    return auth_config.load(security.auth_config_file) if security.auth_config_file else None


def _tls(security: SecuritySettings) -> tls_files.TlsFiles | None:
    if security.tls_cert_file is None or security.tls_key_file is None:
        return None
    return tls_files.TlsFiles(security.tls_cert_file, security.tls_key_file, security.tls_client_ca_file)


class ControlPlane:
    """One grpc.aio server for one grid. ``port=0`` binds a free port;
    ``port`` gives the bound one once started. Without ``security`` and
    ``limits``, their defaults (plaintext, no authentication); without
    ``web``, no HTTP port. Files they name are read here, so a bad one fails
    before anything is served."""

    def __init__(
        self,
        grid: Grid,
        *,
        host: str = "0.0.0.0",
        port: int = 5001,
        security: SecuritySettings | None = None,
        limits: LimitSettings | None = None,
        web: WebSettings | None = None,
        extra_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        security = security if security is not None else SecuritySettings.model_construct()
        limits = limits if limits is not None else LimitSettings.model_construct()
        auth = _auth(security)
        self._grid = dataclasses.replace(grid, limits=limits.limits())
        if auth is not None:
            self._grid = dataclasses.replace(self._grid, state=IsolatedState(grid.state))  # type: ignore[arg-type]
        self._streams = OpenStreams(handlers.EVENT_STREAMS)
        self._interceptors = [
            MetricsInterceptor(grid.metrics),
            ErrorInterceptor(),
            AuthInterceptor(auth, trusted_proxy_headers=security.trusted_proxy_headers),
            LimitsInterceptor(
                max_message_size=limits.max_message_size,
                max_streams=limits.max_event_streams_per_client,
                max_upload_idle=limits.max_upload_idle_seconds,
            ),
            BodyInterceptor(),
            self._streams,
        ]
        files = _tls(security)
        self._credentials = tls_files.server_credentials(files) if files is not None else None
        self._address = f"{host}:{port}"
        self._options = [
            *serving.SERVER_OPTIONS,
            ("grpc.max_send_message_length", limits.max_message_size),
            ("grpc.max_receive_message_length", transport_limit(limits.max_message_size)),
            *extra_options,
        ]
        self._server: aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._port = 0
        self._methods = Methods(self._interceptors)
        self._http: HttpServer | None = None
        if web is not None and web.http_port is not None:
            self._http = web_port.http_server(
                self._methods, host=host, web=web, security=security, max_message_size=limits.max_message_size
            )
        log.info(
            "ArmoniK API: %s, authentication %s",
            "mTLS" if security.tls_client_ca_file else "TLS" if self._credentials else "plaintext",
            "on" if auth is not None else "off",
        )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the control plane is not started")
        return self._port

    @property
    def http_port(self) -> int | None:
        """The bound HTTP (gRPC-Web) port, ``None`` when there is none."""
        return self._http.port if self._http is not None else None

    async def start(self) -> int:
        server = aio.server(interceptors=self._interceptors, options=self._options)
        self._health = health.aio.HealthServicer()
        for register, servicer in [
            *_registrations(self._grid),
            (health_pb2_grpc.add_HealthServicer_to_server, self._health),
        ]:
            register(servicer, server)
            register(servicer, self._methods)  # the same instance, for gRPC-Web
        self._port = serving.bind(server, self._address, what="the ArmoniK API", credentials=self._credentials)
        if self._http is not None:
            await self._http.start()  # a busy port fails here, before anything is served
        await server.start()
        self._server = server
        for name in ["", *api.service_names()]:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("control plane listening on port %d (%s)", self._port, self._address)
        return self._port

    async def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Stops accepting calls, ends the event streams at once (they never
        end on their own: ``open_streams``), lets the other running calls
        finish for ``grace`` seconds, then cancels them."""
        if self._server is None:
            return
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        ended = self._streams.end_all()
        if ended:
            log.info("control plane stopping: %d event stream(s) ended", ended)
        stops = [self._server.stop(grace), *([self._http.stop(grace)] if self._http is not None else [])]
        await asyncio.gather(*stops)
        self._server = None
        log.info("control plane stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
