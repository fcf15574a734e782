"""An in-process control plane for tests that use the official client.

The official ``armonik`` client is synchronous and blocks its thread, so the
grpc.aio server runs in a background thread with its own event loop: the
thread runs ``asyncio.run`` of the server until an ``asyncio.Event`` is set,
and signals readiness (or its startup error) through a ``threading.Event``.
``start_grid(tmp_path)`` is reusable by any test module that needs its own grid.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import pathlib
import threading
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskOptions

from pyarmonik.control_plane.server import ControlPlane
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage.memory.events import MemoryEventBus
from pyarmonik.storage.memory.queue import MemoryTaskQueue
from pyarmonik.storage.memory.state import MemoryStateStore
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore

T = TypeVar("T")
STARTUP_TIMEOUT = 30.0
#: Small, so that tests exercise multi-chunk uploads and downloads cheaply.
CHUNK_SIZE = 64 * 1024
PARTITIONS = ("default", "other")


def default_options(**overrides: Any) -> TaskOptions:
    values: dict[str, Any] = {"max_duration": timedelta(seconds=60), "priority": 1, "max_retries": 2}
    values.update(overrides)
    return TaskOptions(**values)


class RunningGrid:
    """A grid and its control plane, served from a background event loop."""

    def __init__(self, root: pathlib.Path) -> None:
        self.objects_root = root / "objects"
        self.grid: Grid | None = None
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="control-plane", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def bus(self) -> MemoryEventBus:
        assert self.grid is not None
        return self.grid.events  # type: ignore[return-value]

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise AssertionError(f"the control plane did not start within {STARTUP_TIMEOUT} s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_TIMEOUT)
        if self._thread.is_alive():
            raise AssertionError("the control plane thread did not stop")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the server's loop (to read or drive the grid directly)."""
        assert self._loop is not None
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(STARTUP_TIMEOUT)

    def _main(self) -> None:
        with contextlib.suppress(BaseException):  # reported through self._error
            asyncio.run(self._serve())

    async def _serve(self) -> None:
        try:
            self.grid = await _memory_grid(self.objects_root)
            control_plane = ControlPlane(self.grid, host="127.0.0.1", port=0)
            self.port = await control_plane.start()
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        except BaseException as error:
            self._error = error
            raise
        finally:
            self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await control_plane.stop(grace=1.0)


async def _memory_grid(objects_root: pathlib.Path) -> Grid:
    bus = MemoryEventBus()
    state = MemoryStateStore(bus)
    await state.put_partitions([Partition(partition_id) for partition_id in PARTITIONS])
    return Grid(
        state=state,
        queue=MemoryTaskQueue(),
        objects=FileSystemObjectStore(objects_root),
        events=bus,
        data_chunk_max_size=CHUNK_SIZE,
    )


@contextlib.contextmanager
def start_grid(tmp_path: pathlib.Path) -> Iterator[RunningGrid]:
    """A control plane on 127.0.0.1 (free port) over memory adapters, stopped on exit."""
    running = RunningGrid(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def running_grid(tmp_path: pathlib.Path) -> Iterator[RunningGrid]:
    with start_grid(tmp_path) as running:
        yield running


@pytest.fixture
def channel(running_grid: RunningGrid) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_grid.address) as opened:
        yield opened


@pytest.fixture
def sessions(channel: grpc.Channel) -> ArmoniKSessions:
    return ArmoniKSessions(channel)


@pytest.fixture
def results(channel: grpc.Channel) -> ArmoniKResults:
    return ArmoniKResults(channel)


@pytest.fixture
def tasks(channel: grpc.Channel) -> ArmoniKTasks:
    return ArmoniKTasks(channel)


@pytest.fixture
def events(channel: grpc.Channel) -> ArmoniKEvents:
    return ArmoniKEvents(channel)


@pytest.fixture
def session_id(sessions: ArmoniKSessions) -> str:
    return sessions.create_session(default_options(), partition_ids=list(PARTITIONS))
