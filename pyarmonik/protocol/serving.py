"""Binding the grid's gRPC servers: an address in use is refused, never shared.

grpcio turns SO_REUSEPORT on by default, so a second grid started on a busy
port would bind too and split the clients between two grids; and it unlinks
an existing unix socket, so a second agent would silently take over the
first one's worker channel. Every server the project starts binds through
``bind`` with ``SERVER_OPTIONS`` and fails in one line naming the address.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path

import grpc
from grpc import aio

#: Options every server of the grid starts with (with its own additions).
SERVER_OPTIONS: list[tuple[str, int]] = [("grpc.so_reuseport", 0)]


def unix_path(address: str) -> Path | None:
    """The socket path of a ``unix:`` gRPC address, else ``None``."""
    if address.startswith("unix://"):
        return Path(address.removeprefix("unix://"))
    if address.startswith("unix:"):
        return Path(address.removeprefix("unix:"))
    return None


def bind(server: aio.Server, address: str, *, what: str, credentials: grpc.ServerCredentials | None = None) -> int:
    """Adds a port, TLS with ``credentials``, else insecure; returns the bound
    TCP port (0 for a unix socket).

    Raises ``OSError`` with one line naming ``what`` and ``address`` when the
    address is in use, its folder is missing or its port is out of range.
    """
    check_address(address, what=what)
    path = unix_path(address)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:  # grpcio raises instead of returning 0 on recent versions
        port = 0
    if port == 0 and path is None:
        raise OSError(f"cannot serve {what} on {address}: address in use or not available")
    return 0 if path is not None else port


def check_address(address: str, *, what: str) -> None:
    """Refuses, in one line, an address that cannot be served: a busy or
    folder-less unix socket, a port out of range. Cheap: processes call it
    before they connect to storage, so the first error a user sees is this."""
    path = unix_path(address)
    if path is not None:
        _check_socket_path(path, what)
    else:
        _check_port(address, what)


def _check_port(address: str, what: str) -> None:
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise OSError(f"cannot serve {what} on {address}: the port must be a number from 0 to 65535")
    if int(port) != 0:
        _check_bindable(host.strip("[]") or None, int(port), address, what)


def _check_bindable(host: str | None, port: int, address: str, what: str) -> None:
    """Binds and closes a socket as the server will (SO_REUSEADDR, so that
    connections of a grid stopped a moment ago do not count): a port a
    server listens on is refused."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot serve {what} on {address}: {exc.strerror}") from None
    family, kind, proto, _, where = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            reason = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise OSError(f"cannot serve {what} on {address}: {reason}") from None


def _check_socket_path(path: Path, what: str) -> None:
    if not path.parent.is_dir():
        raise OSError(f"cannot serve {what} on {path}: folder {path.parent} does not exist")
    if path.exists() and _answers(path):
        raise OSError(f"cannot serve {what} on {path}: address in use by another process")


def _answers(path: Path) -> bool:
    """Whether a live server listens on the socket (a stale file does not)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        with contextlib.suppress(OSError):
            probe.connect(str(path))
            return True
    return False
