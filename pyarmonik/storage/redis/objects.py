"""Result data in Redis: the home of small objects (see ``objects.tiered``).

A tiny payload or result then costs one Redis round trip instead of an S3
request. Any size works (up to Redis' 512 MB string limit), but large data
belongs in S3: the tiered store only sends objects under its threshold here.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

from redis.asyncio import Redis

from pyarmonik.core import errors
from pyarmonik.storage.objects import files
from pyarmonik.storage.redis import keys


class RedisObjectStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        data = bytearray()
        async for chunk in chunks:  # a failing stream leaves nothing written
            data.extend(chunk)
        return await self.put_bytes(key, bytes(data))

    async def put_bytes(self, key: str, data: bytes) -> int:
        await self._redis.set(keys.object_key(key), data)
        return len(data)

    async def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        if items:
            await self._redis.mset({keys.object_key(key): data for key, data in items})

    async def put_file(self, key: str, path: Path) -> int:
        return await files.put_by_reading(self, key, path)

    async def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise errors.InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
        data = await self.get_bytes(key)
        if data is None:
            raise errors.NotFound(f"object not found: {key}")
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def get_bytes(self, key: str) -> bytes | None:
        data = await self._redis.get(keys.object_key(key))
        return data.encode() if isinstance(data, str) else data

    async def size(self, key: str) -> int | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.object_key(key))
            pipe.strlen(keys.object_key(key))
            exists, length = await pipe.execute()
        return int(length) if exists else None

    async def copy(self, source: str, target: str) -> int | None:
        """Redis' COPY (6.2+), inside the server."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.copy(keys.object_key(source), keys.object_key(target), replace=True)
            pipe.strlen(keys.object_key(target))
            copied, length = await pipe.execute()
        return int(length) if copied else None

    async def delete(self, keys_: Sequence[str]) -> None:
        if keys_:
            await self._redis.delete(*(keys.object_key(k) for k in keys_))
