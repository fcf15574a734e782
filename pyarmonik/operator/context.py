"""What every handler of the operator shares: its hands on the API server and
the grids, the autoscaler's memory, and one lock per custom resource.

The lock is what makes a reconcile of a resource the only one running for
it, whoever started it (a kopf change handler, the resync loop): two at
once would each decide alone, e.g. each generate the credentials of a new
cluster's MinIO. Locks are kept only while someone holds or awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from collections.abc import AsyncIterator

import aiohttp

from pyarmonik.operator import autoscaler, grids, kube, model


class ObjectLocks:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str, str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, kind: str, namespace: str, name: str) -> AsyncIterator[None]:
        key = (kind, namespace, name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


@dataclasses.dataclass
class Context:
    kube: kube.Kube
    grids: grids.Grids
    #: The image of a cluster whose spec names none (the operator's settings).
    image: model.ImageDefaults = dataclasses.field(default_factory=model.ImageDefaults)
    scaler: autoscaler.PartitionScaler = dataclasses.field(default_factory=autoscaler.PartitionScaler)
    locks: ObjectLocks = dataclasses.field(default_factory=ObjectLocks)
    #: For the agents' probe endpoints (which pods are busy); ``None``: not asked.
    http: aiohttp.ClientSession | None = None
