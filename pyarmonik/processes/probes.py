"""A small HTTP endpoint for Kubernetes probes and Prometheus ``/metrics``.

Kubernetes probes a container over HTTP, gRPC or TCP; an agent's gRPC
server is on a unix socket its worker uses, and a TCP check would only say
that a port is open. So the agent answers plain HTTP GETs on its probe port,
each path backed by a check that says, in one line, what is wrong. The
worker container's liveness probe targets this port too (containers of a pod
share its network), so the agent, which sees a stuck worker, can have the
kubelet restart it.

The same server answers ``/metrics`` (a page: a body rendered on demand,
with its content type): on an agent's probe port next to its probes, and
alone on the control plane's metrics port.

asyncio's own server is enough: a probe or a scrape is one short GET; a
framework would be a dependency for five paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

#: A check answers (healthy, one line saying why).
Check = Callable[[], tuple[bool, str]]
#: A page answers (content type, body); it may read storage (a scrape waits on it).
Page = Callable[[], Awaitable[tuple[str, bytes]]]

_TEXT = "text/plain; charset=utf-8"

_READ_TIMEOUT = 5.0


class ProbeServer:
    """Serves ``GET <path>``: for a check, 200 with its line when healthy,
    503 when not; for a page, 200 with its body (500 if it fails); 404 for
    an unknown path. ``what`` names the server in its errors and logs."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        pages: Mapping[str, Page] | None = None,
        host: str = "0.0.0.0",
        port: int,
        what: str = "probes",
    ) -> None:
        self.checks, self.pages, self.host, self._port = dict(checks), dict(pages or {}), host, port
        self.what = what
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the server of {self.what} is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self._port, reuse_port=False)
        except OSError as exc:
            raise OSError(f"cannot serve {self.what} on {self.host}:{self._port}: {exc.strerror}") from None
        log.info("%s served on %s:%d (%s)", self.what, self.host, self.port, ", ".join(self._paths()))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            method, path, *_ = [*request.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
            status, content_type, payload = await self._answer(method, path.split("?", 1)[0])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _paths(self) -> list[str]:
        return sorted([*self.checks, *self.pages])

    async def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", _TEXT, _line(f"{method} is not served; use GET")
        page = self.pages.get(path)
        if page is not None:
            try:
                content_type, body = await page()
            except Exception as exc:  # answer, and say why, whatever the page does
                log.exception("%s: %s failed", self.what, path)
                return "500 Internal Server Error", _TEXT, _line(f"{path} failed: {exc}")
            return "200 OK", content_type, body
        check = self.checks.get(path)
        if check is None:
            return "404 Not Found", _TEXT, _line(f"nothing at {path}; paths: {', '.join(self._paths())}")
        try:
            healthy, line = check()
        except Exception as exc:  # a probe must answer, whatever the check does
            healthy, line = False, f"check failed: {exc}"
        return ("200 OK" if healthy else "503 Service Unavailable"), _TEXT, _line(line)


def _line(text: str) -> bytes:
    return (text + "\n").encode()
