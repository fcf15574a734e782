"""What a scrape reports of the stores: their counters and queue sizes, read
once per scrape on Redis, and left out when the store cannot be read."""

from __future__ import annotations

import pathlib

import pytest
import redis.asyncio

from pyarmonik import metrics as metrics_module
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.lifecycle import observed, processing, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis.state import RedisStateStore
from tests.helpers import scraped
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration


@pytest.fixture
async def grid(tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis) -> Grid:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await grid.state.put_partitions([Partition("default"), Partition("gpu")])
    return grid


async def test_a_scrape_reads_the_stores_counters_and_queue_sizes(grid: Grid) -> None:
    observed.report_store(grid)
    observed.report_store(grid)  # a second control plane on the same grid: still one read per scrape
    options = TaskOptions(max_duration=60.0, max_retries=1, priority=1, partition_id="gpu")
    session = await sessions.create(grid, options=options, partition_ids=["gpu"])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    new = [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[]) for _ in range(2)]
    await tasks.submit(grid, session.session_id, new)
    [claim] = await processing.claim(grid, "gpu", agent_id="agent", hostname="h", lease_seconds=60, timeout=0)
    assert claim.admission is ports.Admission.RUN
    samples = await scraped(grid.metrics)
    assert samples[("pyarmonik_queue_tasks", (("partition", "gpu"), ("state", "queued")))] == 1
    assert samples[("pyarmonik_queue_tasks", (("partition", "gpu"), ("state", "leased")))] == 1
    assert samples[("pyarmonik_queue_tasks", (("partition", "default"), ("state", "queued")))] == 0
    assert samples[("pyarmonik_grid_tasks", (("partition", "gpu"), ("status", "SUBMITTED")))] == 1
    assert samples[("pyarmonik_grid_tasks", (("partition", "gpu"), ("status", "PROCESSING")))] == 1
    assert samples[("pyarmonik_grid_tasks", (("partition", "default"), ("status", "COMPLETED")))] == 0


class BrokenStore(RedisStateStore):
    """A store whose counters cannot be read, as when Redis is down."""

    async def status_counts(self) -> ports.StatusCounts:
        raise ConnectionError("store down")


async def test_a_scrape_whose_store_is_down_leaves_the_store_gauges_out_and_counts_the_error(
    grid: Grid, redis_client: redis.asyncio.Redis
) -> None:
    broken = Grid(BrokenStore(redis_client), grid.queue, grid.objects, grid.events)
    observed.report_store(broken)
    broken.metrics.set_store(tasks={}, results={}, queues={"p": (5, 0)})  # what an earlier scrape said
    samples = await scraped(broken.metrics)
    assert samples[("pyarmonik_scrape_errors_total", ())] == 1
    assert not [key for key in samples if key[0] in ("pyarmonik_queue_tasks", "pyarmonik_grid_tasks")]
    assert samples[("pyarmonik_build_info", (("version", metrics_module.pyarmonik.__version__),))] == 1
