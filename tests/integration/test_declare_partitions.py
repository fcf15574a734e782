"""A control plane declares its partitions without resetting existing ones."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio

from pyarmonik.core import fairshare, filters
from pyarmonik.core.models import Partition
from pyarmonik.processes.control_plane_process import declare_partitions
from pyarmonik.settings import ControlPlaneSettings
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import keys
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


async def test_a_control_plane_writes_the_fair_share_of_its_settings_and_keeps_the_operator_s_otherwise(
    tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    operator_s = fairshare.fair_share(key="user", caps={"alice": 4})
    await grid.state.put_partitions([Partition("default", pod_max=40, fair_share=operator_s)])

    await declare_partitions(grid, ["default", "new"])
    assert (await grid.state.get_partition("default")).fair_share == operator_s
    assert (await grid.state.get_partition("new")).fair_share == fairshare.DEFAULT
    assert await redis_client.exists(keys.FAIR("new")) == 0  # the default is no hash at all

    given = ControlPlaneSettings(fair_share_mode="fifo").fair_share()
    await declare_partitions(grid, ["default", "new"], given)
    for partition_id in ("default", "new"):
        partition = await grid.state.get_partition(partition_id)
        assert partition.fair_share == fairshare.FairShare(mode="fifo")
    assert (await grid.state.get_partition("default")).pod_max == 40
