"""An async iterator seen as a file by a blocking client running in a thread.

Blocking clients (``minio``) read their upload from a file in a worker thread,
while the data comes from an async iterator (a gRPC request stream) that only
the event loop may advance. ``ThreadReader.read`` runs in the thread and asks
the loop for the next bytes, so nothing is buffered beyond what one ``read``
asks for, and the iterator runs on its loop, in the caller's context.

Invariant: the thread never sees a short, clean end of data that is not the
end of the iterator. When the iterator fails, ``read`` raises
``SourceFailed`` (an ``Exception``, which clients catch to abort) and keeps
the original error in ``error``; after ``stop`` every ``read`` raises too, so
an upload abandoned by a cancelled caller is aborted, never completed short.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterable


class SourceFailed(Exception):
    """Raised into the reading thread when the iterator failed or the reader
    was stopped; the iterator's own error is ``ThreadReader.error``."""


class ThreadReader:
    """``read(size)`` for a worker thread, pulling from an async iterator."""

    def __init__(self, chunks: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = aiter(chunks)
        self._loop = loop
        self._pending = bytearray()
        self._eof = False
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future[bytes] | None = None
        self._stopped = False
        self.size = 0
        self.error: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        """Blocks the calling thread (never the loop's) until ``size`` bytes
        are there, or fewer at the end of the data; all when ``size < 0``."""
        with self._lock:  # pairs with stop(): no fill is started after it
            if self._stopped:
                raise SourceFailed("reader stopped")
            self._future = asyncio.run_coroutine_threadsafe(self._fill(size), self._loop)
        try:
            return self._future.result()
        except concurrent.futures.CancelledError:  # by stop(), or the iterator's task was cancelled
            raise SourceFailed("reader stopped or its iterator cancelled") from None

    def stop(self) -> None:
        """Makes this and every later ``read`` fail; call it from the loop."""
        with self._lock:
            self._stopped = True
            if self._future is not None:
                self._future.cancel()

    async def _fill(self, size: int) -> bytes:
        # Whole blocks: clients such as minio concatenate what read returns,
        # which is quadratic when it returns small chunks.
        while not self._eof and (size < 0 or len(self._pending) < size):
            try:
                self._pending += await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
            except Exception as exc:  # not a cancellation: read() reports that one
                self.error = exc
                raise SourceFailed(repr(exc)) from exc
        count = len(self._pending) if size < 0 else min(size, len(self._pending))
        data = bytes(self._pending[:count])
        del self._pending[:count]
        self.size += count
        return data
