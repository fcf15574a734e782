"""The operator's connections to its grids, with a fake ``connect``: nobody
waits beyond its budget, one connection per cluster, failures reported and
retried (the same on a real Redis: tests/integration/test_autoscaling_io.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pyarmonik.core import errors
from pyarmonik.core.models import Partition
from pyarmonik.operator import autoscaler, grids
from tests import helpers

CLUSTER = ("science", "grid")
URL = "redis://grid-redis.science.svc:6379/0"


class FakeState:
    def __init__(self) -> None:
        self.partitions: dict[str, Partition] = {}
        self.fail: BaseException | None = None

    async def put_partitions(self, partitions: list[Partition]) -> None:
        self._maybe_fail()
        self.partitions.update({p.partition_id: p for p in partitions})

    async def delete_partition(self, partition_id: str) -> bool:
        self._maybe_fail()
        return self.partitions.pop(partition_id, None) is not None

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise self.fail


class FakeQueue:
    async def depth(self, partition_id: str) -> int:
        return 5

    async def leased(self, partition_id: str) -> int:
        return 2


class Redis:
    """The grid's Redis as ``connect`` finds it: answering, refusing, or silent until released."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.refuse: str | None = None
        self.answer = asyncio.Event()
        self.answer.set()
        self.opened: list[str] = []
        self.closed = 0

    async def connect(self, url: str) -> grids.GridStorage:
        await self.answer.wait()
        if self.refuse:
            raise errors.Unavailable(f"cannot reach Redis at {url}: {self.refuse}")
        self.opened.append(url)
        return grids.GridStorage(state=self.state, queue=FakeQueue(), close=self._close)  # type: ignore[arg-type]

    async def _close(self) -> None:
        self.closed += 1


@pytest.fixture
def redis() -> Redis:
    return Redis()


def until(predicate: Callable[[], object]) -> object:
    return helpers.wait_for_async(predicate, timeout=5)


async def test_a_silent_redis_costs_each_caller_its_wait_and_the_attempt_goes_on(redis: Redis) -> None:
    redis.answer.clear()
    grid_storage = grids.Grids(redis.connect)
    try:
        for _ in range(3):
            with pytest.raises(
                errors.Unavailable, match="grid science/grid: connecting to its Redis \\(no answer yet\\)"
            ):
                await asyncio.wait_for(grid_storage.declare(CLUSTER, URL, Partition("cpu"), wait=0.05), timeout=2)
        redis.answer.set()
        await until(lambda: redis.opened)
        await grid_storage.declare(CLUSTER, URL, Partition("cpu"), wait=0)  # already connected: no wait
        assert list(redis.state.partitions) == ["cpu"] and redis.opened == [URL]  # one attempt, never a second
    finally:
        await grid_storage.aclose()


async def test_a_refusing_redis_is_reported_while_the_next_attempt_runs(redis: Redis) -> None:
    redis.refuse = "Connection refused"
    grid_storage = grids.Grids(redis.connect)
    try:
        with pytest.raises(errors.Unavailable, match=r"cannot reach Redis at .*: Connection refused"):
            await grid_storage.load(CLUSTER, URL, "cpu", wait=1)
        redis.answer.clear()  # the next attempt hangs: the last failure is what the caller learns
        with pytest.raises(errors.Unavailable, match="Connection refused"):
            await grid_storage.load(CLUSTER, URL, "cpu", wait=0.05)
        redis.refuse = None
        redis.answer.set()
        assert await grid_storage.load(CLUSTER, URL, "cpu", wait=1) == autoscaler.Load(queued=5, running=2)
    finally:
        await grid_storage.aclose()


async def test_one_connection_per_cluster_a_new_url_replaces_it_and_forget_closes_it(redis: Redis) -> None:
    grid_storage = grids.Grids(redis.connect)
    try:
        for _ in range(3):
            await grid_storage.load(CLUSTER, URL, "cpu", wait=1)
        assert redis.opened == [URL]
        await grid_storage.load(CLUSTER, URL + "1", "cpu", wait=1)
        assert redis.opened == [URL, URL + "1"]
        await until(lambda: redis.closed == 1)
        await grid_storage.forget(CLUSTER)
        await until(lambda: redis.closed == 2)
        assert CLUSTER not in grid_storage
    finally:
        await grid_storage.aclose()


async def test_a_failed_operation_drops_its_connection_for_a_new_one(redis: Redis) -> None:
    grid_storage = grids.Grids(redis.connect)
    try:
        await grid_storage.declare(CLUSTER, URL, Partition("cpu"), wait=1)
        redis.state.fail = ConnectionError("Connection reset by peer")
        with pytest.raises(errors.Unavailable, match="grid science/grid: Connection reset by peer"):
            await grid_storage.declare(CLUSTER, URL, Partition("cpu"), wait=1)
        redis.state.fail = None
        await grid_storage.declare(CLUSTER, URL, Partition("gpu"), wait=1)
        assert len(redis.opened) == 2
        await until(lambda: redis.closed == 1)
    finally:
        await grid_storage.aclose()


async def test_a_bug_is_not_taken_for_an_outage(redis: Redis) -> None:
    grid_storage = grids.Grids(redis.connect)
    try:
        redis.state.fail = KeyError("a bug")
        with pytest.raises(KeyError):
            await grid_storage.declare(CLUSTER, URL, Partition("cpu"), wait=1)
    finally:
        await grid_storage.aclose()


async def test_a_partition_deleted_while_its_grid_does_not_answer_is_forgotten_once_it_does(redis: Redis) -> None:
    redis.state.partitions = {"gone": Partition("gone"), "back": Partition("back")}
    grid_storage = grids.Grids(redis.connect)
    try:
        await grid_storage.load(CLUSTER, URL, "cpu", wait=1)
        redis.state.fail = ConnectionError("Redis is loading")
        for partition_id in ("gone", "back"):
            with pytest.raises(errors.Unavailable):
                await grid_storage.forget_partition(CLUSTER, URL, partition_id, wait=1)
        redis.state.fail = None
        await grid_storage.declare(CLUSTER, URL, Partition("back"), wait=1)  # made again meanwhile: it stays
        assert await grid_storage.retry_forgotten(CLUSTER, URL, wait=1) == ["gone"]
        assert set(redis.state.partitions) == {"back"}
        assert await grid_storage.retry_forgotten(CLUSTER, URL, wait=1) == []
    finally:
        await grid_storage.aclose()
