"""A whole local grid served from a background thread, for tests that use
the official (synchronous, blocking) ``armonik`` client.

The thread runs the grid's event loop until told to stop; ``run`` executes a
coroutine on that loop, to read or drive the grid's storage directly (the
control plane and the agents are processes of their own, sharing it).
``read_stored`` reads it after the grid stopped, its private Redis started
again on its files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import redis

from pyarmonik.lifecycle.grid import Grid
from pyarmonik.local import redis_server
from pyarmonik.local.launcher import LocalGrid
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import LocalSettings
from pyarmonik.storage.redis import keys

T = TypeVar("T")
#: Generous: the control plane and agents are processes, started on a machine maybe busy with tests.
STARTUP_TIMEOUT = 60.0
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

    @property
    def redis_url(self) -> str:
        assert self.local is not None
        return self.local.redis_url

    def subscriber_count(self, session_id: str) -> int:
        """Processes following the session's events (Redis subscribers of its
        channel; the control plane is another process): 1 while the control
        plane holds any stream of the session, however many (they share it)."""
        with redis.Redis.from_url(self.redis_url) as client:
            [(_, count)] = client.pubsub_numsub(keys.session_events(session_id))
        return int(count)

    def read_stored(self, read: Callable[[Grid], Awaitable[T]]) -> T:
        """``read`` on the grid's storage after ``stop``: on its private
        Redis started again on the same files (or on the ``redis_url`` given)."""
        options = self.options

        async def main() -> T:
            async with contextlib.AsyncExitStack() as stack:
                url = options.redis_url
                if not url:
                    url = (await stack.enter_async_context(redis_server.running(options.data_dir))).url
                grid = await stack.enter_async_context(open_grid(options.model_copy(update={"redis_url": url})))
                return await read(grid)

        return asyncio.run(main())

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
