"""The grids' state and queues as the operator reaches them: one connection per ArmoniKCluster.

The operator writes each ArmoniKPartition into its grid's state store (the
control plane lists and checks partitions there) and reads each autoscaled
partition's queue. It does so through the storage ports
(``StateStore.put_partitions``/``delete_partition``,
``TaskQueue.depth``/``leased``), on storage that ``connect`` opens: the
wiring (:mod:`pyarmonik.processes.operator_process`) gives the Redis
adapters, and nothing here knows Redis.

What :class:`Grids` keeps true:

- one connection per cluster, by ``(namespace, name)``, kept between
  reconciles and ticks; a cluster whose URL changes is reconnected, and
  :meth:`Grids.forget` closes a deleted cluster's;
- nobody waits on a grid longer than its own budget: a connection is opened
  by a background task that outlives the call which started it, so a
  reconcile asks with ``wait`` (a second or two) and, when the grid's Redis
  is starting, gone or silent, gets ``errors.Unavailable`` at once while the
  attempt goes on for the next call; each operation is bounded too;
- a failed operation drops its connection (closed in the background), so
  the next call connects again instead of reusing a broken one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pyarmonik.core import errors
from pyarmonik.core.models import Partition
from pyarmonik.operator import autoscaler
from pyarmonik.storage import ports

log = logging.getLogger(__name__)

T = TypeVar("T")
ClusterKey = tuple[str, str]

#: A connection attempt gives up after this (a Redis that accepts and never answers).
CONNECT_SECONDS = 30.0
#: One operation on a connected grid (a Redis restarting makes the client retry for longer).
OPERATION_SECONDS = 3.0


@dataclasses.dataclass(frozen=True)
class GridStorage:
    """The ports of one grid, and how to close them."""

    state: ports.StateStore
    queue: ports.TaskQueue
    close: Callable[[], Awaitable[None]]


Connect = Callable[[str], Awaitable[GridStorage]]
"""Opens a grid's storage from its Redis URL; raises ``errors.Unavailable``."""


@dataclasses.dataclass
class _Link:
    url: str
    storage: GridStorage | None = None
    attempt: asyncio.Task[GridStorage] | None = None
    #: Why the last attempt failed, reported while the next one runs.
    failure: str | None = None
    #: Partitions deleted while the grid did not answer: still to remove from it.
    forgotten: set[str] = dataclasses.field(default_factory=set)


class Grids:
    def __init__(
        self,
        connect: Connect,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        operation_seconds: float = OPERATION_SECONDS,
    ) -> None:
        self._connect = connect
        self._connect_seconds = connect_seconds
        self._operation_seconds = operation_seconds
        self._links: dict[ClusterKey, _Link] = {}
        self._closing: set[asyncio.Task[None]] = set()

    # -- what the operator does with a grid -----------------------------------------
    async def declare(self, cluster: ClusterKey, url: str, partition: Partition, *, wait: float) -> None:
        """Writes the partition (its fields) into the grid's state store."""

        async def put(storage: GridStorage) -> None:
            await storage.state.put_partitions([partition])

        (await self._link(cluster, url)).forgotten.discard(partition.partition_id)
        await self._run(cluster, url, put, wait=wait)

    async def forget_partition(self, cluster: ClusterKey, url: str, partition_id: str, *, wait: float) -> bool:
        """Removes the partition from the grid's state store (submissions to it
        are refused). When the grid does not answer, it is remembered and
        removed by :meth:`retry_forgotten`, unless declared again meanwhile."""

        async def delete(storage: GridStorage) -> bool:
            return await storage.state.delete_partition(partition_id)

        try:
            return await self._run(cluster, url, delete, wait=wait)
        except errors.Unavailable:
            (await self._link(cluster, url)).forgotten.add(partition_id)
            raise

    async def retry_forgotten(self, cluster: ClusterKey, url: str, *, wait: float) -> list[str]:
        """Removes the partitions whose removal failed; returns those removed now."""
        link = self._links.get(cluster)
        done: list[str] = []
        for partition_id in sorted(link.forgotten if link is not None and link.url == url else ()):
            await self.forget_partition(cluster, url, partition_id, wait=wait)
            link.forgotten.discard(partition_id)  # type: ignore[union-attr]
            done.append(partition_id)
        return done

    async def load(self, cluster: ClusterKey, url: str, partition_id: str, *, wait: float) -> autoscaler.Load:
        """The partition's load: its runnable queued tasks, then its running (leased) ones.

        Read one after the other, queued first: a task taken in between is
        counted twice (one pod too many, for one tick), never zero times."""

        async def read(storage: GridStorage) -> autoscaler.Load:
            queued = await storage.queue.depth(partition_id)
            running = await storage.queue.leased(partition_id)
            return autoscaler.Load(queued=queued, running=running)

        return await self._run(cluster, url, read, wait=wait)

    # -- connections ------------------------------------------------------------------
    async def forget(self, cluster: ClusterKey) -> None:
        """Closes the connection of a cluster that is gone."""
        link = self._links.pop(cluster, None)
        if link is not None:
            await self._drop(link)

    async def aclose(self) -> None:
        for cluster in list(self._links):
            await self.forget(cluster)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def __contains__(self, cluster: object) -> bool:
        return cluster in self._links

    async def _run(
        self, cluster: ClusterKey, url: str, operation: Callable[[GridStorage], Awaitable[T]], *, wait: float
    ) -> T:
        link = await self._link(cluster, url)
        try:
            storage = await self._connected(link, wait)
        except errors.Unavailable as exc:
            raise errors.Unavailable(f"grid {_named(cluster)}: {exc.message}") from None
        try:
            return await asyncio.wait_for(operation(storage), self._operation_seconds)
        except Exception as exc:
            if not isinstance(exc, errors.Unavailable | TimeoutError) and not errors.is_transient(exc):
                raise
            if link.storage is storage:
                link.storage = None
                self._close_later(storage)
            raise errors.Unavailable(f"grid {_named(cluster)}: {_reason(exc)}") from None

    async def _link(self, cluster: ClusterKey, url: str) -> _Link:
        link = self._links.get(cluster)
        if link is not None and link.url != url:
            await self.forget(cluster)
            link = None
        if link is None:
            link = self._links[cluster] = _Link(url)
        return link

    async def _connected(self, link: _Link, wait: float) -> GridStorage:
        if link.storage is not None:
            return link.storage
        attempt = link.attempt
        if attempt is not None and attempt.done():
            if not attempt.cancelled() and attempt.exception() is None:
                link.storage, link.attempt, link.failure = attempt.result(), None, None
                return link.storage
            link.failure, attempt = _reason(attempt.exception() or asyncio.CancelledError()), None
        if attempt is None:
            attempt = link.attempt = asyncio.create_task(self._open(link.url))
            attempt.add_done_callback(_retrieve)
        try:
            storage = await asyncio.wait_for(asyncio.shield(attempt), wait)
        except TimeoutError:
            # The attempt goes on: a later call finds it done.
            raise errors.Unavailable(link.failure or "connecting to its Redis (no answer yet)") from None
        except errors.Unavailable as exc:
            link.failure = exc.message
            raise
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if attempt.cancelled() and not (current and current.cancelling()):
                raise errors.Unavailable("its connection was closed") from None
            raise
        if link.attempt is not attempt:  # forgotten meanwhile
            self._close_later(storage)
            raise errors.Unavailable("its connection was closed")
        link.storage, link.attempt, link.failure = storage, None, None
        return storage

    async def _open(self, url: str) -> GridStorage:
        try:
            return await asyncio.wait_for(self._connect(url), self._connect_seconds)
        except TimeoutError:
            raise errors.Unavailable(f"no answer within {self._connect_seconds:.0f} s") from None

    async def _drop(self, link: _Link) -> None:
        if link.attempt is not None and not link.attempt.done():
            link.attempt.cancel()
            await asyncio.gather(link.attempt, return_exceptions=True)
        elif (
            link.attempt is not None
            and link.attempt.done()
            and not link.attempt.cancelled()
            and link.attempt.exception() is None
        ):
            self._close_later(link.attempt.result())
        if link.storage is not None:
            self._close_later(link.storage)
        link.storage = link.attempt = None

    def _close_later(self, storage: GridStorage) -> None:
        task = asyncio.create_task(_close(storage))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _retrieve(task: asyncio.Task[GridStorage]) -> None:
    """Marks a failed attempt's error as seen: the next call reports it."""
    if not task.cancelled():
        task.exception()


async def _close(storage: GridStorage) -> None:
    try:
        await asyncio.wait_for(storage.close(), OPERATION_SECONDS)
    except Exception as exc:
        log.debug("closing a grid connection: %s", exc)


def _named(cluster: ClusterKey) -> str:
    return f"{cluster[0]}/{cluster[1]}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, errors.PyArmoniKError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"no answer within {OPERATION_SECONDS:.0f} s"
    return str(exc) or type(exc).__name__
