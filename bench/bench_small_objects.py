"""Does the small-object fast path help? put + get of N tiny objects
(8 bytes, like ArmoniK's benchmark data) on S3 (SeaweedFS) alone, and on
the tiered store (Redis under the threshold, S3 above), both real servers
on this machine.

    python bench/bench_small_objects.py [--objects 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
import time

import redis.asyncio

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from pyarmonik.storage.objects.tiered import TieredObjectStore
from pyarmonik.storage.redis.objects import RedisObjectStore

from pyarmonik.storage import ports
from pyarmonik.storage.objects.s3 import S3Config, S3ObjectStore
from tests import servers


async def measure(label: str, store: ports.ObjectStore, count: int) -> None:
    started = time.perf_counter()
    for i in range(count):
        await store.put_bytes(f"{label}/{i}", b"8 bytes!")
    put = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(count):
        async for _ in store.get(f"{label}/{i}", chunk_size=1 << 20):
            pass
    get = time.perf_counter() - started
    print(f"{label:<8} put {count / put:7.0f} objects/s   get {count / get:7.0f} objects/s")


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as root:
        redis_server = servers.start_redis(pathlib.Path(root) / "redis")
        seaweedfs = servers.start_seaweedfs(pathlib.Path(root) / "s3")
        try:
            config = S3Config(seaweedfs.endpoint, seaweedfs.access_key, seaweedfs.secret_key, bucket="bench")
            s3 = await S3ObjectStore.connect(config)
            client = redis.asyncio.Redis.from_url(redis_server.url)
            await measure("s3", s3, count)
            await measure("tiered", TieredObjectStore(RedisObjectStore(client), s3, threshold=4096), count)
            await client.aclose()
            s3.close()
        finally:
            servers.stop_seaweedfs(seaweedfs)
            servers.stop_redis(redis_server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    asyncio.run(main(parser.parse_args().objects))
