"""The agent's side of the Worker service: health checks and Process calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import grpc
from armonik.protogen.common import objects_pb2, worker_common_pb2
from armonik.protogen.worker import worker_service_pb2_grpc

log = logging.getLogger(__name__)

_SERVING = worker_common_pb2.HealthCheckReply.ServingStatus.SERVING
#: Where ArmoniK workers read the socket they serve on.
WORKER_ADDRESS_VARIABLE = "ComputePlane__WorkerChannel__Address"
_MAX_MESSAGE = 64 * 1024 * 1024


#: A worker starting up is normal: it is reported only once it has not
#: served for this long, then again each time the wait has doubled.
FIRST_REPORT = 5.0
LAST_REPORT_EVERY = 300.0


def next_report(waited: float, first: float = FIRST_REPORT) -> float:
    """When (seconds of waiting) the next report is due after one at
    ``waited``: ``first``, then each time the wait doubles, at least every
    ``LAST_REPORT_EVERY``."""
    if waited < first:
        return first
    return waited + min(waited, LAST_REPORT_EVERY)


class WorkerClient:
    def __init__(
        self,
        address: str,
        *,
        command: str | None = None,
        log_file: Path | None = None,
        first_report: float = FIRST_REPORT,
    ) -> None:
        """``address`` as gRPC takes it: ``unix:///path/worker.sock`` or
        ``host:port``. The worker's ``command`` and ``log_file``, when known,
        are named when the worker does not serve."""
        self.address = address
        self._command, self._log_file = command, log_file
        self._first_report = first_report
        self._channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
                ("grpc.default_authority", "localhost"),
                # A restarted worker serves again within a second or two: reconnect that fast
                # (gRPC's default back-off grows to minutes).
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
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
        (False). An absent worker is waited for, never a lost task; a wait
        that lasts is reported (``next_report``), first naming what a user
        checks: the socket, the command, the log."""
        began = time.monotonic()
        due = self._first_report
        while not stop.is_set():
            if await self.healthy():
                return True
            waited = time.monotonic() - began
            if waited >= due:
                if due == self._first_report:
                    log.warning("%s", self.not_serving(waited))
                else:
                    log.warning("the worker still does not serve on %s after %.0f s", self.address, waited)
                due = next_report(waited, self._first_report)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
        return False

    def not_serving(self, waited: float) -> str:
        """The first report of a worker that does not serve, in one line."""
        socket = self.address.removeprefix("unix://").removeprefix("unix:")
        where = f"{socket} ({WORKER_ADDRESS_VARIABLE})"
        known = [f"command: {self._command}"] if self._command else []
        known.append(f"log: {self._log_file}" if self._log_file is not None else "see the worker's own log")
        return (
            f"the worker does not serve on {where} after {waited:.0f} s; tasks wait for it "
            f"({'; '.join(known)}); does it listen where {WORKER_ADDRESS_VARIABLE} says?"
        )

    async def process(
        self, request: worker_common_pb2.ProcessRequest, *, timeout: float | None
    ) -> worker_common_pb2.ProcessReply:
        return await self._stub.Process(request, timeout=timeout)

    async def close(self) -> None:
        await self._channel.close()
