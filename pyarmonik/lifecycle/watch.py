"""Watching result statuses (the Results.WatchResults use case).

Each request names results, the statuses to report at once (``fetch``) and
the statuses to report as they are reached (``watch``). The event bus is
subscribed (once per session of the watched results) BEFORE the current
statuses are read, so that a change racing with the read is reported, at
worst twice, never lost. ArmoniK.Core leaves this RPC unimplemented.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from pyarmonik.core.models import Event, Result
from pyarmonik.core.statuses import EventKind, ResultStatus
from pyarmonik.lifecycle.grid import Grid

log = logging.getLogger(__name__)

#: A watch reads result ids and statuses only: the bus decodes nothing else.
_WATCHED = frozenset({EventKind.RESULT_STATUS_UPDATE})


@dataclass(frozen=True, slots=True)
class WatchRequest:
    result_ids: tuple[str, ...]
    fetch_statuses: frozenset[ResultStatus] = frozenset()
    watch_statuses: frozenset[ResultStatus] = frozenset()


Update = tuple[ResultStatus, list[str]]
"""A status and the watched results that have it."""


def group_by_status(results: Iterable[Result], wanted: frozenset[ResultStatus]) -> list[Update]:
    grouped: dict[ResultStatus, list[str]] = defaultdict(list)
    for result in results:
        if result.status in wanted:
            grouped[result.status].append(result.result_id)
    return sorted(grouped.items())


class _Watcher:
    """The state of one watch stream: watched ids, subscriptions, output queue."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self._watched: dict[str, frozenset[ResultStatus]] = {}
        self._sessions: dict[str, asyncio.Task[None]] = {}
        self.out: asyncio.Queue[Update | BaseException] = asyncio.Queue()

    async def handle(self, request: WatchRequest) -> None:
        known = await self._grid.state.get_results(request.result_ids)
        for session_id in {r.session_id for r in known} - self._sessions.keys():
            await self._subscribe(session_id)
        for result_id in request.result_ids:
            self._watched[result_id] = self._watched.get(result_id, frozenset()) | request.watch_statuses
        current = await self._grid.state.get_results(request.result_ids)
        for update in group_by_status(current, request.fetch_statuses):
            self.out.put_nowait(update)

    async def _subscribe(self, session_id: str) -> None:
        subscribed = asyncio.Event()
        follower = asyncio.create_task(self._follow(session_id, subscribed))
        self._sessions[session_id] = follower
        follower.add_done_callback(self._forward_failure)
        waiter = asyncio.create_task(subscribed.wait())
        await asyncio.wait({follower, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if follower.done() and not follower.cancelled():
            follower.result()  # the subscription failed: raise its error here

    def _forward_failure(self, follower: asyncio.Task[None]) -> None:
        if not follower.cancelled() and follower.exception() is not None:
            self.out.put_nowait(follower.exception())  # type: ignore[arg-type]

    async def _follow(self, session_id: str, subscribed: asyncio.Event) -> None:
        async with self._grid.events.subscribe(session_id, kinds=_WATCHED, light=True) as live:
            subscribed.set()
            async for event in live:
                self._on_event(event)

    def _on_event(self, event: Event) -> None:
        if event.kind is not EventKind.RESULT_STATUS_UPDATE or event.result is None:
            return
        wanted = self._watched.get(event.result.result_id, frozenset())
        if event.result.status in wanted:
            self.out.put_nowait((event.result.status, [event.result.result_id]))

    async def read(self, requests: AsyncIterator[WatchRequest]) -> None:
        """Handles requests until the caller stops sending; errors go to the output."""
        try:
            async for request in requests:
                await self.handle(request)
        except Exception as exc:  # handed to the stream, which raises it
            self.out.put_nowait(exc)

    async def close(self) -> None:
        for task in self._sessions.values():
            task.cancel()
        for task in self._sessions.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def watch(grid: Grid, requests: AsyncIterator[WatchRequest]) -> AsyncIterator[Update]:
    """Updates for the watched results until the caller goes away.

    The stream goes on after the caller has sent its last request (it still
    waits for watched statuses); a request naming an unknown result ends it
    with ``errors.NotFound``.
    """
    watcher = _Watcher(grid)
    reader = asyncio.create_task(watcher.read(requests))
    try:
        while True:
            item = await watcher.out.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await watcher.close()
