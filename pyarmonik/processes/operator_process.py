"""``pyarmonik operator``, with its optional dependencies checked first, and
the grids' storage it reaches: the Redis adapters of the storage ports."""

from __future__ import annotations

import asyncio
from typing import Any

from pyarmonik.settings import OperatorSettings
from pyarmonik.storage.redis import connection
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore


async def run_operator(settings: OperatorSettings, stop: asyncio.Event) -> None:
    try:
        from pyarmonik.operator import main
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"the operator needs {exc.name}: pip install 'pyarmonik[operator]'") from None
    await main.run_operator(settings, stop, connect=connect_grid)


async def connect_grid(url: str) -> Any:
    """A grid's state store and task queue on one Redis client
    (``pyarmonik.operator.grids.GridStorage``); ``errors.Unavailable`` when
    Redis does not answer."""
    from pyarmonik.operator import grids

    client = await connection.connect_redis(url)
    return grids.GridStorage(state=RedisStateStore(client), queue=RedisTaskQueue(client), close=client.aclose)
