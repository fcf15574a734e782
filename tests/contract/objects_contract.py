"""Contract of ``ObjectStore``: every adapter passes these tests.

An adapter's test module subclasses ``ObjectStoreContract`` and defines an
``object_store`` fixture returning an empty store.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from pyarmonik.core import errors
from pyarmonik.storage.ports import ObjectStore

WAIT = 10.0  # bound on every store call (the large object included)


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


async def failing_stream(*chunks: bytes) -> AsyncIterator[bytes]:
    async for chunk in stream(*chunks):
        yield chunk
    raise ConnectionError("upload interrupted")


async def read_chunks(store: ObjectStore, key: str, chunk_size: int) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [chunk async for chunk in store.get(key, chunk_size=chunk_size)]

    return await asyncio.wait_for(collect(), WAIT)


async def read(store: ObjectStore, key: str, chunk_size: int = 64 * 1024) -> bytes:
    return b"".join(await read_chunks(store, key, chunk_size))


async def assert_key_rejected_everywhere(store: ObjectStore, key: str) -> None:
    """Every call of the store refuses ``key`` with INVALID_ARGUMENT."""
    with pytest.raises(errors.InvalidArgument, match="invalid object key"):
        await store.put(key, stream(b"x"))
    with pytest.raises(errors.InvalidArgument):
        await store.put_bytes(key, b"x")
    with pytest.raises(errors.InvalidArgument):
        await read(store, key)
    with pytest.raises(errors.InvalidArgument):
        await store.size(key)
    with pytest.raises(errors.InvalidArgument):
        await store.delete([key])
    with pytest.raises(errors.InvalidArgument):
        await store.copy(key, "copy")
    await store.put_bytes("source", b"x")
    with pytest.raises(errors.InvalidArgument):
        await store.copy("source", key)


class ObjectStoreContract:
    async def test_many_objects_are_stored_in_one_call_each_readable_and_sized(self, object_store: ObjectStore) -> None:
        items = [(f"many-{index}", os.urandom(index * 100)) for index in range(20)]
        await asyncio.wait_for(object_store.put_all(items), WAIT)
        await asyncio.wait_for(object_store.put_all([]), WAIT)
        for key, data in items:
            assert await read(object_store, key) == data
            assert await object_store.size(key) == len(data)

    @pytest.mark.parametrize("size", [0, 8, 3 * 1024 * 1024 + 5])
    async def test_a_file_is_stored_whole_and_its_size_returned(
        self, object_store: ObjectStore, tmp_path_factory: pytest.TempPathFactory, size: int
    ) -> None:
        data = os.urandom(size)
        path = tmp_path_factory.mktemp("upload") / "output"
        path.write_bytes(data)
        assert await asyncio.wait_for(object_store.put_file("from-a-file", path), WAIT) == size
        assert await read(object_store, "from-a-file") == data
        assert await object_store.size("from-a-file") == size

    async def test_streamed_chunks_are_read_back_exactly_in_chunks_no_larger_than_asked(
        self, object_store: ObjectStore
    ) -> None:
        data = os.urandom(1000)
        size = await object_store.put("k", stream(data[:10], data[10:500], b"", data[500:]))
        assert size == 1000
        chunks = await read_chunks(object_store, "k", chunk_size=64)
        assert b"".join(chunks) == data
        assert all(0 < len(chunk) <= 64 for chunk in chunks)

    async def test_put_bytes_returns_the_size_and_the_data_reads_back(self, object_store: ObjectStore) -> None:
        assert await object_store.put_bytes("k", b"hello world") == 11
        assert await read(object_store, "k", chunk_size=4) == b"hello world"
        assert await object_store.size("k") == 11

    async def test_an_empty_object_is_stored_and_reads_back_as_no_bytes(self, object_store: ObjectStore) -> None:
        assert await object_store.put("streamed", stream()) == 0
        assert await object_store.put_bytes("direct", b"") == 0
        for key in ("streamed", "direct"):
            assert await object_store.size(key) == 0
            assert await read(object_store, key) == b""

    async def test_size_is_none_for_a_missing_key(self, object_store: ObjectStore) -> None:
        assert await object_store.size("missing") is None

    async def test_getting_a_missing_key_raises_not_found_naming_it(self, object_store: ObjectStore) -> None:
        with pytest.raises(errors.NotFound, match="missing-key"):
            await read(object_store, "missing-key")

    async def test_deleted_objects_are_gone_and_missing_keys_are_ignored(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("a", b"1")
        await object_store.put_bytes("b", b"2")
        await object_store.delete(["a", "never-stored", "b"])
        await object_store.delete(["a"])
        await object_store.delete([])
        assert await object_store.size("a") is None
        assert await object_store.size("b") is None
        with pytest.raises(errors.NotFound):
            await read(object_store, "a")

    async def test_deleting_one_object_leaves_the_others(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("a", b"1")
        await object_store.put_bytes("b", b"2")
        await object_store.delete(["a"])
        assert await read(object_store, "b") == b"2"

    async def test_a_copy_reads_as_its_source_and_outlives_it(self, object_store: ObjectStore) -> None:
        for key, data in (("small", b"tiny"), ("large", os.urandom(64 * 1024)), ("empty", b"")):
            await object_store.put_bytes(key, data)
            assert await object_store.copy(key, f"copies/{key}") == len(data)
            await object_store.delete([key])
            assert await read(object_store, f"copies/{key}") == data
            assert await object_store.size(f"copies/{key}") == len(data)

    async def test_deleting_a_copy_leaves_its_source(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("source", b"kept")
        await object_store.copy("source", "copy")
        await object_store.delete(["copy"])
        assert await read(object_store, "source") == b"kept"
        assert await object_store.size("copy") is None

    async def test_overwriting_a_copy_leaves_its_source(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("source", b"original")
        await object_store.copy("source", "copy")
        await object_store.put("copy", stream(b"new"))
        assert await read(object_store, "source") == b"original"

    async def test_copying_a_missing_object_is_none_and_writes_nothing(self, object_store: ObjectStore) -> None:
        assert await object_store.copy("missing", "copy") is None
        assert await object_store.size("copy") is None

    async def test_overwriting_replaces_the_whole_object(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("k", b"a much longer first version")
        assert await object_store.put("k", stream(b"short")) == 5
        assert await read(object_store, "k") == b"short"
        assert await object_store.size("k") == 5

    async def test_a_5_mib_object_roundtrips(self, object_store: ObjectStore) -> None:
        data = os.urandom(5 * 1024 * 1024)
        pieces = [data[i : i + 100_000] for i in range(0, len(data), 100_000)]
        assert await asyncio.wait_for(object_store.put("streamed", stream(*pieces)), WAIT) == len(data)
        assert await asyncio.wait_for(object_store.put_bytes("direct", data), WAIT) == len(data)
        for key in ("streamed", "direct"):
            assert await object_store.size(key) == len(data)
            chunks = await read_chunks(object_store, key, chunk_size=1024 * 1024)
            assert all(len(chunk) <= 1024 * 1024 for chunk in chunks)
            assert b"".join(chunks) == data

    async def test_keys_with_slashes_are_stored_independently(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("session/a/result-1", b"one")
        await object_store.put("session/a/result-2", stream(b"two"))
        await object_store.put_bytes("session/b/result-1", b"three")
        assert await read(object_store, "session/a/result-1") == b"one"
        assert await read(object_store, "session/a/result-2") == b"two"
        assert await read(object_store, "session/b/result-1") == b"three"
        await object_store.delete(["session/a/result-1"])
        assert await object_store.size("session/a/result-1") is None
        assert await object_store.size("session/a/result-2") == 3

    async def test_a_failed_streamed_put_leaves_no_object(self, object_store: ObjectStore) -> None:
        with pytest.raises(ConnectionError):
            await object_store.put("k", failing_stream(b"partial", b"data"))
        assert await object_store.size("k") is None
        with pytest.raises(errors.NotFound):
            await read(object_store, "k")

    async def test_a_failed_streamed_overwrite_keeps_the_previous_object(self, object_store: ObjectStore) -> None:
        await object_store.put_bytes("k", b"previous")
        with pytest.raises(ConnectionError):
            await object_store.put("k", failing_stream(b"partial"))
        assert await read(object_store, "k") == b"previous"
