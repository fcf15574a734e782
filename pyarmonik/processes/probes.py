"""A small HTTP endpoint for Kubernetes probes (and, later, ``/metrics``).

Kubernetes probes a container over HTTP, gRPC or TCP; an agent's gRPC
server is on a unix socket its worker uses, and a TCP check would only say
that a port is open. So the agent answers plain HTTP GETs on its probe port,
each path backed by a check that says, in one line, what is wrong. The
worker container's liveness probe targets this port too (containers of a pod
share its network), so the agent, which sees a stuck worker, can have the
kubelet restart it.

asyncio's own server is enough: a probe is one short GET; a framework would
be a dependency for four paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

#: A check answers (healthy, one line saying why).
Check = Callable[[], tuple[bool, str]]

_READ_TIMEOUT = 5.0


class ProbeServer:
    """Serves ``GET <path>``: 200 with the check's line when healthy, 503
    when not, 404 for an unknown path."""

    def __init__(self, checks: Mapping[str, Check], *, host: str = "0.0.0.0", port: int) -> None:
        self.checks, self.host, self._port = dict(checks), host, port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the probe server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self._port, reuse_port=False)
        except OSError as exc:
            raise OSError(f"cannot serve probes on {self.host}:{self._port}: {exc.strerror}") from None
        log.info("probes served on %s:%d (%s)", self.host, self.port, ", ".join(self.checks))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            method, path, *_ = [*request.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
            status, body = self._answer(method, path.split("?", 1)[0])
            payload = (body + "\n").encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, method: str, path: str) -> tuple[str, str]:
        if method != "GET":
            return "405 Method Not Allowed", f"{method} is not served; use GET"
        check = self.checks.get(path)
        if check is None:
            return "404 Not Found", f"no probe at {path}; probes: {', '.join(sorted(self.checks))}"
        try:
            healthy, line = check()
        except Exception as exc:  # a probe must answer, whatever the check does
            healthy, line = False, f"check failed: {exc}"
        return ("200 OK" if healthy else "503 Service Unavailable"), line
