"""A partition's load as its grid's queue holds it: the autoscaler's input.

Read through the ``TaskQueue`` port (``depth``: queued; ``leased``: running),
the same numbers the agents and the control plane see. The operator serves
many grids; :class:`GridQueues` keeps one client per grid Redis between
ticks instead of connecting every 15 s for every partition.

The two counts are read one after the other, queued first: a task taken in
between is counted twice (one pod too many, for one tick), never zero times.
"""

from __future__ import annotations

import asyncio

from pyarmonik.operator import autoscaler
from pyarmonik.storage import ports
from pyarmonik.storage.redis import connection
from pyarmonik.storage.redis.queue import RedisTaskQueue


async def read_load(queue: ports.TaskQueue, partition_id: str) -> autoscaler.Load:
    queued = await queue.depth(partition_id)
    running = await queue.leased(partition_id)
    return autoscaler.Load(queued=queued, running=running)


class GridQueues:
    """The task queue of each grid, by Redis URL, connected on first use.

    ``load`` raises ``errors.Unavailable`` (cannot connect) or one of
    ``errors.TRANSIENT`` (connection lost); the next call tries again.
    """

    def __init__(self) -> None:
        self._grids: dict[str, tuple[connection.Redis, RedisTaskQueue]] = {}
        self._lock = asyncio.Lock()

    async def queue(self, redis_url: str) -> ports.TaskQueue:
        async with self._lock:
            if redis_url not in self._grids:
                client = await connection.connect_redis(redis_url)
                self._grids[redis_url] = (client, RedisTaskQueue(client))
            return self._grids[redis_url][1]

    async def load(self, redis_url: str, partition_id: str) -> autoscaler.Load:
        return await read_load(await self.queue(redis_url), partition_id)

    async def forget(self, redis_url: str) -> None:
        """Closes the client of a grid that is gone (or whose URL changed)."""
        async with self._lock:
            grid = self._grids.pop(redis_url, None)
        if grid is not None:
            await grid[0].aclose()

    async def aclose(self) -> None:
        async with self._lock:
            grids, self._grids = list(self._grids.values()), {}
        for client, _ in grids:
            await client.aclose()
