"""The object store contract on Redis alone, and on the tiered store (small
objects in Redis, large ones in S3), against real servers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from pyarmonik.storage.objects.tiered import TieredObjectStore
from pyarmonik.storage.redis.objects import RedisObjectStore

from pyarmonik.storage.objects.s3 import S3Config, S3ObjectStore

from .objects_contract import ObjectStoreContract, read

pytestmark = pytest.mark.integration
THRESHOLD = 4096


class TestRedisObjectStore(ObjectStoreContract):
    @pytest.fixture
    def object_store(self, redis_client: redis.asyncio.Redis) -> RedisObjectStore:
        return RedisObjectStore(redis_client)


class TestTieredObjectStore(ObjectStoreContract):
    @pytest.fixture
    async def large(self, s3_server: S3Config) -> AsyncIterator[S3ObjectStore]:
        store = await S3ObjectStore.connect(dataclasses.replace(s3_server, bucket=f"tiered-{uuid.uuid4().hex[:12]}"))
        yield store
        store.close()

    @pytest.fixture
    def object_store(self, redis_client: redis.asyncio.Redis, large: S3ObjectStore) -> TieredObjectStore:
        return TieredObjectStore(RedisObjectStore(redis_client), large, threshold=THRESHOLD)

    async def test_small_objects_stay_out_of_s3_and_large_ones_out_of_redis(
        self, object_store: TieredObjectStore, large: S3ObjectStore, redis_client: redis.asyncio.Redis
    ) -> None:
        await object_store.put_bytes("small", b"x" * THRESHOLD)
        await object_store.put_bytes("large", b"y" * (THRESHOLD + 1))
        assert await large.size("small") is None
        assert await large.size("large") == THRESHOLD + 1
        assert await RedisObjectStore(redis_client).size("large") is None

    async def test_a_large_overwrite_of_a_small_object_is_what_reads_back(
        self, object_store: TieredObjectStore
    ) -> None:
        await object_store.put_bytes("key", b"small")
        await object_store.put_bytes("key", b"L" * (THRESHOLD * 2))
        assert await read(object_store, "key") == b"L" * (THRESHOLD * 2)
        assert await object_store.size("key") == THRESHOLD * 2

    async def test_an_imported_s3_object_is_found_through_the_tiers(
        self, object_store: TieredObjectStore, large: S3ObjectStore
    ) -> None:
        await large.put_bytes("imports/data.bin", b"tiny but in s3")
        assert await object_store.size("imports/data.bin") == len(b"tiny but in s3")
        assert await read(object_store, "imports/data.bin") == b"tiny but in s3"
