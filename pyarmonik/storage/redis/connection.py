"""Connecting to Redis: one checked client per process, whose pooled
connections survive a Redis restart, and URLs fit for logs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from pyarmonik.core import errors

#: The client type, for modules that hold one without importing redis.
Redis = redis.asyncio.Redis


def redacted(url: str) -> str:
    """The URL without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


async def connect_redis(url: str) -> redis.asyncio.Redis:
    """A checked client. Pooled connections broken by a Redis restart are
    retried transparently (with backoff), so one restart is not an error for
    every connection of every pool."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5)
    try:
        client = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=retry,
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )
        await client.ping()
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        raise errors.Unavailable(f"cannot reach Redis at {redacted(url)}: {exc}") from None
    return client
