"""The grid's levels, read from its store each time ``/metrics`` is scraped.

Cheap whatever the grid holds: the store answers from the counters its
transitions keep (``StateStore.status_counts``) and the queue from its
sizes, so a scrape reads no task and no result; the load of each fairness
key walks the queued sessions' lists (their lengths), not their tasks. A store that cannot be read
does not fail the scrape: the store's gauges are left out of it, counted in
``pyarmonik_scrape_errors_total``, and the process's own metrics still go out.
"""

from __future__ import annotations

import logging

from pyarmonik.core import errors, filters
from pyarmonik.lifecycle.grid import Grid

log = logging.getLogger(__name__)

#: Partitions are declared by hand or by the operator: a few, never thousands.
_PARTITIONS = filters.ListQuery(page_size=10_000)


def report_store(grid: Grid) -> None:
    """Has every scrape of ``grid.metrics`` read the store first (once per
    grid, however many control planes serve it)."""
    grid.metrics.on_scrape(lambda: refresh(grid), name="store")


async def refresh(grid: Grid) -> None:
    try:
        counts = await grid.state.status_counts()
        declared = (await grid.state.list_partitions(query=_PARTITIONS)).items
        partitions = sorted({p.partition_id for p in declared} | {partition for partition, _ in counts.tasks})
        queues = {p: (await grid.queue.depth(p), await grid.queue.leased(p)) for p in partitions}
        shares = {p.partition_id: (p.fair_share, await grid.queue.key_loads(p.partition_id)) for p in declared}
    except Exception as exc:  # a scrape answers whatever the store does
        grid.metrics.store_unreadable()
        if errors.is_transient(exc):
            log.warning("metrics: storage unavailable (%s); the store's gauges are left out of this scrape", exc)
        else:
            log.exception("metrics: reading the store failed; the store's gauges are left out of this scrape")
        return
    grid.metrics.set_store(tasks=counts.tasks, results=counts.results, queues=queues)
    grid.metrics.set_fair_share(shares)
