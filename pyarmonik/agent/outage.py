"""A storage outage as one loop of the agent lives it.

The agent waits storage out instead of failing (a task it held comes back
through its lease if it could not write the outcome). An operator reading
the log then needs to know both edges: each failed try is a warning, and
the first success after them says, once, that storage is back and what the
agent does now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Outage:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = None

    def failed(self, what: str, error: BaseException) -> None:
        """``what`` failed with a transient ``error``; the caller retries."""
        if self._since is None:
            self._since = self._clock()
        log.warning("%s: storage unavailable (%s); retrying", what, error)

    def down_for(self) -> float | None:
        """Seconds since storage stopped answering; ``None`` while it answers."""
        return None if self._since is None else self._clock() - self._since

    def reached(self, resumed: str) -> None:
        """Storage answered; if it was down, says so with what ``resumed``."""
        if self._since is not None:
            seconds = self._clock() - self._since
            self._since = None
            log.info("storage reachable again after %.1f s; %s", seconds, resumed)
