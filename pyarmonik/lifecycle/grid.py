"""The ports a grid runs on, wired once and handed to every use case."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyarmonik.core.limits import Limits
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.metrics import Metrics
from pyarmonik.storage import ports

DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024


@dataclass
class Grid:
    state: ports.StateStore
    queue: ports.TaskQueue
    objects: ports.ObjectStore
    events: ports.EventBus
    default_partition: str = "default"
    data_chunk_max_size: int = DEFAULT_CHUNK_SIZE
    #: The client API's limits; none unless the control plane sets them.
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = field(default=time.time)
    #: What every service of this grid counts, served on its /metrics.
    metrics: Metrics = field(default_factory=Metrics)
    #: The agent's combined steps (claim, finish: one Redis script each, the
    #: one implementation of admission and outcomes); ``None`` on a grid no
    #: agent runs on (a control plane's, a test's).
    dispatch: ports.Dispatch | None = None

    def dispatcher(self) -> ports.Dispatch:
        if self.dispatch is None:
            raise RuntimeError("this grid was built without the agent's dispatch scripts (Grid.dispatch)")
        return self.dispatch

    async def enqueue(self, tasks: Sequence[Task]) -> None:
        """Pushes the tasks a transition made ready, one push per partition."""
        by_partition: dict[str, list[ports.QueuedTask]] = defaultdict(list)
        for task in tasks:
            if task.status is TaskStatus.SUBMITTED:
                by_partition[task.options.partition_id].append(
                    ports.QueuedTask(task.task_id, task.session_id, task.options.priority)
                )
        for partition_id, items in by_partition.items():
            await self.queue.push(partition_id, items)
