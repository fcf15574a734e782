"""The HTTP port that serves gRPC-Web (and the GUI's files): HTTP/1.1 and
HTTP/2, in plaintext (h2c, by prior knowledge or upgrade) or over TLS
(ALPN), by hypercorn's protocol machinery on this process' event loop.

hypercorn is the asyncio server of the Hyper project (h11, h2) that speaks
both HTTP versions; uvicorn and aiohttp speak HTTP/1.1 only. Its connection
class is driven here rather than through ``hypercorn.asyncio.serve`` for two
things that entry point keeps to itself: the socket (bound here, so that a
busy port is one line naming it and the flag that changes it, and port 0
tells which port it got) and each TLS connection's verified client
certificate, which gRPC-Web callers are authenticated by as native gRPC
callers are (``asgi.PEER_AUTH``).

Stopping closes the port, lets calls run ``grace`` seconds (an event
stream never ends by itself), then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config

from pyarmonik.protocol.web import asgi

log = logging.getLogger(__name__)

_HANDSHAKE_TIMEOUT = 10.0


def _bind(host: str, port: int, what: str, hint: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so,
    # and without it a response's frames wait for the client's delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not SO_REUSEPORT: a busy port is refused
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot serve {what} on {host}:{port}: {exc.strerror} ({hint})") from None
    sock.setblocking(False)
    return sock


def check_free(host: str, port: int, *, what: str, hint: str) -> None:
    """Refuses a busy port as ``HttpServer.start`` would, without serving it:
    a launcher checks it before starting anything else."""
    _bind(host, port, what, hint).close()


def peer_auth(ssl_object: ssl.SSLObject | None) -> Mapping[str, Sequence[bytes]]:
    """The verified client certificate of a TLS connection, under gRPC's ``auth_context`` keys."""
    if ssl_object is None:
        return {}
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return {}
    auth: dict[str, Sequence[bytes]] = {"x509_pem_cert": [ssl.DER_cert_to_PEM_cert(der).encode()]}
    subject: Any = (ssl_object.getpeercert() or {}).get("subject", ())
    names = [value for rdn in subject for key, value in rdn if key == "commonName"]
    if names:
        auth["x509_common_name"] = [names[0].encode()]
    return auth


class HttpServer:
    """Serves the ASGI ``app`` on ``host:port`` (TLS with ``ssl_context``,
    which offers ALPN ``h2`` for HTTP/2); ``what`` names the port in errors,
    ``hint`` says how to choose another."""

    def __init__(
        self,
        app: asgi.App,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        what: str = "HTTP",
        hint: str = "choose another port",
    ) -> None:
        self._app = ASGIWrapper(app)  # type: ignore[arg-type]
        self._host, self._requested, self._ssl, self._what, self._hint = host, port, ssl_context, what, hint
        self._config = Config()
        self._config.accesslog = None
        self._worker = WorkerContext(None)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> int:
        sock = _bind(self._host, self._requested, self._what, self._hint)
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(
            self._serve, sock=sock, ssl=self._ssl, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT if self._ssl else None
        )
        log.info("%s on %s:%d (%s)", self._what, self._host, self.port, "TLS" if self._ssl else "plaintext")
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._connections.discard)  # type: ignore[arg-type]
        asgi.PEER_AUTH.set(peer_auth(writer.get_extra_info("ssl_object")))
        loop = asyncio.get_running_loop()
        await TCPServer(self._app, loop, self._config, self._worker, {}, reader, writer)

    async def stop(self, grace: float | None = 5.0) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await self._worker.terminated.set()  # idle keep-alive connections close
        if self._connections:
            _, pending = await asyncio.wait(set(self._connections), timeout=grace or 0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            await server.wait_closed()
        log.info("%s stopped", self._what)
