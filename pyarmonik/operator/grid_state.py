"""ArmoniKPartitions as the partitions the grid serves.

The control plane lists and checks partitions in the grid's state store, so
the operator writes each partition there (and forgets it when its resource is
deleted): ``ListPartitions`` shows it with its fields at once, a new one is
usable without restarting anything, and submission to a deleted one is
refused. Redis being unreachable is a ``kopf.TemporaryError``: the handler is
retried, nothing is half-written (one HSET / HDEL).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import kopf

from pyarmonik.core import errors
from pyarmonik.core.models import Partition
from pyarmonik.storage.redis import connection
from pyarmonik.storage.redis.state import RedisStateStore

RETRY_SECONDS = 5.0


@contextlib.asynccontextmanager
async def _state(redis_url: str) -> AsyncIterator[RedisStateStore]:
    try:
        client = await connection.connect_redis(redis_url)
    except errors.Unavailable as exc:
        raise kopf.TemporaryError(exc.message, delay=RETRY_SECONDS) from None
    try:
        yield RedisStateStore(client)
    except errors.TRANSIENT as exc:
        raise kopf.TemporaryError(f"Redis at {connection.redacted(redis_url)}: {exc}", delay=RETRY_SECONDS) from None
    finally:
        await client.aclose()


async def declare(redis_url: str, partition: Partition) -> None:
    async with _state(redis_url) as state:
        await state.put_partitions([partition])


async def forget(redis_url: str, partition_id: str) -> bool:
    async with _state(redis_url) as state:
        return await state.delete_partition(partition_id)
