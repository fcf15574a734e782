"""Small objects in a fast store, large ones in a big one.

Tiny payloads and results (the common case of high-throughput grids) then
cost one Redis round trip, not an S3 request; anything larger than
``threshold`` goes to S3. Reads try the small store first, so an object
always reads as the last write of its key, whichever tier holds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

from pyarmonik.core import errors
from pyarmonik.storage import ports


class SmallStore(ports.ObjectStore, Protocol):
    async def get_bytes(self, key: str) -> bytes | None: ...


class TieredObjectStore:
    def __init__(self, small: SmallStore, large: ports.ObjectStore, *, threshold: int) -> None:
        self._small, self._large, self._threshold = small, large, threshold

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        iterator = aiter(chunks)
        head = bytearray()
        async for chunk in iterator:
            head.extend(chunk)
            if len(head) > self._threshold:
                size = await self._large.put(key, _prefixed(bytes(head), iterator))
                await self._small.delete([key])  # the small tier would shadow the new data
                return size
        return await self._small.put_bytes(key, bytes(head))

    async def put_bytes(self, key: str, data: bytes) -> int:
        if len(data) <= self._threshold:
            return await self._small.put_bytes(key, data)
        size = await self._large.put_bytes(key, data)
        await self._small.delete([key])
        return size

    async def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        small = [(key, data) for key, data in items if len(data) <= self._threshold]
        large = [(key, data) for key, data in items if len(data) > self._threshold]
        await self._small.put_all(small)
        if large:
            await self._large.put_all(large)
            await self._small.delete([key for key, _ in large])

    async def put_file(self, key: str, path: Path) -> int:
        if path.stat().st_size <= self._threshold:
            return await self._small.put_file(key, path)
        size = await self._large.put_file(key, path)
        await self._small.delete([key])
        return size

    async def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise errors.InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
        data = await self._small.get_bytes(key)
        if data is None:
            async for chunk in self._large.get(key, chunk_size=chunk_size):
                yield chunk
            return
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def size(self, key: str) -> int | None:
        size = await self._small.size(key)
        return size if size is not None else await self._large.size(key)

    async def copy(self, source: str, target: str) -> int | None:
        """In the tier that holds ``source`` (the small one shadows the large)."""
        size = await self._small.copy(source, target)
        if size is not None:
            return size
        size = await self._large.copy(source, target)
        if size is not None:
            await self._small.delete([target])  # the small tier would shadow the copy
        return size

    async def delete(self, keys: Sequence[str]) -> None:
        await self._small.delete(keys)
        await self._large.delete(keys)


async def _prefixed(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk
