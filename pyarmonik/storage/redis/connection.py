"""Connecting to Redis: one checked client per process, whose pooled
connections survive a Redis restart, and URLs fit for logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
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


def tls_options(url: str, ca_file: Path | None) -> dict[str, Any]:
    """Client options for TLS: a ``rediss://`` URL is TLS (verified against
    the system's CAs, or those of ``ca_file``); a CA file with any other
    URL is a mistake, refused rather than ignored."""
    if ca_file is None:
        return {}
    if urlsplit(url).scheme != "rediss":
        raise ValueError(f"a Redis CA file ({ca_file}) needs a rediss:// URL, not {redacted(url)}")
    if not ca_file.is_file():
        raise ValueError(f"the Redis CA file {ca_file} does not exist")
    return {"ssl_ca_certs": str(ca_file)}


#: Retries of a command whose connection broke or that Redis refused while
#: loading: 0.1 s doubling up to 1 s, 11.5 s in all, so that a restart
#: (down, then loading its AOF) is waited out rather than an error.
RETRIES = 14
RETRY_BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)
#: Seconds a reply may take before its connection is deemed broken (and the
#: command sent again, see ``RETRIES``). Longer than any wait the adapters
#: block Redis for: a claim waits for a push up to the agent's
#: ``pop_timeout`` (10 s). redis-py >= 8 cuts reads at 5 s by default, which
#: made an idle agent's wait time out and be sent again until the retries
#: ran out, then reported as a storage outage (and after a real outage, the
#: agent never said that storage was back while it stayed idle).
SOCKET_TIMEOUT = 30.0
#: Connections one process may open (lazily, as concurrent commands need
#: them). redis-py's asyncio pool stops at 100 and fails the next command
#: "Too many connections", which the adapters take for a storage outage: a
#: control plane serving more than 100 calls at once answered UNAVAILABLE,
#: and 250 agents in one process (bench.cluster) each holding a wait and a
#: lease renewal lost commits, their tasks waiting for their leases to
#: expire. A URL's own ``max_connections`` wins.
MAX_CONNECTIONS = 10_000


async def connect_redis(url: str, *, ca_file: Path | None = None) -> redis.asyncio.Redis:
    """A checked client. Commands broken by a Redis restart are sent again
    (with backoff; ``RETRIES``), so a restart of a few seconds is not an
    error for every call in flight. The scripts are written to be sent
    again (``scripts.replayable``)."""
    retry = Retry(RETRY_BACKOFF, retries=RETRIES)
    options = tls_options(url, ca_file)
    try:
        client = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=5,
            socket_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            max_connections=MAX_CONNECTIONS,
            retry=retry,
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
            **options,
        )
        await client.ping()
    except (redis.exceptions.RedisError, OSError, ValueError) as exc:
        raise errors.Unavailable(f"cannot reach Redis at {redacted(url)}: {exc}") from None
    return client
