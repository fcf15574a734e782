"""A whole local grid served from a background thread, for tests that use
the official (synchronous, blocking) ``armonik`` client.

The thread runs the grid's event loop until told to stop; ``run`` executes a
coroutine on that loop, to read or drive the grid's internals directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pyarmonik.lifecycle.grid import Grid
from pyarmonik.local.launcher import LocalGrid
from pyarmonik.settings import LocalSettings

T = TypeVar("T")
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0


class GridThread:
    def __init__(self, options: LocalSettings) -> None:
        self.options = options
        self.local: LocalGrid | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="grid", daemon=True)

    @property
    def grid(self) -> Grid:
        assert self.local is not None
        return self.local.grid

    @property
    def port(self) -> int:
        assert self.local is not None
        return self.local.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> GridThread:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            raise AssertionError(f"the grid did not start within {STARTUP_TIMEOUT} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise AssertionError("the grid thread did not stop")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(STARTUP_TIMEOUT)

    def _main(self) -> None:
        with contextlib.suppress(BaseException):  # reported through self._error
            asyncio.run(self._serve())

    async def _serve(self) -> None:
        try:
            self.local = LocalGrid(self.options)
            await self.local.__aenter__()
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        except BaseException as error:
            self._error = error
            raise
        finally:
            self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.local.__aexit__(None, None, None)
