"""A control plane declares its partitions without resetting existing ones."""

from __future__ import annotations

from pyarmonik.core import filters
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.processes.control_plane_process import declare_partitions
from pyarmonik.storage.memory.events import MemoryEventBus
from pyarmonik.storage.memory.queue import MemoryTaskQueue
from pyarmonik.storage.memory.state import MemoryStateStore
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore


async def test_a_restarting_control_plane_keeps_the_fields_the_operator_wrote(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bus = MemoryEventBus()
    grid = Grid(MemoryStateStore(bus), MemoryTaskQueue(), FileSystemObjectStore(tmp_path), bus)
    await grid.state.put_partitions([Partition("default", pod_max=40, priority=3)])

    await declare_partitions(grid, ["default", "new"])

    page = await grid.state.list_partitions(query=filters.ListQuery())
    assert {p.partition_id: (p.pod_max, p.priority) for p in page.items} == {"default": (40, 3), "new": (1, 1)}
