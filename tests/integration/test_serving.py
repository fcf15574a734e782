"""Every server of the grid refuses an address in use instead of sharing it."""

from __future__ import annotations

import pathlib
import socket

import pytest
from grpc import aio

from pyarmonik.protocol import serving


async def test_a_unix_socket_another_server_listens_on_is_refused(tmp_path: pathlib.Path) -> None:
    address = f"unix://{tmp_path / 'agent.sock'}"
    first = aio.server(options=serving.SERVER_OPTIONS)
    serving.bind(first, address, what="the first server")
    await first.start()
    try:
        with pytest.raises(OSError, match=r"cannot serve the second server on .*agent.sock: address in use"):
            serving.bind(aio.server(options=serving.SERVER_OPTIONS), address, what="the second server")
    finally:
        await first.stop(None)


async def test_a_stale_socket_file_left_by_a_dead_agent_is_reused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed process leaves
    server = aio.server(options=serving.SERVER_OPTIONS)
    serving.bind(server, f"unix://{path}", what="the agent")
    await server.start()
    await server.stop(None)


async def test_a_tcp_port_in_use_is_refused_even_by_a_grpc_server() -> None:
    first = aio.server(options=serving.SERVER_OPTIONS)
    port = serving.bind(first, "127.0.0.1:0", what="the first grid")
    await first.start()
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}: address in use"):
            serving.bind(aio.server(options=serving.SERVER_OPTIONS), f"127.0.0.1:{port}", what="the second grid")
    finally:
        await first.stop(None)


@pytest.mark.parametrize("address", ["127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:http"])
def test_a_port_out_of_range_is_refused_instead_of_wrapping_around(address: str) -> None:
    with pytest.raises(OSError, match="the port must be a number from 0 to 65535"):
        serving.check_address(address, what="the API")
