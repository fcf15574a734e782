"""A control plane declares its partitions without resetting existing ones."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio

from pyarmonik.core import filters
from pyarmonik.core.models import Partition
from pyarmonik.processes.control_plane_process import declare_partitions
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration


async def test_a_restarting_control_plane_keeps_the_fields_the_operator_wrote(
    tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await grid.state.put_partitions([Partition("default", pod_max=40, priority=3)])

    await declare_partitions(grid, ["default", "new"])

    page = await grid.state.list_partitions(query=filters.ListQuery())
    assert {p.partition_id: (p.pod_max, p.priority) for p in page.items} == {"default": (40, 3), "new": (1, 1)}
