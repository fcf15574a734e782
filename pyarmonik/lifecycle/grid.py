"""The ports a grid runs on, wired once and handed to every use case."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyarmonik.core.limits import Limits
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
    #: Objects of at most this many bytes travel with the state's steps (the
    #: object store keeps them beside the state): a claim returns such inputs'
    #: data, a commit stores such outputs itself (``Completion.data``), a
    #: download reads one with its record; 0: never.
    inline_limit: int = 0

    def dispatcher(self) -> ports.Dispatch:
        if self.dispatch is None:
            raise RuntimeError("this grid was built without the agent's dispatch scripts (Grid.dispatch)")
        return self.dispatch
