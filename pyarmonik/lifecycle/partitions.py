"""Partitions: read-only for clients (the operator or the launcher declares them)."""

from __future__ import annotations

from pyarmonik.core import errors, filters
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle.grid import Grid


async def get(grid: Grid, partition_id: str) -> Partition:
    if not partition_id:
        raise errors.InvalidArgument("partition id is required")
    return await grid.state.get_partition(partition_id)


async def list_partitions(grid: Grid, query: filters.ListQuery) -> filters.Page[Partition]:
    return await grid.state.list_partitions(query=query)
