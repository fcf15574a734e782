"""The agent's side of the Worker service: health checks and Process calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc
from armonik.protogen.common import objects_pb2, worker_common_pb2
from armonik.protogen.worker import worker_service_pb2_grpc

log = logging.getLogger(__name__)

_SERVING = worker_common_pb2.HealthCheckReply.ServingStatus.SERVING
_MAX_MESSAGE = 64 * 1024 * 1024


class WorkerClient:
    def __init__(self, address: str, *, log_every: float = 5.0) -> None:
        """``address`` as gRPC takes it: ``unix:///path/worker.sock`` or ``host:port``."""
        self.address = address
        self._log_every = log_every
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.default_authority", "localhost"),
            ],
        )
        self._stub = worker_service_pb2_grpc.WorkerStub(self._channel)

    async def healthy(self) -> bool:
        """One HealthCheck; UNIMPLEMENTED counts as healthy, as in ArmoniK."""
        try:
            reply = await self._stub.HealthCheck(objects_pb2.Empty(), timeout=2)
        except grpc.aio.AioRpcError as exc:
            return exc.code() is grpc.StatusCode.UNIMPLEMENTED
        return reply.status == _SERVING

    async def wait_healthy(self, stop: asyncio.Event) -> bool:
        """Waits until the worker answers healthy (True) or ``stop`` is set
        (False). An absent worker is waited for, never a lost task."""
        last_log = time.monotonic()  # a worker starting up is normal: say so only if it lasts
        while not stop.is_set():
            if await self.healthy():
                return True
            if time.monotonic() - last_log >= self._log_every:
                log.warning("worker at %s is not serving yet; waiting before taking tasks", self.address)
                last_log = time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
        return False

    async def process(
        self, request: worker_common_pb2.ProcessRequest, *, timeout: float | None
    ) -> worker_common_pb2.ProcessReply:
        return await self._stub.Process(request, timeout=timeout)

    async def close(self) -> None:
        await self._channel.close()
