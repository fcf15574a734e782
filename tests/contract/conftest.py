"""Fixtures of the Redis adapters' tests: a state store, its agent's side
(``Dispatch``) and its queue upkeep (``TaskQueue``) on the test's emptied
database, their leases ruled by one ``FakeClock``, and a recorder of the
events the functions publish."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio

from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.redis_stores import RedisRecordingBus

from .queue_contract import FakeClock
from .state_contract import AT


@pytest.fixture
def clock() -> FakeClock:
    """The time of claims and leases (finishes take theirs as an argument)."""
    return FakeClock(AT)


@pytest.fixture
def store(redis_client: redis.asyncio.Redis) -> RedisStateStore:
    return RedisStateStore(redis_client)


@pytest.fixture
def dispatch(redis_client: redis.asyncio.Redis, clock: FakeClock) -> RedisDispatch:
    return RedisDispatch(redis_client, clock=clock)


@pytest.fixture
def queue(redis_client: redis.asyncio.Redis, clock: FakeClock) -> RedisTaskQueue:
    return RedisTaskQueue(redis_client, clock=clock)


@pytest.fixture
def recorded(redis_url: str) -> Iterator[RedisRecordingBus]:
    """Every event published on the test's Redis from now on."""
    bus = RedisRecordingBus(redis_url)
    try:
        yield bus
    finally:
        bus.close()
