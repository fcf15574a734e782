"""A file handed to an object store that cannot take it by a rename.

The agent's output files are the stores' once uploaded (``ObjectStore.put_file``):
a store on the same filesystem renames them into place; Redis and S3 read them,
in one read when small (the common case of high-throughput grids: one
``put_bytes``, no chunk loop), in chunks otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from pyarmonik.storage import ports

CHUNK = 1 << 20


async def put_by_reading(store: ports.ObjectStore, key: str, path: Path) -> int:
    if path.stat().st_size <= CHUNK:
        return await store.put_bytes(key, path.read_bytes())
    return await store.put(key, read_chunks(path))


async def read_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
