"""The private ``redis-server`` of ``pyarmonik local``: started on its data
dir's socket, answering, stopped; a socket path too long for a unix address
goes to a short temporary folder."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio

from pyarmonik.local import redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if redis_server.find_binary() is None:
        pytest.skip(redis_server.INSTALL_HINT)


async def test_it_serves_on_a_socket_in_the_data_dir_with_no_tcp_port(tmp_path: pathlib.Path) -> None:
    server = await redis_server.start(tmp_path, appendfsync="always")
    try:
        assert server.socket == (tmp_path / "redis" / "redis.sock").resolve()
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            assert await client.config_get("port") == {"port": "0"}
            assert await client.config_get("appendfsync") == {"appendfsync": "always"}
            assert await client.config_get("dir") == {"dir": str((tmp_path / "redis").resolve())}
        finally:
            await client.aclose()
    finally:
        await server.stop()
    assert server.process.returncode is not None
    assert not server.socket.exists()


async def test_a_socket_path_too_long_for_a_unix_address_goes_to_a_short_temporary_folder(
    tmp_path: pathlib.Path,
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = await redis_server.start(deep)
    try:
        assert len(str(server.socket)) <= redis_server.MAX_SOCKET_PATH
        assert server.socket.parent != deep / "redis"
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        assert any(
            path.name.startswith("appendonly") for path in (deep / "redis").iterdir()
        )  # data stays in the data dir
    finally:
        await server.stop()
    assert not server.socket.parent.exists()


async def test_its_data_survives_a_restart_on_the_same_data_dir(tmp_path: pathlib.Path) -> None:
    async with redis_server.running(tmp_path) as server:
        client = redis.asyncio.Redis.from_url(server.url)
        await client.set("kept", "yes")
        await client.aclose()
    async with redis_server.running(tmp_path) as server:
        client = redis.asyncio.Redis.from_url(server.url)
        assert await client.get("kept") == b"yes"
        await client.aclose()


async def test_a_second_server_on_a_data_dir_in_use_is_refused(tmp_path: pathlib.Path) -> None:
    async with redis_server.running(tmp_path) as first:
        with pytest.raises(RuntimeError, match=f"^another grid runs on the data dir {tmp_path} "):
            await redis_server.start(tmp_path)
        client = redis.asyncio.Redis.from_url(first.url)
        assert await client.ping()  # the first one is untouched
        await client.aclose()
