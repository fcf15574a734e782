"""Storage adapters chosen by settings, opened and checked once at start.

- a Redis URL, required: state, queues and events in Redis, shared by every
  process (``pyarmonik local`` starts a private redis-server for its own);
- an S3 endpoint: result data in S3, else files under ``data_dir/objects``;
  small result data (``small_object_bytes``) lives in Redis with its
  result's record instead: a tiny payload costs no round trip of its own.

An unreachable server is reported in one line naming its endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from pyarmonik.core import errors
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.settings import StorageSettings, env_of, flag_of
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.objects.s3 import S3Config, S3ObjectStore
from pyarmonik.storage.redis import connection, library
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore

log = logging.getLogger(__name__)

#: Seconds a Redis may take to answer before the wait is announced.
_REDIS_PATIENCE = 1.0


def check_data_dir(data_dir: Path) -> None:
    """Creates ``data_dir`` when missing; ``ValueError`` in one line naming
    the setting when it is not a folder this process may write."""
    where = f"{flag_of('data_dir')} {data_dir} (env {env_of(StorageSettings, 'data_dir')})"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"{where}: a file, not a folder") from None
    except OSError as exc:
        raise ValueError(f"{where}: cannot create the folder: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise ValueError(f"{where}: the folder is not writable")


@contextlib.asynccontextmanager
async def open_grid(settings: StorageSettings, *, default_partition: str = "default") -> AsyncIterator[Grid]:
    if not settings.redis_url:
        raise ValueError("no Redis URL: give --redis-url (env PYARMONIK_REDIS_URL)")
    async with contextlib.AsyncExitStack() as stack:
        client = await _connect_redis(settings)
        stack.push_async_callback(client.aclose)
        try:
            await library.Library.of(client).load()
        except errors.Unavailable as exc:
            raise errors.Unavailable(f"Redis at {connection.redacted(settings.redis_url)}: {exc.message}") from None
        bus = RedisEventBus(client)
        stack.push_async_callback(bus.close)
        state, queue, dispatch = RedisStateStore(client), RedisTaskQueue(client), RedisDispatch(client)
        log.info("state, queues and events in Redis at %s", connection.redacted(settings.redis_url))
        objects = await _open_objects(settings, stack)
        yield Grid(
            state=state,
            queue=queue,
            objects=objects,
            events=bus,
            default_partition=default_partition,
            data_chunk_max_size=settings.data_chunk_max_size,
            dispatch=dispatch,
            # Small result data lives in Redis with its result's record: it
            # travels with the state's steps instead of a round trip each.
            inline_limit=settings.small_object_bytes,
        )


async def _connect_redis(settings: StorageSettings) -> connection.Redis:
    """The checked client; a Redis that does not answer at once is retried
    for a while (a restart is waited out), which the user is told of
    rather than left to watch silence."""
    assert settings.redis_url
    connecting = asyncio.ensure_future(connection.connect_redis(settings.redis_url, ca_file=settings.redis_ca_file))
    try:
        done, _ = await asyncio.wait({connecting}, timeout=_REDIS_PATIENCE)
        if not done:
            log.warning("waiting for Redis at %s: no answer yet, still trying", connection.redacted(settings.redis_url))
        return await connecting
    finally:
        connecting.cancel()


async def _open_objects(settings: StorageSettings, stack: contextlib.AsyncExitStack) -> ports.ObjectStore:
    if not settings.s3_endpoint:
        check_data_dir(settings.data_dir)
        return FileSystemObjectStore(settings.data_dir / "objects")
    s3 = await S3ObjectStore.connect(
        S3Config(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    )
    stack.callback(s3.close)
    log.info("result data in S3 at %s, bucket %s", settings.s3_endpoint, settings.s3_bucket)
    return s3
